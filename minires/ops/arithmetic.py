"""Arithmetic: + - * / ** @ and negation. Every binary op broadcasts.

a, b: any shapes that broadcast together; y: the broadcast shape.
Each backward sums its gradient back to its input's shape with `unbroadcast`.
"""

from __future__ import annotations

from .. import backend
from .function import Array, Function, unbroadcast


class Add(Function):
    """y = a + b"""

    linear = True

    def forward(self, a: Array, b: Array) -> Array:
        self.a_shape, self.b_shape = a.shape, b.shape
        return a + b

    def backward(self, gy: Array):
        # ga = gy, gb = gy
        return unbroadcast(gy, self.a_shape), unbroadcast(gy, self.b_shape)


class Sub(Function):
    """y = a - b"""

    linear = True

    def forward(self, a: Array, b: Array) -> Array:
        self.a_shape, self.b_shape = a.shape, b.shape
        return a - b

    def backward(self, gy: Array):
        # ga = gy, gb = -gy
        return unbroadcast(gy, self.a_shape), unbroadcast(-gy, self.b_shape)


class Mul(Function):
    """y = a * b"""

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        return a * b

    def backward(self, gy: Array):
        # ga = gy * b, gb = gy * a
        return unbroadcast(gy * self.b, self.a.shape), unbroadcast(gy * self.a, self.b.shape)

    def backward_recorded(self, gy, saved):
        # the same, on Tensors (create_graph): saved(self.a) is the input a, with its grad_fn
        a, b = saved(self.a), saved(self.b)
        return unbroadcast(gy * b, a.shape), unbroadcast(gy * a, b.shape)


class Div(Function):
    """y = a / b"""

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        return a / b

    def backward(self, gy: Array):
        # ga = gy / b, gb = -gy * a / b^2
        ga = gy / self.b
        gb = -ga * self.a / self.b
        return unbroadcast(ga, self.a.shape), unbroadcast(gb, self.b.shape)

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors (create_graph): ga = gy / b, gb = -ga * a / b
        a, b = saved(self.a), saved(self.b)
        ga = gy / b
        gb = -ga * a / b
        return unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)


class Neg(Function):
    """y = -x"""

    linear = True

    def forward(self, x: Array) -> Array:
        return -x

    def backward(self, gy: Array):
        # gx = -gy
        return -gy


class PowScalar(Function):
    """y = x ** p for a constant Python number p."""

    def name(self) -> str:
        return "PowBackward0"  # PyTorch's name for pow(Tensor, Scalar)

    def __init__(self, p: float):
        self.p = p

    def forward(self, x: Array) -> Array:
        self.x = x
        return x**self.p

    def backward(self, gy: Array):
        # gx = gy * p * x^(p-1)
        return gy * self.p * self.x ** (self.p - 1)

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors: gx = gy * p * x^(p-1)
        return gy * self.p * saved(self.x) ** (self.p - 1)


class Pow(Function):
    """y = a ** b for two tensors (a > 0 wherever b needs a gradient)."""

    def name(self) -> str:
        return "PowBackward1"  # PyTorch's name for pow(Tensor, Tensor)

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        self.y = a**b
        return self.y

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        # ga = gy * b * a^(b-1), gb = gy * a^b * log(a)
        ga = gy * self.b * self.a ** (self.b - 1) if self.needs_input_grad[0] else None
        gb = gy * self.y * xp.log(self.a) if self.needs_input_grad[1] else None
        return (
            None if ga is None else unbroadcast(ga, self.a.shape),
            None if gb is None else unbroadcast(gb, self.b.shape),
        )

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors: ga = gy * b * a^(b-1), gb = gy * y * log(a)  (y: the output)
        a, b, y = saved(self.a), saved(self.b), saved(self.y)
        ga = gy * b * a ** (b - 1) if self.needs_input_grad[0] else None
        gb = gy * y * a.log() if self.needs_input_grad[1] else None
        return (
            None if ga is None else unbroadcast(ga, a.shape),
            None if gb is None else unbroadcast(gb, b.shape),
        )


class MatMul(Function):
    """Batched matrix product y = a @ b.

    a: (..., n, k)   b: (..., k, m)   y: (..., n, m); the batch dims (...) broadcast.
    (1-D operands are handled in `Tensor.__matmul__` by reshaping to 2-D.)
    """

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        # ga = gy @ b^T, gb = a^T @ gy  (transposing the last two axes)
        ga = gy @ xp.swapaxes(self.b, -1, -2) if self.needs_input_grad[0] else None
        gb = xp.swapaxes(self.a, -1, -2) @ gy if self.needs_input_grad[1] else None
        return (
            None if ga is None else unbroadcast(ga, self.a.shape),
            None if gb is None else unbroadcast(gb, self.b.shape),
        )

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors: ga = gy @ b^T, gb = a^T @ gy
        a, b = saved(self.a), saved(self.b)
        ga = gy @ b.transpose(-1, -2) if self.needs_input_grad[0] else None
        gb = a.transpose(-1, -2) @ gy if self.needs_input_grad[1] else None
        return (
            None if ga is None else unbroadcast(ga, a.shape),
            None if gb is None else unbroadcast(gb, b.shape),
        )


class Cast(Function):
    """y = x converted to another floating dtype."""

    linear = True

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x: Array) -> Array:
        self.x_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy: Array):
        # gx = gy, converted back to x's dtype
        return gy.astype(self.x_dtype)
