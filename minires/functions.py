"""The top-level forms of Tensor methods, as PyTorch has them: mr.max(x, 1), mr.flatten(x, 1).

Each one is the method of the same name (see minires/tensor.py for what it computes and
how its gradient flows); only the argument forms that torch accepts at the top level are
added here, e.g. torch.max(a, b), the elementwise maximum of two tensors.
"""

from __future__ import annotations

from typing import Any

from .tensor import Tensor, maximum, minimum


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
