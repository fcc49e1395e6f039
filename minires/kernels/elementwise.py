"""Elementwise kernels of a ResNet: ReLU forward/backward and the residual add.

Every implementation of a kernel takes and returns the same arrays:
  relu_forward_<impl>(x) -> y                y = max(x, 0), and NaN stays NaN
  relu_backward_<impl>(x, gy) -> gx          gx = 0 where x <= 0 (also at 0), else gy
  add_forward_<impl>(a, b) -> y              y = a + b, same shapes (the residual join)
x, y, gy, gx, a, b: one shape, any layout; outputs are C-contiguous and of the input's dtype.

NaN and inf behave as in PyTorch: relu(nan) = nan, and the backward is its threshold_backward,
gx = 0 where x <= 0 else gy, so a NaN input passes its gradient on, and an infinite gy where
x <= 0 gives 0 (not inf * 0 = NaN). That is why every version tests `x <= 0`: NaN is not <= 0.

The Numba loops run over the flattened arrays, one iteration per element, so iteration i
writes only element i: no races, so the workers may take any ranges of it (kernels/_chunks.py, run_loops).
Run with NUMBA_DISABLE_JIT=1 to step through them in pdb.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from . import _chunks, _cuda
from ._jit import serial_jit

# ---------------------------------------------------------------- the kernels the ops call


def relu_forward(x):
    """y = max(x, 0), in the implementation for x's array type."""
    return backend.choose(x, relu_forward_reference, relu_forward_numba, relu_forward_cupy)(x)


def relu_backward(x, gy):
    """gx = 0 where x <= 0, else gy."""
    return backend.choose(gy, relu_backward_reference, relu_backward_numba, relu_backward_cupy)(x, gy)


def add_forward(a, b):
    """y = a + b, same shapes."""
    return backend.choose(a, add_forward_reference, add_forward_numba, add_forward_cupy)(a, b)


# ---------------------------------------------------------------- NumPy reference


def relu_forward_reference(x):
    """y = max(x, 0).   x, y: any shape"""
    return np.maximum(x, 0)  # np.maximum propagates NaN: relu(nan) = nan, as torch.relu


def relu_backward_reference(x, gy):
    """gx = 0 where x <= 0, else gy.   x, gy, gx: the same shape"""
    return np.where(x <= 0, 0, gy)  # as PyTorch: a NaN x passes gy; not gy * (x > 0), where inf * 0 = NaN


def add_forward_reference(a, b):
    """y = a + b.   a, b, y: the same shape"""
    return a + b


# ---------------------------------------------------------------- Numba (CPU)


def _relu_forward_loops(x, y, start, stop):  # 1-D contiguous; plain Python until jitted
    x, y = x[start:stop], y[start:stop]  # this worker's entries (views of their own: LLVM then vectorizes, 2x)
    for i in range(x.shape[0]):
        y[i] = 0.0 if x[i] <= 0 else x[i]  # NaN is not <= 0: it passes through, as in np.maximum


def _relu_backward_loops(x, gy, gx, start, stop):
    x, gy, gx = x[start:stop], gy[start:stop], gx[start:stop]  # this worker's entries
    for i in range(x.shape[0]):
        gx[i] = 0.0 if x[i] <= 0 else gy[i]  # NaN is not <= 0: its gradient passes, as in PyTorch


def _add_loops(a, b, y, start, stop):
    a, b, y = a[start:stop], b[start:stop], y[start:stop]  # this worker's entries
    for i in range(a.shape[0]):
        y[i] = a[i] + b[i]


def _flat(x):
    """x as a 1-D C-contiguous array (a view when x is already contiguous)."""
    return np.ascontiguousarray(x).reshape(-1)


def relu_forward_numba(x):
    y = np.empty(x.shape, dtype=x.dtype)
    _chunks.run_loops(_relu_forward_jit, x.size, 1, _flat(x), y.reshape(-1))
    return y


def relu_backward_numba(x, gy):
    gx = np.empty(gy.shape, dtype=gy.dtype)
    _chunks.run_loops(_relu_backward_jit, gy.size, 1, _flat(x), _flat(gy), gx.reshape(-1))
    return gx


def add_forward_numba(a, b):
    y = np.empty(a.shape, dtype=a.dtype)
    _chunks.run_loops(_add_jit, a.size, 1, _flat(a), _flat(b), y.reshape(-1))
    return y


# ---------------------------------------------------------------- CuPy (GPU): the same bodies in CUDA C


def relu_forward_cupy(x):
    return _cuda.elementwise("T x", "T y", "y = x <= 0 ? (T)0 : x", "minires_relu_forward")(x)


def relu_backward_cupy(x, gy):
    return _cuda.elementwise("T x, T gy", "T gx", "gx = x <= 0 ? (T)0 : gy", "minires_relu_backward")(x, gy)


def add_forward_cupy(a, b):
    return _cuda.elementwise("T a, T b", "T y", "y = a + b", "minires_add_forward")(a, b)


# jitted here, at the bottom, so the loops above stay plain functions for reading and pdb
_relu_forward_jit = serial_jit(_relu_forward_loops)
_relu_backward_jit = serial_jit(_relu_backward_loops)
_add_jit = serial_jit(_add_loops)
