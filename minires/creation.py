"""Making tensors: tensor, zeros, ones, full, randn, rand, arange and the *_like forms.

Floating-point factories default to float32 (training); pass dtype=np.float64
(or "float64") wherever you need double precision, e.g. for gradcheck.
Random tensors are drawn from the generator that `mr.manual_seed` seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import backend
from .random import default_generator
from .tensor import DEFAULT_DTYPE, Tensor, _shape_arg


def _place(data: np.ndarray, device: str, requires_grad: bool) -> Tensor:
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda":
        data = backend.cupy_module().asarray(data)
    return Tensor(data, requires_grad=requires_grad)


def tensor(data: Any, dtype: Any = None, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of data (a number, nested lists, or an array).

    Python floats become float32, Python ints int64; an array keeps its dtype.

    >>> tensor([[1.0, 2.0]]).shape, tensor([1.0]).dtype, tensor([1]).dtype
    ((1, 2), dtype('float32'), dtype('int64'))
    """
    if isinstance(data, Tensor):
        data = data.numpy()
    if dtype is None and not hasattr(data, "dtype"):
        array = np.array(data)
        dtype = DEFAULT_DTYPE if array.dtype.kind == "f" else array.dtype
    if backend.is_cupy_array(data):
        data = data.get()
    return _place(np.array(data, dtype=dtype), device, requires_grad)


def full(shape, fill_value: float, dtype: Any = DEFAULT_DTYPE, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    return _place(np.full(_shape_arg((shape,)), fill_value, dtype=dtype), device, requires_grad)


def zeros(*shape, dtype: Any = DEFAULT_DTYPE, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    return full(_shape_arg(shape), 0, dtype, device, requires_grad)


def ones(*shape, dtype: Any = DEFAULT_DTYPE, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    return full(_shape_arg(shape), 1, dtype, device, requires_grad)


def randn(*shape, dtype: Any = DEFAULT_DTYPE, device: str = "cpu", requires_grad: bool = False,
          generator: np.random.Generator | None = None) -> Tensor:
    """Standard normal samples, N(0, 1)."""
    rng = generator or default_generator()
    return _place(rng.standard_normal(_shape_arg(shape)).astype(dtype), device, requires_grad)


def rand(*shape, dtype: Any = DEFAULT_DTYPE, device: str = "cpu", requires_grad: bool = False,
         generator: np.random.Generator | None = None) -> Tensor:
    """Uniform samples in [0, 1)."""
    rng = generator or default_generator()
    return _place(rng.random(_shape_arg(shape)).astype(dtype), device, requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: str = "cpu", requires_grad: bool = False) -> Tensor:
    """start, start + step, ... up to (not including) end; arange(n) is 0..n-1 (int64)."""
    if end is None:
        start, end = 0, start
    array = np.arange(start, end, step)
    if dtype is None:
        dtype = DEFAULT_DTYPE if array.dtype.kind == "f" else np.int64
    return _place(array.astype(dtype), device, requires_grad)


def zeros_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(x.shape, dtype=dtype or x.dtype, device=x.device, requires_grad=requires_grad)


def ones_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(x.shape, dtype=dtype or x.dtype, device=x.device, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=x.device, requires_grad=requires_grad)


def randn_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return randn(x.shape, dtype=dtype or x.dtype, device=x.device, requires_grad=requires_grad)


def rand_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return rand(x.shape, dtype=dtype or x.dtype, device=x.device, requires_grad=requires_grad)
