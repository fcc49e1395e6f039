"""The CUDA C kernels, compiled for the CPU with gcc, agree with the NumPy reference.

CI has no GPU, but the indexing in the CUDA sources can still be checked: a small shim
turns a kernel source into plain C++ (`__global__` expands to nothing; blockIdx, threadIdx
and blockDim become global variables), gcc builds a shared library, and a fake launch
calls the kernel once for every (block, thread) pair, as the GPU would. The `_cupy`
wrappers themselves run, with numpy standing in for cupy, so their launch arguments
(sizes, dtypes, geometry) are checked too (the Winograd GEMMs run as numpy's matmul). The one-line ElementwiseKernel bodies (ReLU,
add, batch norm's normalise and backward) are compiled the same way, inside a C loop over
the broadcast elements; cupy's reductions (batch norm's sums) run as numpy's here.
Each family is also fed NaN and +-inf, which must come out as the reference's.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess

import numpy as np
import pytest
from helpers import random_array

from minires.kernels import _cuda, batchnorm, conv, elementwise, im2col, pooling, winograd

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")

SHIM = """
#include <cmath>
#define isnan std::isnan
#define __global__
#define __device__
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


def elementwise_source(in_params, out_params, operation, name):
    """An ElementwiseKernel as a C function: a loop over `size` elements, one call of `operation` each.

    in_params "T x, T gy", out_params "T gx", operation "gx = ..." become
        void name(long long size, const T* x_in, const T* gy_in, T* gx_out)
    whose loop body reads x = x_in[i] and gy = gy_in[i], runs the operation, and stores gx_out[i] = gx."""
    ins = [p.split()[-1] for p in in_params.split(",")]
    outs = [p.split()[-1] for p in out_params.split(",")]
    arguments = ", ".join([f"const T* {n}_in" for n in ins] + [f"T* {n}_out" for n in outs])
    reads = " ".join(f"T {n} = {n}_in[i];" for n in ins)
    declarations = " ".join(f"T {n};" for n in outs)
    writes = " ".join(f"{n}_out[i] = {n};" for n in outs)
    return (f'extern "C" void {name}(long long size, {arguments}) {{\n'
            f"    for (long long i = 0; i < size; i++) {{ {reads} {declarations} {{ {operation}; }} {writes} }}\n}}\n")


class CpuElementwiseKernel:
    """Stands in for cupy.ElementwiseKernel: broadcasts the inputs (all of type T), returns new outputs."""

    def __init__(self, build, in_params, out_params, operation, name):
        self.build, self.name = build, name
        self.source = elementwise_source(in_params, out_params, operation, name)
        self.n_out = len(out_params.split(","))

    def __call__(self, *args):
        dtype = np.asarray(args[0]).dtype
        inputs = [np.ascontiguousarray(a, dtype=dtype) for a in np.broadcast_arrays(*args)]
        outputs = [np.empty(inputs[0].shape, dtype=dtype) for _ in range(self.n_out)]
        function = getattr(self.build(SHIM % _cuda.cuda_type(dtype) + self.source, self.name), self.name)
        function(ctypes.c_longlong(inputs[0].size), *[as_ctypes(a) for a in inputs + outputs])
        return outputs[0] if self.n_out == 1 else tuple(outputs)


@pytest.fixture
def cuda_on_cpu(monkeypatch, tmp_path_factory):
    """Route the `_cupy` wrappers to gcc-compiled kernels on numpy arrays."""
    build_dir = tmp_path_factory.getbasetemp() / "cuda_on_cpu"
    build_dir.mkdir(exist_ok=True)

    def build(code, name):
        library_path = build_dir / f"{name}_{hashlib.sha1(code.encode()).hexdigest()[:12]}.so"
        if not library_path.exists():
            source_path = library_path.with_suffix(".cpp")
            source_path.write_text(code)
            command = ["gcc", "-x", "c++", "-O1", "-shared", "-fPIC", "-o", str(library_path), str(source_path)]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0 and "cc1plus" in result.stderr:
                pytest.skip("gcc has no C++ front end (cc1plus)")
            assert result.returncode == 0, f"gcc failed on kernel {name}:\n{result.stderr}"
        return ctypes.CDLL(str(library_path))

    def raw_kernel(source, name, dtype):
        return CpuKernel(build(SHIM % _cuda.cuda_type(dtype) + source, name), name)

    def elementwise_kernel(in_params, out_params, operation, name):
        return CpuElementwiseKernel(build, in_params, out_params, operation, name)

    monkeypatch.setattr(_cuda, "raw_kernel", raw_kernel)
    monkeypatch.setattr(_cuda, "elementwise", elementwise_kernel)
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


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_cupy_kernels(cuda_on_cpu, case, dtype, groups):
    """conv2d_forward/_weight_grad/_input_grad_cupy (CUDA im2col/col2im + matmul) equal the reference."""
    x_shape, kernel_size, *geometry = CONV_CASES[case]
    x_shape = (x_shape[0], 2 * groups, *x_shape[2:])
    x = random_array(x_shape, seed=0, dtype=dtype)
    w = random_array((2 * groups, 2, *kernel_size), seed=1, dtype=dtype)
    y = conv.conv2d_forward_cupy(x, w, *geometry, groups)
    np.testing.assert_allclose(y, conv.conv2d_forward_reference(x, w, *geometry, groups), **TOL[dtype],
                               err_msg=f"conv2d_forward_cupy (on CPU) vs reference, {case}")
    gy = random_array(y.shape, seed=2, dtype=dtype)
    np.testing.assert_allclose(conv.conv2d_weight_grad_cupy(x, gy, w.shape, *geometry, groups),
                               conv.conv2d_weight_grad_reference(x, gy, w.shape, *geometry, groups), **TOL[dtype],
                               err_msg=f"conv2d_weight_grad_cupy (on CPU) vs reference, {case}")
    np.testing.assert_allclose(conv.conv2d_input_grad_cupy(gy, w, x_shape, *geometry, groups),
                               conv.conv2d_input_grad_reference(gy, w, x_shape, *geometry, groups), **TOL[dtype],
                               err_msg=f"conv2d_input_grad_cupy (on CPU) vs reference, {case}")


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


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_elementwise_cuda_source(cuda_on_cpu, dtype):
    x = random_array((2, 3, 4, 5), seed=0, dtype=dtype, layout="transposed")
    gy = random_array((2, 3, 4, 5), seed=1, dtype=dtype)
    for name, args in [("relu_forward", (x,)), ("relu_backward", (x, gy)), ("add_forward", (x, gy))]:
        got = getattr(elementwise, f"{name}_cupy")(*args)
        np.testing.assert_allclose(got, getattr(elementwise, f"{name}_reference")(*args), **TOL[dtype],
                                   err_msg=f"{name} CUDA source (on CPU) vs reference, {np.dtype(dtype)}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_batch_norm_cuda_source(cuda_on_cpu, dtype):
    x = random_array((3, 4, 5, 3), seed=0, dtype=dtype)
    gy = random_array(x.shape, seed=1, dtype=dtype)
    gamma, beta, running_mean = (random_array((4,), seed=s, dtype=dtype) for s in (2, 3, 4))
    running_var = random_array((4,), seed=5, dtype=dtype, positive=True)
    check_batch_norm_cuda_source(x, gy, gamma, beta, running_mean, running_var, 1e-5,
                                 f"batch_norm CUDA source (on CPU) vs reference, {np.dtype(dtype)}")


def check_batch_norm_cuda_source(x, gy, gamma, beta, running_mean, running_var, eps, context):
    tol = TOL[x.dtype.type]
    with np.errstate(all="ignore"):  # the reference warns about the NaN it makes from NaN and inf
        want = batchnorm.batch_norm_train_forward_reference(x, gamma, beta, eps)
        got = batchnorm.batch_norm_train_forward_cupy(x, gamma, beta, eps)
        for name, g, w in zip(("y", "mean", "var", "invstd"), got, want, strict=True):
            np.testing.assert_allclose(g, w, **tol, err_msg=f"{context}: train forward {name}")
        _, mean, _, invstd = want
        want = batchnorm.batch_norm_backward_reference(gy, x, mean, invstd, gamma)
        got = batchnorm.batch_norm_backward_cupy(gy, x, mean, invstd, gamma)
        for name, g, w in zip(("gx", "ggamma", "gbeta"), got, want, strict=True):
            np.testing.assert_allclose(g, w, **tol, err_msg=f"{context}: backward {name}")
        np.testing.assert_allclose(
            batchnorm.batch_norm_eval_forward_cupy(x, running_mean, running_var, gamma, beta, eps),
            batchnorm.batch_norm_eval_forward_reference(x, running_mean, running_var, gamma, beta, eps), **tol,
            err_msg=f"{context}: eval forward")


# ---- NaN and infinity: the CUDA sources give the reference's NaN and inf --------------------


def plant_nonfinite(x, seed, fraction=0.2):
    """x with about `fraction` of its entries (chosen at random) set to NaN, +inf or -inf, in place."""
    rng = np.random.default_rng(seed)
    hit = rng.random(x.shape) < fraction
    x[hit] = rng.choice([np.nan, np.inf, -np.inf], size=int(hit.sum()))
    return x


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf in the reference
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_cuda_sources_propagate_nan_and_inf_as_the_reference(cuda_on_cpu, dtype):
    context = f"with NaN/inf, CUDA source (on CPU) vs reference, {np.dtype(dtype)}"
    # ReLU and add: relu(nan) = nan, a NaN input passes its gradient, x <= 0 gives 0 even for gy = inf
    x = plant_nonfinite(random_array((2, 3, 4, 5), seed=0, dtype=dtype), seed=10, fraction=0.4)
    gy = plant_nonfinite(random_array((2, 3, 4, 5), seed=1, dtype=dtype), seed=11, fraction=0.4)
    for name, args in [("relu_forward", (x,)), ("relu_backward", (x, gy)), ("add_forward", (x, gy))]:
        np.testing.assert_array_equal(getattr(elementwise, f"{name}_cupy")(*args),
                                      getattr(elementwise, f"{name}_reference")(*args), err_msg=f"{name} {context}")

    for case, (x_shape, *args) in CONV_CASES.items():
        x = plant_nonfinite(random_array(x_shape, seed=0, dtype=dtype), seed=12)
        col = plant_nonfinite(im2col.im2col_reference(random_array(x_shape, seed=1, dtype=dtype), *args), seed=13)
        np.testing.assert_array_equal(im2col.im2col_cupy(x, *args), im2col.im2col_reference(x, *args),
                                      err_msg=f"im2col {context}, {case}")
        np.testing.assert_allclose(im2col.col2im_cupy(col, x_shape, *args),
                                   im2col.col2im_reference(col, x_shape, *args), **TOL[dtype],
                                   err_msg=f"col2im {context}, {case}")

    for case, (x_shape, *args) in POOL_CASES.items():
        x = plant_nonfinite(random_array(x_shape, seed=0, dtype=dtype), seed=14)
        x[0, 0, :2, :2] = -np.inf  # a window with no finite value
        x[-1, -1, -1, -2:] = np.nan  # two NaNs side by side: the last one wins
        y_want, argmax_want = pooling.max_pool2d_forward_reference(x, *args)
        gy = plant_nonfinite(random_array(y_want.shape, seed=1, dtype=dtype), seed=15)
        y, argmax = pooling.max_pool2d_forward_cupy(x, *args)
        np.testing.assert_array_equal(y, y_want, err_msg=f"max_pool2d_forward y {context}, {case}")
        np.testing.assert_array_equal(argmax, argmax_want, err_msg=f"max_pool2d_forward argmax {context}, {case}")
        np.testing.assert_allclose(pooling.max_pool2d_backward_cupy(gy, argmax, x_shape, *args),
                                   pooling.max_pool2d_backward_reference(gy, argmax_want, x_shape, *args),
                                   **TOL[dtype], err_msg=f"max_pool2d_backward {context}, {case}")
        np.testing.assert_allclose(pooling.avg_pool2d_forward_cupy(x, *args),
                                   pooling.avg_pool2d_forward_reference(x, *args), **TOL[dtype],
                                   err_msg=f"avg_pool2d_forward {context}, {case}")
        np.testing.assert_allclose(pooling.avg_pool2d_backward_cupy(gy, x_shape, *args),
                                   pooling.avg_pool2d_backward_reference(gy, x_shape, *args), **TOL[dtype],
                                   err_msg=f"avg_pool2d_backward {context}, {case}")

    # batch norm: one NaN in channel 0, +inf in 1, +inf and -inf in 2, NaN and -inf in channel 3's gy,
    # channel 4 constant (with eps = 0: invstd = 1/sqrt(0) = inf); NaN, inf and 0 in the running stats
    x = random_array((2, 5, 3, 3), seed=0, dtype=dtype)
    x[0, 0, 0, 0], x[-1, 1, -1, 0], x[0, 2, 1, 1], x[-1, 2, 0, -1] = np.nan, np.inf, np.inf, -np.inf
    x[:, 4] = 0.5
    gy = random_array(x.shape, seed=1, dtype=dtype)
    gy[0, 3, 0, 1], gy[-1, 3, -1, -1] = np.nan, -np.inf
    gamma, beta = random_array((5,), seed=2, dtype=dtype), random_array((5,), seed=3, dtype=dtype)
    running_mean = np.array([0.1, np.inf, 0.2, np.nan, 0.5], dtype=dtype)
    running_var = np.array([np.nan, 1.0, np.inf, 2.0, 0.0], dtype=dtype)
    for eps in (1e-5, 0.0):
        check_batch_norm_cuda_source(x, gy, gamma, beta, running_mean, running_var, eps,
                                     f"batch_norm {context}, eps={eps}")


def every_cuda_source():
    """(module name, constant name, source) of every CUDA C kernel source in minires/kernels/."""
    import importlib
    import pkgutil

    import minires.kernels

    found = []
    for info in pkgutil.iter_modules(minires.kernels.__path__):
        module = importlib.import_module(f"minires.kernels.{info.name}")
        found += [(info.name, name, value) for name, value in vars(module).items()
                  if name.endswith("_CUDA") and isinstance(value, str) and "__global__" in value]
    return found


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_every_raw_kernel_source_compiles_with_the_shim(cuda_on_cpu, dtype):
    """Every RawKernel source (a module constant named *_CUDA) compiles with gcc through the shim,
    so a new kernel cannot slip past the CPU checks with a syntax or type error."""
    import re

    sources = every_cuda_source()
    assert len(sources) >= 6, [name for _, name, _ in sources]  # im2col, col2im, 2 max pool, 2 avg pool at least
    for module, name, source in sources:
        for kernel_name in re.findall(r'extern "C" __global__ void (\w+)', source):
            kernel = _cuda.raw_kernel(source, kernel_name, dtype)  # the fixture's raw_kernel builds with gcc
            assert callable(kernel.function), f"{module}.{name}: {kernel_name} did not build"


# ---- Winograd F(2x2, 3x3) ----------------------------------------------------------------------

# id: (x_shape, C_out, padding): odd sizes (a cropped last tile), padding 0, 1, 2 and 3
WINOGRAD_CASES = {
    "7x5_p1": ((2, 3, 7, 5), 4, (1, 1)),
    "1x1_p1": ((1, 2, 1, 1), 3, (1, 1)),
    "6x5_p0": ((1, 2, 6, 5), 2, (0, 0)),
    "3x4_p23": ((1, 2, 3, 4), 1, (2, 3)),
}


def winograd_arrays(case, dtype):
    x_shape, C_out, padding = WINOGRAD_CASES[case]
    x = random_array(x_shape, seed=0, dtype=dtype, layout="transposed")
    w = random_array((C_out, x_shape[1], 3, 3), seed=1, dtype=dtype)
    OH, OW = x_shape[2] + 2 * padding[0] - 2, x_shape[3] + 2 * padding[1] - 2
    gy = random_array((x_shape[0], C_out, OH, OW), seed=2, dtype=dtype)
    return x, w, gy, padding


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", WINOGRAD_CASES)
def test_winograd_cuda_source(cuda_on_cpu, case, dtype):
    x, w, gy, padding = winograd_arrays(case, dtype)
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else TOL[dtype]
    context = f"CUDA source (on CPU) vs reference, {case}: x {x.shape}, w {w.shape}, padding {padding}, " \
              f"{np.dtype(dtype)}"
    np.testing.assert_allclose(winograd.winograd_conv3x3_forward_cupy(x, w, padding),
                               winograd.winograd_conv3x3_forward_reference(x, w, padding), **tol,
                               err_msg=f"winograd forward, {context}")
    np.testing.assert_allclose(winograd.winograd_conv3x3_input_grad_cupy(gy, w, x.shape, padding),
                               winograd.winograd_conv3x3_input_grad_reference(gy, w, x.shape, padding), **tol,
                               err_msg=f"winograd input_grad, {context}")
    np.testing.assert_allclose(winograd.winograd_conv3x3_weight_grad_cupy(x, gy, padding),
                               winograd.winograd_conv3x3_weight_grad_reference(x, gy, padding), **tol,
                               err_msg=f"winograd weight_grad, {context}")


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_winograd_cuda_source_nan_and_inf_as_the_direct_convolution(cuda_on_cpu, dtype):
    # the CUDA sources add only the nonzero terms of F(2x2): non-finite exactly where im2col's direct
    # convolution is (NaN or inf may differ: inf - inf)
    x, w, gy, padding = winograd_arrays("7x5_p1", dtype)
    x, gy = plant_nonfinite(np.array(x), seed=16, fraction=0.05), plant_nonfinite(np.array(gy), seed=17, fraction=0.05)
    geometry = ((1, 1), padding, (1, 1), 1)
    for name, args, direct in [("forward", (x, w, padding), lambda: conv.conv2d_forward_reference(x, w, *geometry)),
                               ("input_grad", (gy, w, x.shape, padding),
                                lambda: conv.conv2d_input_grad_reference(gy, w, x.shape, *geometry)),
                               ("weight_grad", (x, gy, padding),
                                lambda: conv.conv2d_weight_grad_reference(x, gy, w.shape, *geometry))]:
        got = getattr(winograd, f"winograd_conv3x3_{name}_cupy")(*args)
        want = direct()
        context = f"winograd {name} with NaN/inf, CUDA source (on CPU) vs im2col, {np.dtype(dtype)}"
        np.testing.assert_array_equal(~np.isfinite(got), ~np.isfinite(want), err_msg=f"{context}: non-finite")
