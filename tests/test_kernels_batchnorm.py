"""Batch-norm kernels: numba and cupy agree with the NumPy reference; the reference agrees with
PyTorch (training forward with its saved mean and invstd, autograd gradients under a random
cotangent, and evaluation mode)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import DTYPES, IMPLS, TOL, random_array, run_kernel

from minires.kernels import batchnorm

EPS = 1e-5

# id: (x_shape, layout of x)
CASES = {
    "4x3x5x5": ((4, 3, 5, 5), "contiguous"),
    "batch1_7x9": ((1, 2, 7, 9), "transposed"),
    "8x16x4x4": ((8, 16, 4, 4), "strided"),
}




def make_inputs(case, dtype):
    """x (shifted and scaled, so mean and variance matter), gamma, beta, gy, running stats."""
    x_shape, layout = CASES[case]
    C = x_shape[1]
    rng = np.random.default_rng(1)
    x = (3 * random_array(x_shape, seed=0, layout=layout) + 0.5).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    gy = random_array(x_shape, seed=2, dtype=dtype)
    running_mean = rng.standard_normal(C).astype(dtype)
    running_var = rng.uniform(0.5, 2.0, C).astype(dtype)
    return x, gamma, beta, gy, running_mean, running_var


def check(got, want, dtype, context):
    assert got.dtype == dtype, f"{context}: dtype {got.dtype}, want {np.dtype(dtype)}"
    np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=context)


# ---- loop implementations vs the reference ---------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_batch_norm_train_forward_and_backward_agree_with_reference(impl, case, dtype):
    x, gamma, beta, gy, _, _ = make_inputs(case, dtype)
    context = f"batch_norm[{impl}] vs reference, {case}, {np.dtype(dtype)} {CASES[case][1]}"

    want = batchnorm.batch_norm_train_forward_reference(x, gamma, beta, EPS)
    got = run_kernel(batchnorm, impl, "batch_norm_train_forward", x, gamma, beta, EPS)
    for name, g, w in zip(("y", "mean", "var", "invstd"), got, want, strict=True):
        check(g, w, dtype, f"{context}: train forward {name}")

    _, mean, _, invstd = want
    want = batchnorm.batch_norm_backward_reference(gy, x, mean, invstd, gamma)
    got = run_kernel(batchnorm, impl, "batch_norm_backward", gy, x, mean, invstd, gamma)
    for name, g, w in zip(("gx", "ggamma", "gbeta"), got, want, strict=True):
        check(g, w, dtype, f"{context}: backward {name}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_batch_norm_eval_forward_agrees_with_reference(impl, case, dtype):
    x, gamma, beta, _, running_mean, running_var = make_inputs(case, dtype)
    want = batchnorm.batch_norm_eval_forward_reference(x, running_mean, running_var, gamma, beta, EPS)
    got = run_kernel(batchnorm, impl, "batch_norm_eval_forward", x, running_mean, running_var, gamma, beta, EPS)
    check(got, want, dtype, f"batch_norm eval[{impl}] vs reference, {case}, {np.dtype(dtype)}")


# ---- the reference vs PyTorch ------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_batch_norm_train_reference_matches_torch(case):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the reference")
    x, gamma, beta, gy, _, _ = make_inputs(case, np.float64)
    x_t, gamma_t, beta_t = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    # native_batch_norm returns what our kernel returns: y and the saved mean and invstd
    y_t, mean_t, invstd_t = torch.native_batch_norm(x_t, gamma_t, beta_t, None, None, True, 0.1, EPS)
    y_t.backward(torch.from_numpy(gy))  # a random cotangent, not .sum(): the variance term must count

    y, mean, _, invstd = batchnorm.batch_norm_train_forward_reference(x, gamma, beta, EPS)
    gx, ggamma, gbeta = batchnorm.batch_norm_backward_reference(gy, x, mean, invstd, gamma)
    for name, got, want in [("y", y, y_t), ("mean", mean, mean_t), ("invstd", invstd, invstd_t),
                            ("gx", gx, x_t.grad), ("ggamma", ggamma, gamma_t.grad), ("gbeta", gbeta, beta_t.grad)]:
        np.testing.assert_allclose(got, want.detach().numpy(), **TOL[np.float64],
                                   err_msg=f"batch_norm train reference vs torch, {case}: {name}")


@pytest.mark.parametrize("case", CASES)
def test_batch_norm_eval_reference_matches_torch(case):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the reference")
    x, gamma, beta, _, running_mean, running_var = make_inputs(case, np.float64)
    want = torch.nn.functional.batch_norm(*map(torch.from_numpy, (x, running_mean, running_var, gamma, beta)),
                                          training=False, eps=EPS)
    got = batchnorm.batch_norm_eval_forward_reference(x, running_mean, running_var, gamma, beta, EPS)
    np.testing.assert_allclose(got, want.numpy(), **TOL[np.float64], err_msg=f"batch_norm eval reference vs torch, {case}")


# ---- NaN and infinity: the same non-finite results as the reference (and PyTorch) -------------


def nonfinite_inputs(x_shape, dtype):
    """x, gamma, beta, gy, running_mean, running_var of 5 channels, each channel with its own trouble:
    0: one NaN in x; 1: one +inf in x; 2: +inf and -inf in x; 3: clean x, but NaN and inf in gy;
    4: x constant (variance 0, so with eps = 0 invstd is inf and x_hat is 0 * inf = NaN)."""
    C = x_shape[1]
    assert C == 5, "one channel per kind of trouble"
    x = random_array(x_shape, seed=0, dtype=dtype)
    x[0, 0, 0, 0] = np.nan
    x[-1, 1, -1, 0] = np.inf
    x[0, 2, 1, 1], x[-1, 2, 0, -1] = np.inf, -np.inf
    x[:, 4] = 0.5
    gy = random_array(x_shape, seed=2, dtype=dtype)
    gy[0, 3, 0, 1], gy[-1, 3, -1, -1] = np.nan, -np.inf
    rng = np.random.default_rng(1)
    gamma = rng.uniform(0.5, 1.5, C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    running_mean = np.array([0.1, np.inf, 0.2, np.nan, 0.5], dtype=dtype)
    running_var = np.array([np.nan, 1.0, np.inf, 2.0, 0.0], dtype=dtype)
    return x, gamma, beta, gy, running_mean, running_var


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("x_shape", [(2, 5, 3, 3), (1, 5, 3, 5)], ids=str)
@pytest.mark.parametrize("eps", [EPS, 0.0])
def test_batch_norm_propagates_nan_and_inf_as_the_reference(impl, x_shape, dtype, eps):
    x, gamma, beta, gy, running_mean, running_var = nonfinite_inputs(x_shape, dtype)
    context = f"batch_norm[{impl}] with NaN/inf, x {x_shape}, {np.dtype(dtype)}, eps={eps}"
    with np.errstate(all="ignore"):  # the reference warns about the NaN it makes; that is the point here
        want = batchnorm.batch_norm_train_forward_reference(x, gamma, beta, eps)
        _, mean, _, invstd = want
        want_backward = batchnorm.batch_norm_backward_reference(gy, x, mean, invstd, gamma)
        want_eval = batchnorm.batch_norm_eval_forward_reference(x, running_mean, running_var, gamma, beta, eps)
    # check uses assert_allclose: NaN must meet NaN and inf the same inf; finite values within TOL
    got = run_kernel(batchnorm, impl, "batch_norm_train_forward", x, gamma, beta, eps)
    for name, g, w in zip(("y", "mean", "var", "invstd"), got, want, strict=True):
        check(g, w, dtype, f"{context}: train forward {name}")
    got = run_kernel(batchnorm, impl, "batch_norm_backward", gy, x, mean, invstd, gamma)
    for name, g, w in zip(("gx", "ggamma", "gbeta"), got, want_backward, strict=True):
        check(g, w, dtype, f"{context}: backward {name}")
    got = run_kernel(batchnorm, impl, "batch_norm_eval_forward", x, running_mean, running_var, gamma, beta, eps)
    check(got, want_eval, dtype, f"{context}: eval forward")


# eps = 1e-5 only: for a constant channel with eps = 0, PyTorch's training forward sets invstd = 0
# (its InvStd special case), where minires keeps IEEE arithmetic, 1/sqrt(0) = inf, and gives NaN
def test_batch_norm_reference_matches_torch_on_nan_and_inf():
    eps = EPS
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the reference")
    x, gamma, beta, gy, running_mean, running_var = nonfinite_inputs((2, 5, 3, 3), np.float64)
    x_t, gamma_t, beta_t = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    y_t, mean_t, invstd_t = torch.native_batch_norm(x_t, gamma_t, beta_t, None, None, True, 0.1, eps)
    y_t.backward(torch.from_numpy(gy))
    with np.errstate(all="ignore"):
        y, mean, _, invstd = batchnorm.batch_norm_train_forward_reference(x, gamma, beta, eps)
        gx, ggamma, gbeta = batchnorm.batch_norm_backward_reference(gy, x, mean, invstd, gamma)
        y_eval = batchnorm.batch_norm_eval_forward_reference(x, running_mean, running_var, gamma, beta, eps)
    y_eval_t = torch.nn.functional.batch_norm(*map(torch.from_numpy, (x, running_mean, running_var, gamma, beta)),
                                              training=False, eps=eps)
    for name, got, want in [("y", y, y_t), ("mean", mean, mean_t), ("invstd", invstd, invstd_t),
                            ("gx", gx, x_t.grad), ("ggamma", ggamma, gamma_t.grad), ("gbeta", gbeta, beta_t.grad),
                            ("eval y", y_eval, y_eval_t)]:
        np.testing.assert_allclose(got, want.detach().numpy(), **TOL[np.float64],
                                   err_msg=f"batch_norm reference vs torch with NaN/inf, eps={eps}: {name}")
