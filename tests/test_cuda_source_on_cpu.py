"""The CUDA C kernels, compiled for the CPU with gcc, agree with the NumPy reference.

CI has no GPU, but the indexing in the CUDA sources can still be checked: a small shim
turns a kernel source into plain C++ (`__global__` expands to nothing; blockIdx, threadIdx
and blockDim become global variables), gcc builds a shared library, and a fake launch
calls the kernel once for every (block, thread) pair, as the GPU would. The `_cupy`
wrappers themselves run, with numpy standing in for cupy, so their launch arguments
(sizes, dtypes, geometry) are checked too. Only the RawKernel sources are covered; the
batch-norm kernels are cupy reductions and elementwise expressions.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess

import numpy as np
import pytest
from helpers import random_array

from minires.kernels import _cuda, im2col, pooling

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")

SHIM = """
#include <cmath>
#define isnan std::isnan
#define __global__
struct minires_uint3 { unsigned int x, y, z; };
extern "C" { minires_uint3 blockIdx, threadIdx, blockDim; }  // set by the fake launch before each call
typedef %s T;
"""


class Uint3(ctypes.Structure):
    _fields_ = [("x", ctypes.c_uint), ("y", ctypes.c_uint), ("z", ctypes.c_uint)]


def as_ctypes(arg):
    """A kernel argument as C sees it: arrays by pointer, numpy scalars by C type."""
    if isinstance(arg, np.ndarray):
        assert arg.flags.c_contiguous, "kernel arrays must be C-contiguous"
        return ctypes.c_void_p(arg.ctypes.data)
    return {np.int32: ctypes.c_int, np.int64: ctypes.c_longlong,
            np.float32: ctypes.c_float, np.float64: ctypes.c_double}[type(arg)](arg)


class CpuKernel:
    """Stands in for cupy.RawKernel: kernel((blocks,), (threads,), args) runs every thread in turn."""

    def __init__(self, library, name):
        self.function = getattr(library, name)
        self.blockIdx = Uint3.in_dll(library, "blockIdx")  # the shim's globals, written before each call
        self.threadIdx = Uint3.in_dll(library, "threadIdx")
        self.blockDim = Uint3.in_dll(library, "blockDim")

    def __call__(self, grid, block, args):
        c_args = [as_ctypes(a) for a in args]
        self.blockDim.x = block[0]
        for b in range(grid[0]):
            self.blockIdx.x = b
            for t in range(block[0]):
                self.threadIdx.x = t
                self.function(*c_args)


@pytest.fixture
def cuda_on_cpu(monkeypatch, tmp_path_factory):
    """Route the `_cupy` wrappers to gcc-compiled kernels on numpy arrays."""
    build = tmp_path_factory.getbasetemp() / "cuda_on_cpu"
    build.mkdir(exist_ok=True)

    def raw_kernel(source, name, dtype):
        code = SHIM % _cuda.cuda_type(dtype) + source
        library_path = build / f"{name}_{hashlib.sha1(code.encode()).hexdigest()[:12]}.so"
        if not library_path.exists():
            source_path = library_path.with_suffix(".cpp")
            source_path.write_text(code)
            command = ["gcc", "-x", "c++", "-O1", "-shared", "-fPIC", "-o", str(library_path), str(source_path)]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0 and "cc1plus" in result.stderr:
                pytest.skip("gcc has no C++ front end (cc1plus)")
            assert result.returncode == 0, f"gcc failed on kernel {name}:\n{result.stderr}"
        return CpuKernel(ctypes.CDLL(str(library_path)), name)

    monkeypatch.setattr(_cuda, "raw_kernel", raw_kernel)
    monkeypatch.setattr(_cuda, "cupy", lambda: np)  # numpy has every function the wrappers call on cupy


DTYPES = [np.float32, np.float64]
TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}

# id: (x_shape, kernel_size, stride, padding, dilation)
CONV_CASES = {
    "3x3_s1_p1": ((2, 3, 5, 5), (3, 3), (1, 1), (1, 1), (1, 1)),
    "3x3_s2_p1_7x9": ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1)),
    "2x3_s21_p1_d2": ((2, 2, 7, 8), (2, 3), (2, 1), (1, 1), (2, 2)),
}
# id: (x_shape, kernel_size, stride, padding)
POOL_CASES = {
    "3x3_s2_p1_7x9": ((2, 2, 7, 9), (3, 3), (2, 2), (1, 1)),
    "3x2_s12_p10": ((1, 3, 6, 7), (3, 2), (1, 2), (1, 0)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_and_col2im_cuda_source(cuda_on_cpu, case, dtype):
    x_shape, *args = CONV_CASES[case]
    x = random_array(x_shape, seed=0, dtype=dtype, layout="transposed")
    col = im2col.im2col_cupy(x, *args)
    np.testing.assert_allclose(col, im2col.im2col_reference(x, *args), **TOL[dtype],
                               err_msg=f"im2col CUDA source (on CPU) vs reference, {case}, {np.dtype(dtype)}")
    gx = im2col.col2im_cupy(col, x_shape, *args)
    np.testing.assert_allclose(gx, im2col.col2im_reference(col, x_shape, *args), **TOL[dtype],
                               err_msg=f"col2im CUDA source (on CPU) vs reference, {case}, {np.dtype(dtype)}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_cuda_source(cuda_on_cpu, case, dtype):
    x_shape, *args = POOL_CASES[case]
    x = random_array(x_shape, seed=0, dtype=dtype)
    y_want, argmax_want = pooling.max_pool2d_forward_reference(x, *args)
    gy = random_array(y_want.shape, seed=1, dtype=dtype)
    context = f"CUDA source (on CPU) vs reference, {case}, {np.dtype(dtype)}"

    y, argmax = pooling.max_pool2d_forward_cupy(x, *args)
    np.testing.assert_allclose(y, y_want, **TOL[dtype], err_msg=f"max_pool2d_forward y, {context}")
    np.testing.assert_array_equal(argmax, argmax_want, err_msg=f"max_pool2d_forward argmax, {context}")
    np.testing.assert_allclose(pooling.max_pool2d_backward_cupy(gy, argmax, x_shape, *args),
                               pooling.max_pool2d_backward_reference(gy, argmax_want, x_shape, *args), **TOL[dtype],
                               err_msg=f"max_pool2d_backward, {context}")
    np.testing.assert_allclose(pooling.avg_pool2d_forward_cupy(x, *args),
                               pooling.avg_pool2d_forward_reference(x, *args), **TOL[dtype],
                               err_msg=f"avg_pool2d_forward, {context}")
    np.testing.assert_allclose(pooling.avg_pool2d_backward_cupy(gy, x_shape, *args),
                               pooling.avg_pool2d_backward_reference(gy, x_shape, *args), **TOL[dtype],
                               err_msg=f"avg_pool2d_backward, {context}")
