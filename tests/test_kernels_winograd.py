"""Winograd F(2x2, 3x3) (reference, cupy) and F(4x4, 3x3) (numba): every implementation agrees with the direct convolution built from
im2col (y = w @ col, gx = col2im(w^T gy), gw = gy col^T); the backward functions are the
exact adjoints of the forward; NaN and inf go where the module docstring says."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import random_array, requires_cupy, requires_numba, run_kernel

from minires.kernels import _chunks, im2col, winograd

IMPLS = ["reference", pytest.param("numba", marks=requires_numba), pytest.param("cupy", marks=requires_cupy)]
DTYPES = [np.float32, np.float64]

# id: (x_shape, C_out, padding, layout of x and gy)
CASES = {
    "7x5_p1": ((2, 3, 7, 5), 4, (1, 1), "contiguous"),
    "1x1_p1_batch1": ((1, 2, 1, 1), 3, (1, 1), "contiguous"),
    "6x8_p0": ((2, 3, 6, 8), 2, (0, 0), "transposed"),
    "5x4_p21_batch1": ((1, 2, 5, 4), 3, (2, 1), "strided"),
    "3x3_p2": ((2, 2, 3, 3), 3, (2, 2), "contiguous"),
    "5x6_p3": ((2, 2, 5, 6), 1, (3, 3), "transposed"),
}


# ---- the direct convolution, from im2col -----------------------------------------------------

IM2COL_ARGS = ((3, 3), (1, 1))  # kernel size, stride; then padding, then dilation (1, 1)


def direct_forward(x, w, padding):
    """y = w.reshape(C_out, -1) @ im2col(x), as (N, C_out, OH, OW)."""
    N, C_out = x.shape[0], w.shape[0]
    col = im2col.im2col_reference(x, *IM2COL_ARGS, padding, (1, 1))
    OH, OW = im2col.conv_output_size(*x.shape[2:], *IM2COL_ARGS, padding, (1, 1))
    return (w.reshape(C_out, -1) @ col).reshape(C_out, N, OH, OW).transpose(1, 0, 2, 3)


def direct_input_grad(gy, w, x_shape, padding):
    """gx = col2im(w^T @ gy)."""
    C_out = w.shape[0]
    gcol = w.reshape(C_out, -1).T @ gy.transpose(1, 0, 2, 3).reshape(C_out, -1)
    return im2col.col2im_reference(gcol, x_shape, *IM2COL_ARGS, padding, (1, 1))


def direct_weight_grad(x, gy, padding):
    """gw = gy @ col^T."""
    C_out = gy.shape[1]
    col = im2col.im2col_reference(x, *IM2COL_ARGS, padding, (1, 1))
    return (gy.transpose(1, 0, 2, 3).reshape(C_out, -1) @ col.T).reshape(C_out, x.shape[1], 3, 3)


def case_arrays(case, dtype, seed=0):
    """x, w, gy for a case: x and gy in the case's layout."""
    x_shape, C_out, padding, layout = CASES[case]
    x = random_array(x_shape, seed=seed, dtype=dtype, layout=layout)
    w = random_array((C_out, x_shape[1], 3, 3), seed=seed + 1, dtype=dtype)
    OH, OW = im2col.conv_output_size(*x_shape[2:], *IM2COL_ARGS, padding, (1, 1))
    gy = random_array((x_shape[0], C_out, OH, OW), seed=seed + 2, dtype=dtype, layout=layout)
    return x, w, gy


def assert_matches(got, want, context):
    """float64: 1e-10 of the largest entry; float32: 1e-4. Says the shapes and the max difference."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{context}: shape {got.shape}, want {want.shape}"
    assert got.dtype == want.dtype, f"{context}: dtype {got.dtype}, want {want.dtype}"
    scale = max(1.0, float(np.abs(want).max()))
    tol = 1e-10 if want.dtype == np.float64 else 1e-4
    difference = float(np.abs(got.astype(np.float64) - want).max())
    assert difference <= tol * scale, f"{context}: max |difference| {difference:.3g} > {tol * scale:.3g}"


# ---- agreement with the direct convolution ---------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_forward_matches_direct_convolution(impl, case, dtype):
    x, w, _ = case_arrays(case, dtype)
    padding = CASES[case][2]
    got = run_kernel(winograd, impl, "winograd_conv3x3_forward", x, w, padding)
    assert_matches(got, direct_forward(x, w, padding),
                   f"forward[{impl}] {case}: x {x.shape}, w {w.shape}, padding {padding}, {np.dtype(dtype)}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_input_grad_matches_col2im(impl, case, dtype):
    x, w, gy = case_arrays(case, dtype)
    padding = CASES[case][2]
    got = run_kernel(winograd, impl, "winograd_conv3x3_input_grad", gy, w, x.shape, padding)
    assert_matches(got, direct_input_grad(gy, w, x.shape, padding),
                   f"input_grad[{impl}] {case}: gy {gy.shape}, w {w.shape}, padding {padding}, {np.dtype(dtype)}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_weight_grad_matches_im2col(impl, case, dtype):
    x, _, gy = case_arrays(case, dtype)
    padding = CASES[case][2]
    got = run_kernel(winograd, impl, "winograd_conv3x3_weight_grad", x, gy, padding)
    assert_matches(got, direct_weight_grad(x, gy, padding),
                   f"weight_grad[{impl}] {case}: x {x.shape}, gy {gy.shape}, padding {padding}, {np.dtype(dtype)}")


# ---- the backward functions are the adjoints of the forward -----------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES)
def test_backward_is_the_adjoint_of_the_forward(impl, case):
    # y is linear in x and in w: <conv(dx, w), gy> == <dx, input_grad(gy, w)>, <conv(x, dw), gy> == <dw, weight_grad>
    x, w, gy = case_arrays(case, np.float64)
    padding = CASES[case][2]
    dx, dw = random_array(x.shape, seed=7), random_array(w.shape, seed=8)

    def forward(a, b):
        return run_kernel(winograd, impl, "winograd_conv3x3_forward", a, b, padding)

    left = np.vdot(forward(dx, w), gy)
    right = np.vdot(dx, run_kernel(winograd, impl, "winograd_conv3x3_input_grad", gy, w, x.shape, padding))
    np.testing.assert_allclose(left, right, rtol=1e-12, atol=1e-12,
                               err_msg=f"<conv(dx, w), gy> vs <dx, input_grad(gy, w)> [{impl}] {case}, x {x.shape}")
    left = np.vdot(forward(x, dw), gy)
    right = np.vdot(dw, run_kernel(winograd, impl, "winograd_conv3x3_weight_grad", x, gy, padding))
    np.testing.assert_allclose(left, right, rtol=1e-12, atol=1e-12,
                               err_msg=f"<conv(x, dw), gy> vs <dw, weight_grad(x, gy)> [{impl}] {case}, x {x.shape}")


# ---- chunks: many of them, on two workers, give the one-chunk result, the same every run ------


@requires_numba
def test_numba_chunks_agree_and_are_deterministic():
    x = random_array((7, 3, 6, 5), seed=0)
    w = random_array((4, 3, 3, 3), seed=1)
    gy = random_array((7, 4, 6, 5), seed=2)
    one_chunk = (winograd.winograd_conv3x3_forward_numba(x, w, (1, 1)),
                 winograd.winograd_conv3x3_input_grad_numba(gy, w, x.shape, (1, 1)),
                 winograd.winograd_conv3x3_weight_grad_numba(x, gy, (1, 1)))
    old_workspace = _chunks.workspace_bytes()
    _chunks.set_workers(2)
    _chunks.set_workspace_bytes(1)  # the least: one image a chunk, 7 chunks on 2 workers
    try:
        runs = [(winograd.winograd_conv3x3_forward_numba(x, w, (1, 1)),
                 winograd.winograd_conv3x3_input_grad_numba(gy, w, x.shape, (1, 1)),
                 winograd.winograd_conv3x3_weight_grad_numba(x, gy, (1, 1))) for _ in range(2)]
    finally:
        _chunks.set_workspace_bytes(old_workspace)
        _chunks.set_workers(1)
    for name, single, first, second in zip(("forward", "input_grad", "weight_grad"),
                                           one_chunk, *runs, strict=True):
        assert_matches(first, single, f"{name}_numba, 1-image chunks vs one chunk, x {x.shape}")
        np.testing.assert_array_equal(first, second, err_msg=f"{name}_numba: two runs differ")


@requires_numba
def test_numba_backward_makes_both_gradients_as_the_single_kernels_do():
    """winograd_conv3x3_backward_numba shares gM between gx and gw: with both asked for it gives
    exactly what it gives for each alone, and the references' values, on several chunks."""
    x = random_array((5, 3, 7, 6), seed=0)
    w = random_array((4, 3, 3, 3), seed=1)
    gy = random_array((5, 4, 7, 6), seed=2)
    old_workspace = _chunks.workspace_bytes()
    _chunks.set_workspace_bytes(1)  # one image a chunk
    try:
        gx, gw = winograd.winograd_conv3x3_backward_numba(x, gy, w, (1, 1))
        gx_alone = winograd.winograd_conv3x3_backward_numba(None, gy, w, (1, 1), x.shape)
        gw_alone = winograd.winograd_conv3x3_backward_numba(x, gy, None, (1, 1))
    finally:
        _chunks.set_workspace_bytes(old_workspace)
    assert gx_alone[1] is None and gw_alone[0] is None
    np.testing.assert_array_equal(gx, gx_alone[0], err_msg="gx with gw vs gx alone")
    np.testing.assert_array_equal(gw, gw_alone[1], err_msg="gw with gx vs gw alone")
    assert_matches(gx, winograd.winograd_conv3x3_input_grad_reference(gy, w, x.shape, (1, 1)), "backward gx")
    assert_matches(gw, winograd.winograd_conv3x3_weight_grad_reference(x, gy, (1, 1)), "backward gw")


# ---- NaN and infinity ------------------------------------------------------------------------


def covering_tiles_mask(bad, padding, OH, OW, m=2):
    """outputs (n, oh, ow) whose tile's (m+2)x(m+2) window covers a non-finite input pixel (any channel).
    bad: (N, C, H, W) bool -> (N, OH, OW) bool"""
    N, _, H, W = bad.shape
    TH, TW = -(-OH // m), -(-OW // m)
    padded = np.zeros((N, m * TH + 2, m * TW + 2), dtype=bool)
    padded[:, padding[0] : padding[0] + H, padding[1] : padding[1] + W] = bad.any(axis=1)
    tiles = np.zeros((N, TH, TW), dtype=bool)
    for a in range(m + 2):
        for b in range(m + 2):
            tiles |= padded[:, a : a + m * TH : m, b : b + m * TW : m]
    return tiles.repeat(m, axis=1).repeat(m, axis=2)[:, :OH, :OW]


TILE_SIZE = {"reference": 2, "numba": 4, "cupy": 2}  # m of F(m x m, 3x3) in each implementation


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", ["7x5_p1", "6x8_p0", "5x4_p21_batch1"])
def test_nan_and_inf_go_where_the_docstring_says(impl, case, dtype):
    x, w, _ = case_arrays(case, dtype)
    padding = CASES[case][2]
    context = f"forward[{impl}] {case}: x {x.shape}, padding {padding}, {np.dtype(dtype)}"
    x = np.array(x)  # a copy, to plant NaN and inf in
    x[0, 0, 1, 2] = np.nan
    x[-1, -1, -1, 0] = np.inf
    x[0, -1, 0, -1] = -np.inf
    want = direct_forward(x, w, padding)
    got = run_kernel(winograd, impl, "winograd_conv3x3_forward", x, w, padding)
    direct_bad = ~np.isfinite(want)
    if impl == "cupy":
        # F(2x2), only nonzero terms added: non-finite exactly where the direct convolution is (NaN or inf may differ)
        np.testing.assert_array_equal(~np.isfinite(got), direct_bad, err_msg=f"{context}: non-finite outputs")
        finite = ~direct_bad
        assert_matches(got[finite], want[finite], f"{context}, the finite outputs")
    else:
        # the tile's other outputs may turn non-finite too (reference: 0 * NaN = NaN; numba: F(4x4) mixes more), no others
        allowed = covering_tiles_mask(~np.isfinite(x), padding, *want.shape[2:], m=TILE_SIZE[impl])[:, None]
        assert np.all(~np.isfinite(got)[direct_bad]), f"{context}: a non-finite direct output came out finite"
        assert not np.any(~np.isfinite(got) & ~allowed), f"{context}: non-finite outside the tiles covering the inputs"
        others = np.broadcast_to(~allowed, got.shape)  # the outputs of the tiles no bad input reaches
        if others.any():
            assert_matches(got[others], want[others], f"{context}, the outputs of the other tiles")

    # NaN alone: NaN in exactly the outputs whose 3x3 window covers it (cupy), as the direct conv's; at least those (others)
    x_nan = np.where(np.isinf(x), 0, x)
    want_nan = np.isnan(direct_forward(x_nan, w, padding))
    got_nan = np.isnan(run_kernel(winograd, impl, "winograd_conv3x3_forward", x_nan, w, padding))
    if impl == "cupy":
        np.testing.assert_array_equal(got_nan, want_nan, err_msg=f"{context}: NaN outputs, NaN input only")
    else:
        assert np.all(got_nan[want_nan]), f"{context}: a NaN of the direct convolution is missing"


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_finite_inputs_give_finite_outputs(impl, dtype):
    x, w, gy = case_arrays("7x5_p1", dtype)
    x, gy = 1e3 * np.asarray(x), 1e3 * np.asarray(gy)  # large, but far from overflow
    padding = CASES["7x5_p1"][2]
    for name, args in [("forward", (x, w, padding)), ("input_grad", (gy, w, x.shape, padding)),
                       ("weight_grad", (x, gy, padding))]:
        got = run_kernel(winograd, impl, f"winograd_conv3x3_{name}", *args)
        assert np.all(np.isfinite(got)), f"{name}[{impl}], finite inputs gave non-finite outputs, {np.dtype(dtype)}"


# ---- small things ----------------------------------------------------------------------------


def test_winograd_applies_to_3x3_stride_1_convolutions_only():
    assert winograd.winograd_applies((8, 4, 3, 3), (1, 1), (1, 1), 1)
    assert winograd.winograd_applies((8, 4, 3, 3), [1, 1], [1, 1], 1)
    assert not winograd.winograd_applies((8, 4, 3, 3), (2, 2), (1, 1), 1), "stride 2"
    assert not winograd.winograd_applies((8, 4, 3, 3), (1, 1), (2, 2), 1), "dilation 2"
    assert not winograd.winograd_applies((8, 2, 3, 3), (1, 1), (1, 1), 2), "groups 2"
    assert not winograd.winograd_applies((8, 4, 1, 1), (1, 1), (1, 1), 1), "1x1 kernel"
    assert not winograd.winograd_applies((8, 4, 5, 5), (1, 1), (1, 1), 1), "5x5 kernel"


def test_too_small_an_input_is_an_error():
    with pytest.raises(ValueError, match="does not fit"):
        winograd.winograd_conv3x3_forward_reference(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)), (0, 0))


@pytest.mark.parametrize("m", [2, 4])
def test_matrices_compute_f_m3(m):
    # the 1-D identity behind it all: A^T [(G g) * (B^T d)] = (g . d[0:3], g . d[1:4], ..., g . d[m-1:m+2])
    g, d = random_array((3,), seed=0), random_array((m + 2,), seed=1)
    want = [g @ d[k : k + 3] for k in range(m)]
    B_t, G, A_t = winograd.MATRICES[m]
    np.testing.assert_allclose(A_t @ ((G @ g) * (B_t @ d)), want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("case", CASES)
def test_reference_f4_matches_f2(case):
    x, w, gy = case_arrays(case, np.float64)
    padding = CASES[case][2]
    for name, args in [("forward", (x, w, padding)), ("input_grad", (gy, w, x.shape, padding)),
                       ("weight_grad", (x, gy, padding))]:
        f = getattr(winograd, f"winograd_conv3x3_{name}_reference")
        assert_matches(f(*args, m=4), f(*args), f"{name}_reference m=4 vs m=2, {case}")


# ---- NUMBA_DISABLE_JIT=1: the loops are plain Python, and still right --------------------------

DISABLE_JIT_SCRIPT = textwrap.dedent(
    """
    import types
    import numpy as np
    from minires.kernels import winograd as wg

    for name in ("weight_transform", "weight_grad_transform", "input_transform", "output_transform",
                 "output_grad_transform", "input_grad_scatter"):
        jitted, loops = getattr(wg, f"_{name}_jit"), getattr(wg, f"_{name}_loops")
        assert jitted is loops and isinstance(jitted, types.FunctionType), (name, type(jitted))

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 3, 5)), rng.standard_normal((3, 2, 3, 3))
    for padding in ((1, 1), (3, 0)):
        y = wg.winograd_conv3x3_forward_numba(x, w, padding)
        gy = rng.standard_normal(y.shape)
        checks = [
            ("forward", y, wg.winograd_conv3x3_forward_reference(x, w, padding, m=4)),
            ("input_grad", wg.winograd_conv3x3_input_grad_numba(gy, w, x.shape, padding),
             wg.winograd_conv3x3_input_grad_reference(gy, w, x.shape, padding, m=4)),
            ("weight_grad", wg.winograd_conv3x3_weight_grad_numba(x, gy, padding),
             wg.winograd_conv3x3_weight_grad_reference(x, gy, padding, m=4)),
        ]
        for name, got, want in checks:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{name}_numba (jit disabled) vs reference, padding {padding}")
    print("ok")
    """
)


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")
def test_numba_loops_are_plain_python_with_jit_disabled():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    result = subprocess.run([sys.executable, "-c", DISABLE_JIT_SCRIPT], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", (
        f"NUMBA_DISABLE_JIT=1 subprocess failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
