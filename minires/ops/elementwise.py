"""Elementwise functions: y[i] = f(x[i]), so gx[i] = gy[i] * f'(x[i]).

x, y, gy, gx all have the same shape. Kinks follow PyTorch: relu'(0) = 0,
abs'(0) = 0, clip passes the gradient at its bounds, maximum splits a tie
evenly between its two inputs.
"""

from __future__ import annotations

from .. import backend
from ..kernels import elementwise as elementwise_kernels
from .function import Array, Function, unbroadcast


class Exp(Function):
    """y = e^x"""

    def forward(self, x: Array) -> Array:
        self.y = backend.array_module(x).exp(x)
        return self.y

    def backward(self, gy: Array):
        # gx = gy * e^x = gy * y
        return gy * self.y

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors (create_graph): gx = gy * y, y the output
        return gy * saved(self.y)


class Log(Function):
    """y = ln x"""

    def forward(self, x: Array) -> Array:
        self.x = x
        return backend.array_module(x).log(x)

    def backward(self, gy: Array):
        # gx = gy / x
        return gy / self.x

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors: gx = gy / x
        return gy / saved(self.x)


class Sqrt(Function):
    """y = sqrt(x)"""

    def forward(self, x: Array) -> Array:
        self.y = backend.array_module(x).sqrt(x)
        return self.y

    def backward(self, gy: Array):
        # gx = gy / (2 sqrt(x)) = gy / (2 y)
        return gy / (2 * self.y)

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors: gx = gy / (2 y)
        return gy / (2 * saved(self.y))


class Tanh(Function):
    """y = tanh x"""

    def forward(self, x: Array) -> Array:
        self.y = backend.array_module(x).tanh(x)
        return self.y

    def backward(self, gy: Array):
        # gx = gy * (1 - tanh^2 x) = gy * (1 - y^2)
        return gy * (1 - self.y * self.y)

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors: gx = gy * (1 - y^2)
        y = saved(self.y)
        return gy * (1 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2, which never overflows."""

    def forward(self, x: Array) -> Array:
        self.y = 0.5 * (1 + backend.array_module(x).tanh(0.5 * x))
        return self.y

    def backward(self, gy: Array):
        # gx = gy * sigmoid(x) * (1 - sigmoid(x)) = gy * y * (1 - y)
        return gy * self.y * (1 - self.y)

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors: gx = gy * y * (1 - y)
        y = saved(self.y)
        return gy * y * (1 - y)


class Relu(Function):
    """y = max(x, 0), through the relu kernels (kernels/elementwise.py)."""

    def forward(self, x: Array) -> Array:
        # keep y, not x (as PyTorch): y > 0 exactly where x > 0, so x itself can be freed
        # (or overwritten by relu_)
        self.y = elementwise_kernels.relu_forward(x)
        return self.y

    def backward(self, gy: Array):
        # gx = gy where x > 0 (i.e. y > 0), else 0 (also at x = 0, as in PyTorch)
        return elementwise_kernels.relu_backward(self.y, gy)

    def backward_recorded(self, gy, saved):
        # the same on Tensors: gy times the mask "not y <= 0", a constant (the kernel's test: NaN passes)
        return gy * ~(self.y <= 0)


class ResidualAdd(Function):
    """y = a + b for two tensors of one shape: a residual block's join, through the add kernel."""

    linear = True

    def forward(self, a: Array, b: Array) -> Array:
        return elementwise_kernels.add_forward(a, b)

    def backward(self, gy: Array):
        # ga = gy, gb = gy: the identity path hands the gradient through unchanged
        return gy, gy


class Abs(Function):
    """y = |x|"""

    def forward(self, x: Array) -> Array:
        self.x = x
        return abs(x)

    def backward(self, gy: Array):
        # gx = gy * sign(x)  (sign(0) = 0)
        return gy * backend.array_module(gy).sign(self.x)

    def backward_recorded(self, gy, saved):
        # the same on Tensors: gy * sign(x), sign(x) a constant
        return gy * backend.array_module(self.x).sign(self.x)


class Clip(Function):
    """y = min(max(x, low), high); low or high may be None (no bound)."""

    def __init__(self, low: float | None, high: float | None):
        self.low, self.high = low, high

    def forward(self, x: Array) -> Array:
        self.x = x
        return backend.array_module(x).clip(x, self.low, self.high)

    def backward(self, gy: Array):
        # gx = gy where low <= x <= high, else 0
        inside = backend.array_module(gy).ones(self.x.shape, dtype=bool)
        if self.low is not None:
            inside &= self.x >= self.low
        if self.high is not None:
            inside &= self.x <= self.high
        return gy * inside

    def backward_recorded(self, gy, saved):
        # the same on Tensors: gy times the constant mask low <= x <= high (a missing bound: +-inf)
        xp = backend.array_module(self.x)
        low, high = -xp.inf if self.low is None else self.low, xp.inf if self.high is None else self.high
        return gy * ((self.x >= low) & (self.x <= high))


class Maximum(Function):
    """y = max(a, b) elementwise, with broadcasting."""

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        return backend.array_module(a).maximum(a, b)

    def backward(self, gy: Array):
        # ga = gy where a > b, gb = gy where b > a; a tie gives each half
        xp = backend.array_module(gy)
        ga = xp.where(self.a > self.b, gy, xp.where(self.a == self.b, 0.5 * gy, 0))
        gb = gy - ga
        return unbroadcast(ga, self.a.shape), unbroadcast(gb, self.b.shape)

    def backward_recorded(self, gy, saved):
        # the same on Tensors: ga = gy times a's share, a constant (1 where a > b, 1/2 at a tie, else 0)
        share = ((self.a > self.b) + 0.5 * (self.a == self.b)).astype(gy.dtype)
        ga = gy * share
        return unbroadcast(ga, self.a.shape), unbroadcast(gy - ga, self.b.shape)


class Where(Function):
    """y = a where condition else b.   condition: bool array; all three broadcast."""

    def forward(self, condition: Array, a: Array, b: Array) -> Array:
        self.condition, self.a_shape, self.b_shape = condition, a.shape, b.shape
        return backend.array_module(a).where(condition, a, b)

    def backward(self, gy: Array):
        # ga = gy where condition, gb = gy elsewhere; the condition gets no gradient
        ga = gy * self.condition
        return None, unbroadcast(ga, self.a_shape), unbroadcast(gy - ga, self.b_shape)

    def backward_recorded(self, gy, saved):
        # the same on Tensors: the condition is a constant mask
        ga = gy * self.condition
        return None, unbroadcast(ga, self.a_shape), unbroadcast(gy - ga, self.b_shape)


# ---------------------------------------------------------------- activations added for torch.nn's layers


class LeakyRelu(Function):
    """y = x for x > 0, negative_slope * x otherwise (at 0 the slope side, as torch)."""

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def forward(self, x: Array) -> Array:
        self.positive = x > 0
        return backend.array_module(x).where(self.positive, x, self.negative_slope * x)

    def backward(self, gy: Array):
        # gx = gy where x > 0, negative_slope * gy elsewhere
        return backend.array_module(gy).where(self.positive, gy, self.negative_slope * gy)

    def backward_recorded(self, gy, saved):
        # the same on Tensors: gy times the constant slope, 1 where x > 0, negative_slope elsewhere
        slope = backend.array_module(self.positive).where(self.positive, 1.0, self.negative_slope)
        return gy * slope.astype(gy.dtype)
