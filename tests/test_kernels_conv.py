"""kernels/conv.py: the fast convolution (chunks, threads, the stride-1 input gradient as a
convolution) computes the reference's four equations, on awkward shapes and with NaN/inf."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import IMPLS, random_array, run_kernel

from minires import backend
from minires.kernels import _chunks, conv

# id: (x_shape, w_shape, stride, padding, dilation, groups)
CASES = {
    "3x3_s1_p1": ((2, 3, 5, 5), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "3x3_s2_p1_odd": ((3, 2, 7, 9), (5, 2, 3, 3), (2, 2), (1, 1), (1, 1), 1),
    "batch1_1x1_s2": ((1, 4, 6, 5), (3, 4, 1, 1), (2, 2), (0, 0), (1, 1), 1),
    "2x3_s21_p1_d2": ((2, 2, 7, 8), (3, 2, 2, 3), (2, 1), (1, 1), (2, 2), 1),
    "groups2_s1_p2": ((2, 4, 6, 6), (6, 2, 3, 3), (1, 1), (2, 2), (1, 1), 2),
    "3x3_s1_p0": ((2, 3, 6, 7), (2, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),
}
TOL = {np.float32: {"rtol": 1e-4, "atol": 1e-5}, np.float64: {"rtol": 1e-11, "atol": 1e-11}}


@pytest.fixture(params=[(1, 2**30), (2, 1)], ids=["one_chunk", "chunk_per_image_two_workers"])
def chunking(request):
    workers, workspace = request.param
    default = _chunks.workspace_bytes()
    _chunks.set_workers(workers)
    _chunks.set_workspace_bytes(workspace)
    yield
    _chunks.set_workers(1)
    _chunks.set_workspace_bytes(default)


def inputs(case, dtype, layout="contiguous"):
    x_shape, w_shape, stride, padding, dilation, groups = CASES[case]
    x = random_array(x_shape, seed=0, dtype=dtype, layout=layout)
    w = random_array(w_shape, seed=1, dtype=dtype)
    y_shape = conv.conv2d_forward_reference(x, w, stride, padding, dilation, groups).shape
    gy = random_array(y_shape, seed=2, dtype=dtype, layout=layout)
    return x, w, gy, (stride, padding, dilation, groups)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_fast_convolution_agrees_with_the_four_equations(chunking, case, dtype, layout, impl):
    x, w, gy, geometry = inputs(case, dtype, layout)
    context = f"conv2d {impl} vs reference, {case}, {np.dtype(dtype)}, {layout}"
    pairs = [
        ("y", run_kernel(conv, impl, "conv2d_forward", x, w, *geometry), conv.conv2d_forward_reference(x, w, *geometry)),
        ("gw", run_kernel(conv, impl, "conv2d_weight_grad", x, gy, w.shape, *geometry),
         conv.conv2d_weight_grad_reference(x, gy, w.shape, *geometry)),
        ("gx", run_kernel(conv, impl, "conv2d_input_grad", gy, w, x.shape, *geometry),
         conv.conv2d_input_grad_reference(gy, w, x.shape, *geometry)),
    ]
    for name, got, want in pairs:
        assert got.shape == want.shape and got.dtype == want.dtype, f"{context}: {name} {got.shape} {got.dtype}"
        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"{context}: {name}")


@pytest.mark.parametrize("case", ["3x3_s1_p1", "3x3_s2_p1_odd"])
@pytest.mark.skipif(not backend.numba_available(), reason="numba is not installed")
def test_numba_convolution_propagates_nan_and_inf_as_the_reference(chunking, case):
    x, w, gy, geometry = inputs(case, np.float64)
    x[0, 0, 1, 2], x[-1, -1, 3, 3] = np.nan, np.inf
    gy[0, 0, 1, 1] = -np.inf
    with np.errstate(all="ignore"):
        for name in ("forward", "weight_grad", "input_grad"):
            args = {"forward": (x, w), "weight_grad": (x, gy, w.shape), "input_grad": (gy, w, x.shape)}[name]
            got = getattr(conv, f"conv2d_{name}_numba")(*args, *geometry)
            want = getattr(conv, f"conv2d_{name}_reference")(*args, *geometry)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{case}: {name} NaN positions")
            np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=f"{case}: {name} inf positions")
            finite = np.isfinite(want)
            np.testing.assert_allclose(got[finite], want[finite], **TOL[np.float64], err_msg=f"{case}: {name}")


@pytest.mark.skipif(not backend.numba_available(), reason="numba is not installed")
def test_the_public_kernels_choose_by_array_and_environment(monkeypatch):
    x, w, gy, geometry = inputs("3x3_s1_p1", np.float64)
    for kernels in ("reference", "numba"):
        monkeypatch.setenv("MINIRES_KERNELS", kernels)
        conv.conv2d_forward(x, w, *geometry)
        conv.conv2d_backward(x, gy, w, *geometry)
        assert {backend.last_used[k] for k in ("conv2d_forward", "conv2d_input_grad", "conv2d_weight_grad")} == \
            {kernels}


@pytest.mark.parametrize(("channels", "out_hw", "pays"), [
    (8, (32, 32), False), (16, (4, 4), True), (128, (4, 4), True), (256, (8, 8), True), (256, (6, 6), False),
    (512, (4, 4), False), (512, (2, 2), False), (512, (8, 8), True)])
def test_winograd_pays_by_channels_and_above_128_channels_by_output_size(channels, out_hw, pays):
    w_shape = (channels, channels, 3, 3)
    assert conv.winograd_pays(w_shape, (1, 1), (1, 1), 1, out_hw) is pays, (channels, out_hw)
    assert not conv.winograd_pays(w_shape, (2, 2), (1, 1), 1, out_hw), "stride 2: never"


@pytest.mark.skipif(not backend.numba_available(), reason="numba is not installed")
@pytest.mark.parametrize("need", [(True, True), (True, False), (False, True)], ids=["gx+gw", "gx", "gw"])
@pytest.mark.parametrize("channels", [8, 16, 32])
def test_winograd_is_the_fast_path_from_16_channels_and_gives_the_reference(channels, need, monkeypatch):
    """Through the public kernels: 3x3 stride-1 convolutions with 16 channels or more take
    Winograd (each gradient alone too), and agree with the reference's four
    equations; a gradient not asked for is None."""
    from minires.kernels import winograd

    x = random_array((2, channels, 5, 7), seed=0)
    w = random_array((channels, channels, 3, 3), seed=1)
    gy = random_array((2, channels, 5, 7), seed=2)
    geometry = ((1, 1), (1, 1), (1, 1), 1)
    called = []
    for name in ("forward", "backward"):
        original = getattr(winograd, f"winograd_conv3x3_{name}_numba")
        monkeypatch.setattr(winograd, f"winograd_conv3x3_{name}_numba",
                            lambda *a, _f=original, _n=name: called.append(_n) or _f(*a))
    monkeypatch.setenv("MINIRES_KERNELS", "numba")
    need_gx, need_gw = need
    got = (conv.conv2d_forward(x, w, *geometry), *conv.conv2d_backward(x, gy, w, *geometry, need_gx, need_gw))
    want = (conv.conv2d_forward_reference(x, w, *geometry),
            conv.conv2d_input_grad_reference(gy, w, x.shape, *geometry) if need_gx else None,
            conv.conv2d_weight_grad_reference(x, gy, w.shape, *geometry) if need_gw else None)
    assert called == ["forward", "backward"] * (channels >= 16)
    for name, g, r in zip(("y", "gx", "gw"), got, want):
        if r is None:
            assert g is None, f"winograd path, {channels} channels: {name} was not asked for"
        else:
            np.testing.assert_allclose(g, r, **TOL[np.float64], err_msg=f"winograd path, {channels} channels: {name}")
