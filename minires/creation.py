"""Making tensors: tensor, zeros, ones, full, randn, rand, arange and the *_like forms.

Floating-point factories default to float32 (training); pass dtype=np.float64
(or "float64") wherever you need double precision, e.g. for gradcheck.
Random tensors are drawn from the generator that `mr.manual_seed` seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import backend
from .device import DEVICE_PATTERN
from .random import default_generator
from .tensor import DEFAULT_DTYPE, Tensor, _shape_arg


def _place(data: np.ndarray, device: str, requires_grad: bool) -> Tensor:
    """data on device: 'cpu', 'cuda', 'cuda:N' or an mr.device."""
    match = DEVICE_PATTERN.fullmatch(device) if isinstance(device, str) else None
    if match is None:
        raise ValueError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'), got {device!r}")
    if device.startswith("cuda"):
        cupy = backend.cupy_module()
        with cupy.cuda.Device(None if match.group(1) is None else int(match.group(1))):
            data = cupy.asarray(data)
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


# ---------------------------------------------------------------------- sharing an existing array


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor on the CPU that shares array's memory (no copy), as torch.from_numpy:
    writing into one writes into the other. The dtype stays the array's."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy: minires tensors hold bool, integer or floating dtypes, got {array.dtype}")
    return Tensor(array)


def as_tensor(data: Any, dtype: Any = None, device: str | None = None) -> Tensor:
    """data as a tensor, sharing memory when it can (as torch.as_tensor): a Tensor or an
    array that already has the dtype and device asked for is used as it is; anything else
    (lists, another dtype, another device) is copied, as tensor() would."""
    if isinstance(data, Tensor):
        out = data if dtype is None else data.to(dtype)
        return out if device is None else out.to(device)
    if isinstance(data, np.ndarray) or backend.is_cupy_array(data):
        same_dtype = dtype is None or np.dtype(dtype) == data.dtype
        same_device = device is None or str(device).split(":")[0] == backend.device_of(data)
        if same_dtype and same_device:
            return Tensor(data)
    return tensor(data, dtype=dtype, device="cpu" if device is None else device)
