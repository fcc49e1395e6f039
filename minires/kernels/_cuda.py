"""CUDA C kernels for the `_cupy` implementations, compiled lazily.

Each kernel family keeps its CUDA C source as a string written for an element type
`T`; `raw_kernel` prepends `typedef float T;` (or double) and compiles it with cupy
the first time that (kernel, dtype) pair is used. So `import minires` never imports
cupy, and the CPU path never compiles anything.

Launch geometry, the same for every kernel in minires: one thread per output
element, THREADS_PER_BLOCK threads per block, and enough blocks to cover them all:

    blocks = ceil(total / THREADS_PER_BLOCK)     # = blocks_for(total)
    kernel((blocks,), (THREADS_PER_BLOCK,), (x, y, *int_args(N, C, ...)))
    # launch(source, name, dtype, total, x, y, *int_args(N, C, ...)) does all of that

Inside a kernel, thread `index = blockIdx.x * blockDim.x + threadIdx.x` computes
output element `index` (and returns at once when index >= total, in the last block).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import numpy as np

THREADS_PER_BLOCK = 256

_CUDA_TYPES = {"float32": "float", "float64": "double"}


def cupy() -> ModuleType:
    """The cupy module, imported on first use (only a `_cupy` kernel calls this)."""
    import cupy

    return cupy


def cuda_type(dtype: Any) -> str:
    """The CUDA C name of a float dtype: float32 -> 'float', float64 -> 'double'."""
    name = np.dtype(dtype).name
    if name not in _CUDA_TYPES:
        raise TypeError(f"minires CUDA kernels: dtype must be float32 or float64, got {name}")
    return _CUDA_TYPES[name]


@functools.cache
def _compile(source: str, name: str, ctype: str):
    return cupy().RawKernel(f"typedef {ctype} T;\n{source}", name)


def raw_kernel(source: str, name: str, dtype: Any):
    """The cupy.RawKernel `name` from `source`, with T = the C type of `dtype`.

    Compiled once per (source, name, dtype) in this process (cupy also caches the
    binary on disk, so the next process skips the compiler)."""
    return _compile(source, name, cuda_type(dtype))


@functools.cache
def elementwise(in_params: str, out_params: str, operation: str, name: str):
    """A cupy.ElementwiseKernel, created once; cupy compiles it per dtype on first call."""
    return cupy().ElementwiseKernel(in_params, out_params, operation, name)


def launch(source: str, name: str, dtype: Any, total: int, *args) -> None:
    """Run kernel `name` of `source` (T = the C type of dtype) with one thread per each of
    `total` items: blocks_for(total) blocks of THREADS_PER_BLOCK threads, args as given."""
    raw_kernel(source, name, dtype)((blocks_for(total),), (THREADS_PER_BLOCK,), args)


def blocks_for(total: int) -> int:
    """How many blocks of THREADS_PER_BLOCK threads cover `total` elements (ceil division)."""
    return (total + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK


def int_args(*values: int) -> tuple:
    """Sizes for a kernel's `int` parameters: cupy passes a numpy int32 as a C int."""
    return tuple(np.int32(v) for v in values)
