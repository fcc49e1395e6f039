"""im2col / col2im: numba and cupy agree with the NumPy reference; the reference agrees with
PyTorch (F.unfold / F.fold); col2im is the true adjoint of im2col."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import DTYPES, IMPLS, TOL, random_array, requires_numba, run_kernel

from minires.kernels import im2col

# id: (x_shape, kernel_size, stride, padding, dilation, layout of x)
CASES = {
    "3x3_s1_p1": ((2, 3, 5, 5), (3, 3), (1, 1), (1, 1), (1, 1), "contiguous"),
    "3x3_s2_p1_7x9": ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), "transposed"),
    "1x1_s2_p0": ((2, 4, 6, 5), (1, 1), (2, 2), (0, 0), (1, 1), "contiguous"),
    "7x7_s2_p3_batch1": ((1, 3, 11, 13), (7, 7), (2, 2), (3, 3), (1, 1), "strided"),
    "3x3_dilation2_p2": ((2, 2, 7, 8), (3, 3), (1, 1), (2, 2), (2, 2), "contiguous"),
    "2x3_s21_p01_d12": ((2, 3, 6, 7), (2, 3), (2, 1), (0, 1), (1, 2), "contiguous"),
}




def col_shape(x_shape, kernel_size, stride, padding, dilation):
    N, C, H, W = x_shape
    OH, OW = im2col.conv_output_size(H, W, kernel_size, stride, padding, dilation)
    return (C * kernel_size[0] * kernel_size[1], N * OH * OW)


def test_im2col_worked_example_from_the_docstring():
    # C=1, a 3x3 image a..i = 1..9, a 2x2 kernel, stride 1: each column one patch, each row one offset
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    want = np.array([[1, 2, 4, 5],   # offset (0,0): a b d e
                     [2, 3, 5, 6],   # offset (0,1): b c e f
                     [4, 5, 7, 8],   # offset (1,0): d e g h
                     [5, 6, 8, 9]])  # offset (1,1): e f h i
    col = im2col.im2col_reference(x, (2, 2), (1, 1), (0, 0), (1, 1))
    np.testing.assert_array_equal(col, want, err_msg="im2col_reference, the worked example")
    # col2im adds each entry back where it came from: e (= 5) was copied 4 times
    counts = im2col.col2im_reference(np.ones((4, 4)), (1, 1, 3, 3), (2, 2), (1, 1), (0, 0), (1, 1))
    np.testing.assert_array_equal(counts[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]], err_msg="col2im_reference counts")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_im2col_agrees_with_reference(impl, case, dtype):
    x_shape, kernel_size, stride, padding, dilation, layout = CASES[case]
    x = random_array(x_shape, seed=0, dtype=dtype, layout=layout)
    want = im2col.im2col_reference(x, kernel_size, stride, padding, dilation)
    got = run_kernel(im2col, impl, "im2col", x, kernel_size, stride, padding, dilation)
    assert got.dtype == dtype, f"im2col[{impl}] {case}: dtype {got.dtype}, want {np.dtype(dtype)}"
    np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"im2col[{impl}] vs reference, {case}, x {x_shape} "
                               f"{np.dtype(dtype)} {layout}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_col2im_agrees_with_reference(impl, case, dtype):
    x_shape, kernel_size, stride, padding, dilation, layout = CASES[case]
    col = random_array(col_shape(*CASES[case][:5]), seed=1, dtype=dtype, layout=layout)
    want = im2col.col2im_reference(col, x_shape, kernel_size, stride, padding, dilation)
    got = run_kernel(im2col, impl, "col2im", col, x_shape, kernel_size, stride, padding, dilation)
    assert got.dtype == dtype, f"col2im[{impl}] {case}: dtype {got.dtype}, want {np.dtype(dtype)}"
    np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"col2im[{impl}] vs reference, {case}, x {x_shape} "
                               f"{np.dtype(dtype)} {layout}")


@pytest.mark.parametrize("impl", ["reference", pytest.param("numba", marks=requires_numba)])
@pytest.mark.parametrize("case", CASES)
def test_col2im_is_the_adjoint_of_im2col(impl, case):
    # <im2col(x), c> == <x, col2im(c)> for every x and c: the definition of the adjoint (= the transpose)
    x_shape, kernel_size, stride, padding, dilation, _ = CASES[case]
    x = random_array(x_shape, seed=2)
    c = random_array(col_shape(*CASES[case][:5]), seed=3)
    left = np.vdot(run_kernel(im2col, impl, "im2col", x, kernel_size, stride, padding, dilation), c)
    right = np.vdot(x, run_kernel(im2col, impl, "col2im", c, x_shape, kernel_size, stride, padding, dilation))
    np.testing.assert_allclose(left, right, rtol=1e-12, err_msg=f"<im2col(x), c> vs <x, col2im(c)> [{impl}], {case}")


def _col_from_unfold(unfolded):
    """F.unfold's (N, C*KH*KW, L) -> minires's (C*KH*KW, N*L)."""
    N, CKK, L = unfolded.shape
    return unfolded.permute(1, 0, 2).reshape(CKK, N * L).numpy()


@pytest.mark.parametrize("case", CASES)
def test_im2col_reference_matches_torch_unfold(case):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the reference")
    x_shape, kernel_size, stride, padding, dilation, layout = CASES[case]
    x = random_array(x_shape, seed=0, layout=layout)
    want = _col_from_unfold(torch.nn.functional.unfold(torch.from_numpy(np.ascontiguousarray(x)), kernel_size,
                                                       dilation=dilation, padding=padding, stride=stride))
    got = im2col.im2col_reference(x, kernel_size, stride, padding, dilation)
    np.testing.assert_allclose(got, want, **TOL[np.float64], err_msg=f"im2col_reference vs F.unfold, {case}")


@pytest.mark.parametrize("case", CASES)
def test_col2im_reference_matches_torch_fold(case):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the reference")
    x_shape, kernel_size, stride, padding, dilation, _ = CASES[case]
    col = random_array(col_shape(*CASES[case][:5]), seed=1)
    N = x_shape[0]
    unfolded = torch.from_numpy(col).reshape(col.shape[0], N, -1).permute(1, 0, 2)  # (N, C*KH*KW, L)
    want = torch.nn.functional.fold(unfolded, x_shape[2:], kernel_size, dilation=dilation, padding=padding,
                                    stride=stride).numpy()
    got = im2col.col2im_reference(col, x_shape, kernel_size, stride, padding, dilation)
    np.testing.assert_allclose(got, want, **TOL[np.float64], err_msg=f"col2im_reference vs F.fold, {case}")


def test_conv_output_size_says_what_does_not_fit():
    with pytest.raises(ValueError, match=r"kernel 7x7 with dilation \(1, 1\) does not fit input 3x3 padded by \(1, 1\)"):
        im2col.conv_output_size(3, 3, (7, 7), (1, 1), (1, 1), (1, 1))


def test_col2im_rejects_a_col_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"col2im: col must be .* = \(27, 50\) .* got \(27, 49\)"):
        im2col.col2im_reference(np.zeros((27, 49)), (2, 3, 5, 5), (3, 3), (1, 1), (1, 1), (1, 1))


# ---- NaN and infinity: the same non-finite results as the reference ---------------------------


def plant_nonfinite(x, seed, fraction=0.2):
    """x with about `fraction` of its entries (chosen at random) set to NaN, +inf or -inf, in place."""
    rng = np.random.default_rng(seed)
    hit = rng.random(x.shape) < fraction
    x[hit] = rng.choice([np.nan, np.inf, -np.inf], size=int(hit.sum()))
    return x


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", ["3x3_s2_p1_7x9", "7x7_s2_p3_batch1", "2x3_s21_p01_d12"])
def test_im2col_and_col2im_propagate_nan_and_inf_as_the_reference(impl, case, dtype):
    x_shape, kernel_size, stride, padding, dilation, layout = CASES[case]
    args = (kernel_size, stride, padding, dilation)
    x = plant_nonfinite(random_array(x_shape, seed=0, dtype=dtype, layout=layout), seed=5)
    col = plant_nonfinite(random_array(col_shape(x_shape, *args), seed=1, dtype=dtype, layout=layout), seed=6)
    context = f"[{impl}] with NaN/inf, {case}, {np.dtype(dtype)} {layout}"
    # im2col only copies: exactly equal, NaN where NaN was; col2im sums: NaN or the same inf, finite within TOL
    np.testing.assert_array_equal(run_kernel(im2col, impl, "im2col", x, *args), im2col.im2col_reference(x, *args),
                                  err_msg=f"im2col{context}")
    with np.errstate(invalid="ignore"):  # inf + -inf in the reference's sums
        want = im2col.col2im_reference(col, x_shape, *args)
    np.testing.assert_allclose(run_kernel(im2col, impl, "col2im", col, x_shape, *args), want, **TOL[dtype],
                               err_msg=f"col2im{context}")
