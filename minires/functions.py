"""The top-level functions of the torch namespace: mr.max(x, 1), mr.flatten(x, 1), mr.cat(...).

Most are the method of the same name (see minires/tensor.py for what it computes and
how its gradient flows); only the argument forms that torch accepts at the top level are
added here, e.g. torch.max(a, b), the elementwise maximum of two tensors. The functions of
several tensors (cat, stack, where, maximum, pad) are at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import ops
from .autograd.engine import apply
from .tensor import Tensor, _one_axis, _operands


def max(input: Tensor, dim: Any = None, keepdim: bool = False):
    """mr.max(x) -> 0-d tensor;  mr.max(x, dim) -> (values, indices);  mr.max(a, b) -> maximum."""
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    return input.max(dim, keepdim)


def min(input: Tensor, dim: Any = None, keepdim: bool = False):
    """mr.min(x) -> 0-d tensor;  mr.min(x, dim) -> (values, indices);  mr.min(a, b) -> minimum."""
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    return input.min(dim, keepdim)


def amax(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return input.amax(dim, keepdim)


def amin(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return input.amin(dim, keepdim)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return input.argmax(dim, keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return input.argmin(dim, keepdim)


def sum(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return input.sum(dim, keepdim)


def mean(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return input.mean(dim, keepdim)


def std(input: Tensor, dim: Any = None, keepdim: bool = False, correction: int = 1) -> Tensor:
    return input.std(dim, keepdim, correction)


def var(input: Tensor, dim: Any = None, keepdim: bool = False, correction: int = 1) -> Tensor:
    return input.var(dim, keepdim, correction)


def norm(input: Tensor, p: float | str = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
    return input.norm(p, dim, keepdim)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    return input.sort(dim, descending, stable)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    return input.topk(k, dim, largest, sorted)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return input.flatten(start_dim, end_dim)


def reshape(input: Tensor, shape) -> Tensor:
    return input.reshape(shape)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return input.transpose(dim0, dim1)


def permute(input: Tensor, dims) -> Tensor:
    return input.permute(dims)


def squeeze(input: Tensor, dim: int | None = None) -> Tensor:
    return input.squeeze(dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    return input.unsqueeze(dim)


def t(input: Tensor) -> Tensor:
    return input.t()


def clone(input: Tensor) -> Tensor:
    return input.clone()


def exp(input: Tensor) -> Tensor:
    return input.exp()


def log(input: Tensor) -> Tensor:
    return input.log()


def sqrt(input: Tensor) -> Tensor:
    return input.sqrt()


def abs(input: Tensor) -> Tensor:
    return input.abs()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def relu(input: Tensor) -> Tensor:
    return input.relu()


def pow(input: Tensor, exponent) -> Tensor:
    return input.pow(exponent)


def clamp(input: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    return input.clamp(min, max)


clip = clamp


def softmax(input: Tensor, dim: int) -> Tensor:
    return input.softmax(dim)


def log_softmax(input: Tensor, dim: int) -> Tensor:
    return input.log_softmax(dim)


def eq(input: Tensor, other) -> Tensor:
    return input.eq(other)


def ne(input: Tensor, other) -> Tensor:
    return input.ne(other)


def lt(input: Tensor, other) -> Tensor:
    return input.lt(other)


def le(input: Tensor, other) -> Tensor:
    return input.le(other)


def gt(input: Tensor, other) -> Tensor:
    return input.gt(other)


def ge(input: Tensor, other) -> Tensor:
    return input.ge(other)


def numel(input: Tensor) -> int:
    return input.numel()


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


# ---------------------------------------------------------------------- functions of several tensors


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with numpy's rules (Tensor.matmul); either operand may be an array."""
    a, b = _operands(a, b)
    return a.matmul(b)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing axis: shapes must agree except along dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: needs at least one tensor")
    ndim = tensors[0].ndim
    dim = _one_axis(dim, ndim, "cat")  # (this module's max is torch.max, not Python's)
    for i, t in enumerate(tensors):
        if t.ndim != ndim or t.shape[:dim] + t.shape[dim + 1 :] != tensors[0].shape[:dim] + tensors[0].shape[dim + 1 :]:
            raise ValueError(
                f"cat: tensor {i} has shape {t.shape}, which does not match tensor 0's {tensors[0].shape} "
                f"outside dim {dim}"
            )
    return apply(ops.Concatenate(dim), *tensors)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis: k tensors of (A, B) -> (k, A, B) for dim=0."""
    tensors = list(tensors)
    if tensors and any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack: all tensors need one shape, got {[t.shape for t in tensors]}")
    return cat([t.unsqueeze(dim) for t in tensors], dim)


def where(condition: Tensor, a: Any, b: Any) -> Tensor:
    """a where condition is True, else b (all three broadcast)."""
    a, b = _operands(a, b)
    cond = condition if isinstance(condition, Tensor) else Tensor(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {cond.dtype}")
    return apply(ops.Where(), cond, a, b)


def maximum(a: Any, b: Any) -> Tensor:
    a, b = _operands(a, b)
    return a.maximum(b)


def minimum(a: Any, b: Any) -> Tensor:
    a, b = _operands(a, b)
    return a.minimum(b)


def pad(x: Tensor, pad_width: Sequence[tuple[int, int]], value: float = 0.0) -> Tensor:
    """Pad with a constant: pad_width holds one (before, after) pair per axis of x."""
    pad_width = tuple((int(p[0]), int(p[1])) for p in pad_width)
    if len(pad_width) != x.ndim:
        raise ValueError(f"pad: need one (before, after) pair per axis, got {len(pad_width)} pairs for shape {x.shape}")
    return apply(ops.Pad(pad_width, value), x)
