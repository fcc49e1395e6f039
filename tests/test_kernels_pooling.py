"""Pooling kernels: numba and cupy agree with the NumPy reference; the reference agrees with
PyTorch (F.max_pool2d with indices, F.avg_pool2d, the mean over H, W), values and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import DTYPES, IMPLS, TOL, random_array, requires_numba, run_kernel

from minires.kernels import pooling

# id: (x_shape, kernel_size, stride, padding, layout of x)
CASES = {
    "2x2_s2": ((2, 3, 6, 6), (2, 2), (2, 2), (0, 0), "contiguous"),
    "3x3_s2_p1_7x9": ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), "transposed"),  # the ImageNet stem's pooling
    "3x3_s1_p1_batch1": ((1, 2, 5, 5), (3, 3), (1, 1), (1, 1), "strided"),
    "3x2_s12_p10": ((2, 2, 6, 7), (3, 2), (1, 2), (1, 0), "contiguous"),
}




def output_shape(case):
    x_shape, kernel_size, stride, padding, _ = CASES[case]
    return (*x_shape[:2], *pooling.pool_output_size(*x_shape[2:], kernel_size, stride, padding))


def check(got, want, dtype, context):
    assert got.dtype == want.dtype, f"{context}: dtype {got.dtype}, want {want.dtype}"
    np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=context)


# ---- loop implementations vs the reference ---------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_max_pool2d_agrees_with_reference(impl, case, dtype):
    x_shape, kernel_size, stride, padding, layout = CASES[case]
    x = random_array(x_shape, seed=0, dtype=dtype, layout=layout)  # continuous random values: no ties
    gy = random_array(output_shape(case), seed=1, dtype=dtype)
    context = f"max_pool2d[{impl}] vs reference, {case}, x {x_shape} {np.dtype(dtype)} {layout}"

    y_want, argmax_want = pooling.max_pool2d_forward_reference(x, kernel_size, stride, padding)
    y, argmax = run_kernel(pooling, impl, "max_pool2d_forward", x, kernel_size, stride, padding)
    check(y, y_want, dtype, context + ": y")
    np.testing.assert_array_equal(argmax, argmax_want, err_msg=context + ": argmax")
    assert argmax.dtype == np.int64, f"{context}: argmax dtype {argmax.dtype}, want int64"

    gx_want = pooling.max_pool2d_backward_reference(gy, argmax_want, x_shape, kernel_size, stride, padding)
    gx = run_kernel(pooling, impl, "max_pool2d_backward", gy, argmax_want, x_shape, kernel_size, stride, padding)
    check(gx, gx_want, dtype, context + ": gx")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_avg_pool2d_agrees_with_reference(impl, case, dtype):
    x_shape, kernel_size, stride, padding, layout = CASES[case]
    x = random_array(x_shape, seed=0, dtype=dtype, layout=layout)
    gy = random_array(output_shape(case), seed=1, dtype=dtype, layout=layout)
    context = f"avg_pool2d[{impl}] vs reference, {case}, x {x_shape} {np.dtype(dtype)} {layout}"

    want = pooling.avg_pool2d_forward_reference(x, kernel_size, stride, padding)
    check(run_kernel(pooling, impl, "avg_pool2d_forward", x, kernel_size, stride, padding), want, dtype, context + ": y")
    want = pooling.avg_pool2d_backward_reference(gy, x_shape, kernel_size, stride, padding)
    check(run_kernel(pooling, impl, "avg_pool2d_backward", gy, x_shape, kernel_size, stride, padding), want, dtype, context + ": gx")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_global_avg_pool2d_agrees_with_reference(impl, dtype):
    x = random_array((2, 3, 7, 9), seed=0, dtype=dtype, layout="transposed")
    gy = random_array((2, 3), seed=1, dtype=dtype)
    context = f"global_avg_pool2d[{impl}] vs reference, x (2, 3, 7, 9) {np.dtype(dtype)}"
    check(run_kernel(pooling, impl, "global_avg_pool2d_forward", x), pooling.global_avg_pool2d_forward_reference(x), dtype,
          context + ": y")
    check(run_kernel(pooling, impl, "global_avg_pool2d_backward", gy, x.shape),
          pooling.global_avg_pool2d_backward_reference(gy, x.shape), dtype, context + ": gx")


@pytest.mark.parametrize("impl", ["reference", pytest.param("numba", marks=requires_numba)])
def test_max_pool2d_ties_go_to_the_first_maximum_and_nan_wins(impl):
    x = np.ones((1, 1, 4, 4))
    x[0, 0, 3, 3] = np.nan
    y, argmax = run_kernel(pooling, impl, "max_pool2d_forward", x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(argmax[0, 0], [[0, 2], [8, 15]], err_msg=f"max_pool2d[{impl}]: tie or NaN index")
    np.testing.assert_array_equal(y[0, 0], [[1, 1], [1, np.nan]], err_msg=f"max_pool2d[{impl}]: values")


def test_pooling_rejects_padding_over_half_the_window():
    with pytest.raises(ValueError, match=r"padding must be at most half the window, got padding \(2, 0\) for window 3x3"):
        pooling.pool_output_size(8, 8, (3, 3), (1, 1), (2, 0))


# ---- the references vs PyTorch -----------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_max_pool2d_reference_matches_torch(case):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the reference")
    x_shape, kernel_size, stride, padding, layout = CASES[case]
    x = random_array(x_shape, seed=0, layout=layout)
    gy = random_array(output_shape(case), seed=1)
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch, indices = torch.nn.functional.max_pool2d(x_torch, kernel_size, stride, padding, return_indices=True)
    y_torch.backward(torch.from_numpy(gy))

    y, argmax = pooling.max_pool2d_forward_reference(x, kernel_size, stride, padding)
    gx = pooling.max_pool2d_backward_reference(gy, argmax, x_shape, kernel_size, stride, padding)
    np.testing.assert_allclose(y, y_torch.detach().numpy(), **TOL[np.float64], err_msg=f"max_pool2d y vs torch, {case}")
    np.testing.assert_array_equal(argmax, indices.numpy(), err_msg=f"max_pool2d argmax vs torch indices, {case}")
    np.testing.assert_allclose(gx, x_torch.grad.numpy(), **TOL[np.float64], err_msg=f"max_pool2d gx vs torch, {case}")


@pytest.mark.parametrize("case", CASES)
def test_avg_pool2d_reference_matches_torch(case):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the reference")
    x_shape, kernel_size, stride, padding, layout = CASES[case]
    x = random_array(x_shape, seed=0, layout=layout)
    gy = random_array(output_shape(case), seed=1)
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = torch.nn.functional.avg_pool2d(x_torch, kernel_size, stride, padding)  # count_include_pad=True
    y_torch.backward(torch.from_numpy(gy))

    y = pooling.avg_pool2d_forward_reference(x, kernel_size, stride, padding)
    gx = pooling.avg_pool2d_backward_reference(gy, x_shape, kernel_size, stride, padding)
    np.testing.assert_allclose(y, y_torch.detach().numpy(), **TOL[np.float64], err_msg=f"avg_pool2d y vs torch, {case}")
    np.testing.assert_allclose(gx, x_torch.grad.numpy(), **TOL[np.float64], err_msg=f"avg_pool2d gx vs torch, {case}")


def test_global_avg_pool2d_reference_matches_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the reference")
    x = random_array((2, 3, 7, 9), seed=0)
    gy = random_array((2, 3), seed=1)
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = torch.nn.functional.adaptive_avg_pool2d(x_torch, 1).flatten(1)  # (N, C)
    y_torch.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(pooling.global_avg_pool2d_forward_reference(x), y_torch.detach().numpy(),
                               **TOL[np.float64], err_msg="global_avg_pool2d y vs torch")
    np.testing.assert_allclose(pooling.global_avg_pool2d_backward_reference(gy, x.shape), x_torch.grad.numpy(),
                               **TOL[np.float64], err_msg="global_avg_pool2d gx vs torch")


# ---- NaN and infinity: the same non-finite results as the reference (and PyTorch) -------------

# id: (x_shape, kernel_size, stride, padding): stride 2, padding, odd sizes, batch 1
NONFINITE_CASES = {
    "3x3_s2_p1_7x9": ((2, 2, 7, 9), (3, 3), (2, 2), (1, 1)),
    "2x2_s2_batch1_5x5": ((1, 3, 5, 5), (2, 2), (2, 2), (0, 0)),
    "3x2_s12_p10": ((1, 2, 6, 7), (3, 2), (1, 2), (1, 0)),
}


def nonfinite_input(shape, seed, dtype, fraction=0.2):
    """N(0, 1) samples with about `fraction` of them NaN, +inf or -inf, plus one plane corner all -inf
    (a window with no finite value) and two NaNs side by side (which NaN wins)."""
    x = random_array(shape, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    hit = rng.random(shape) < fraction
    x[hit] = rng.choice([np.nan, np.inf, -np.inf], size=int(hit.sum()))
    x[0, 0, :2, :2] = -np.inf
    x[-1, -1, -1, -2:] = np.nan
    return x


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf in the sums
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", NONFINITE_CASES)
def test_pooling_propagates_nan_and_inf_as_the_reference(impl, case, dtype):
    x_shape, *args = NONFINITE_CASES[case]
    x = nonfinite_input(x_shape, seed=0, dtype=dtype)
    y_want, argmax_want = pooling.max_pool2d_forward_reference(x, *args)
    gy = nonfinite_input(y_want.shape, seed=1, dtype=dtype)
    context = f"[{impl}] with NaN/inf, {case}, {np.dtype(dtype)}"

    # assert_allclose: NaN must meet NaN and inf the same inf; finite values within TOL
    y, argmax = run_kernel(pooling, impl, "max_pool2d_forward", x, *args)
    check(y, y_want, dtype, f"max_pool2d_forward y{context}")
    np.testing.assert_array_equal(argmax, argmax_want, err_msg=f"max_pool2d_forward argmax{context}")
    check(run_kernel(pooling, impl, "max_pool2d_backward", gy, argmax_want, x_shape, *args),
          pooling.max_pool2d_backward_reference(gy, argmax_want, x_shape, *args), dtype, f"max_pool2d_backward{context}")
    check(run_kernel(pooling, impl, "avg_pool2d_forward", x, *args),
          pooling.avg_pool2d_forward_reference(x, *args), dtype, f"avg_pool2d_forward{context}")
    check(run_kernel(pooling, impl, "avg_pool2d_backward", gy, x_shape, *args),
          pooling.avg_pool2d_backward_reference(gy, x_shape, *args), dtype, f"avg_pool2d_backward{context}")
    gy_global = nonfinite_input(x_shape[:2] + (1, 1), seed=2, dtype=dtype, fraction=0.5)[:, :, 0, 0]
    check(run_kernel(pooling, impl, "global_avg_pool2d_forward", x),
          pooling.global_avg_pool2d_forward_reference(x), dtype, f"global_avg_pool2d_forward{context}")
    check(run_kernel(pooling, impl, "global_avg_pool2d_backward", gy_global, x_shape),
          pooling.global_avg_pool2d_backward_reference(gy_global, x_shape), dtype, f"global_avg_pool2d_backward{context}")


@pytest.mark.parametrize("impl", ["reference", pytest.param("numba", marks=requires_numba)])
def test_max_pool2d_nan_and_inf_windows(impl):
    # one 2x2 window each: a NaN beats +inf; of two NaNs the last one wins (PyTorch scans the
    # window with `val > best || isnan(val)`); all -inf gives -inf at the first pixel; +inf wins
    x = np.array([[np.nan, np.inf, -np.inf, -np.inf, 1.0, np.inf],
                  [2.0, 3.0, -np.inf, -np.inf, 2.0, 3.0]])[None, None]
    x_nan2 = np.array([[np.nan, 1.0], [np.nan, 2.0]])[None, None]
    y, argmax = run_kernel(pooling, impl, "max_pool2d_forward", x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(y[0, 0], [[np.nan, -np.inf, np.inf]], err_msg=f"max_pool2d[{impl}]: values")
    np.testing.assert_array_equal(argmax[0, 0], [[0, 2, 5]], err_msg=f"max_pool2d[{impl}]: winners")
    y, argmax = run_kernel(pooling, impl, "max_pool2d_forward", x_nan2, (2, 2), (2, 2), (0, 0))
    assert np.isnan(y[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 2, f"max_pool2d[{impl}]: the last NaN wins"
    # backward: the gradient goes to the NaN, as any winner's
    gx = run_kernel(pooling, impl, "max_pool2d_backward", np.array([[[[5.0]]]]), argmax, (1, 1, 2, 2), (2, 2), (2, 2),
                    (0, 0))
    np.testing.assert_array_equal(gx[0, 0], [[0, 0], [5, 0]], err_msg=f"max_pool2d_backward[{impl}]: to the NaN")


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf in the sums
@pytest.mark.parametrize("case", NONFINITE_CASES)
def test_pooling_reference_matches_torch_on_nan_and_inf(case):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the reference")
    x_shape, kernel_size, stride, padding = NONFINITE_CASES[case]
    x = nonfinite_input(x_shape, seed=0, dtype=np.float64)
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch, indices = torch.nn.functional.max_pool2d(x_torch, kernel_size, stride, padding, return_indices=True)
    gy = nonfinite_input(tuple(y_torch.shape), seed=1, dtype=np.float64)
    y_torch.backward(torch.from_numpy(gy))
    y, argmax = pooling.max_pool2d_forward_reference(x, kernel_size, stride, padding)
    gx = pooling.max_pool2d_backward_reference(gy, argmax, x_shape, kernel_size, stride, padding)
    np.testing.assert_allclose(y, y_torch.detach().numpy(), **TOL[np.float64], err_msg=f"max_pool2d y vs torch, {case}")
    np.testing.assert_array_equal(argmax, indices.numpy(), err_msg=f"max_pool2d argmax vs torch, {case}")
    np.testing.assert_allclose(gx, x_torch.grad.numpy(), **TOL[np.float64], err_msg=f"max_pool2d gx vs torch, {case}")

    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = torch.nn.functional.avg_pool2d(x_torch, kernel_size, stride, padding)
    y_torch.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(pooling.avg_pool2d_forward_reference(x, kernel_size, stride, padding),
                               y_torch.detach().numpy(), **TOL[np.float64], err_msg=f"avg_pool2d y vs torch, {case}")
    np.testing.assert_allclose(pooling.avg_pool2d_backward_reference(gy, x_shape, kernel_size, stride, padding),
                               x_torch.grad.numpy(), **TOL[np.float64], err_msg=f"avg_pool2d gx vs torch, {case}")
