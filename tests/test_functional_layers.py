"""conv2d, pooling and batch_norm through nn.functional: gradchecked in float64 with random
cotangents on both CPU kernel implementations, and compared with torch.nn.functional."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import assert_close, random_array, random_tensor

import minires as mr
import minires.nn.functional as F
from minires import backend
from minires.kernels import _chunks

IMPLEMENTATIONS = ["reference", pytest.param("numba", marks=pytest.mark.skipif(
    not backend.numba_available(), reason="numba is not installed"))]


@pytest.fixture(params=IMPLEMENTATIONS)
def kernels(request, monkeypatch):
    """Run the test with MINIRES_KERNELS set to one CPU implementation."""
    monkeypatch.setenv("MINIRES_KERNELS", request.param)
    return request.param


def bn_train(x, gamma, beta):
    return F.batch_norm(x, None, None, gamma, beta, training=True)


def bn_eval(x, gamma, beta):
    c = x.shape[1]
    mean = mr.tensor(np.linspace(-0.5, 0.5, c))
    var = mr.tensor(np.linspace(0.5, 2.0, c))
    return F.batch_norm(x, mean, var, gamma, beta, training=False)


# name -> (fn, input shapes): every shape letter is small so the numerical gradient is quick
CASES = {
    "conv_3x3_p1": (partial(F.conv2d, padding=1), [(2, 3, 5, 5), (4, 3, 3, 3), (4,)]),
    "conv_3x3_s2_p1_odd": (partial(F.conv2d, stride=2, padding=1), [(2, 3, 7, 9), (4, 3, 3, 3)]),
    "conv_1x1_s2": (partial(F.conv2d, stride=2), [(2, 4, 6, 6), (3, 4, 1, 1), (3,)]),
    "conv_1x1_p1_col2im_path": (partial(F.conv2d, padding=1), [(2, 3, 4, 4), (2, 3, 1, 1)]),
    "conv_7x7_s2_p3_batch1": (partial(F.conv2d, stride=2, padding=3), [(1, 2, 9, 9), (2, 2, 7, 7)]),
    "conv_dilation2": (partial(F.conv2d, padding=2, dilation=2), [(2, 2, 6, 5), (3, 2, 3, 3)]),
    "conv_groups2": (partial(F.conv2d, padding=1, groups=2), [(2, 4, 5, 5), (6, 2, 3, 3), (6,)]),
    "conv_depthwise_s2": (partial(F.conv2d, stride=2, padding=1, groups=3), [(1, 3, 6, 6), (3, 1, 3, 3)]),
    "conv_rect_kernel_asym": (partial(F.conv2d, stride=(2, 1), padding=(1, 0)), [(2, 2, 5, 6), (2, 2, 3, 2)]),
    "max_pool_2x2": (partial(F.max_pool2d, kernel_size=2), [(2, 3, 6, 6)]),
    "max_pool_3x3_s2_p1_odd": (partial(F.max_pool2d, kernel_size=3, stride=2, padding=1), [(2, 2, 7, 9)]),
    "avg_pool_2x2": (partial(F.avg_pool2d, kernel_size=2), [(2, 3, 6, 6)]),
    "avg_pool_3x3_s1_p1": (partial(F.avg_pool2d, kernel_size=3, stride=1, padding=1), [(1, 2, 5, 7)]),
    "adaptive_avg_1x1": (partial(F.adaptive_avg_pool2d, output_size=1), [(2, 3, 5, 7)]),
    "adaptive_avg_2x2": (partial(F.adaptive_avg_pool2d, output_size=(2, 2)), [(2, 3, 4, 6)]),
    "batch_norm_train": (bn_train, [(4, 3, 5, 5), (3,), (3,)]),
    "batch_norm_train_batch1": (bn_train, [(1, 2, 3, 3), (2,), (2,)]),
    "batch_norm_eval": (bn_eval, [(3, 3, 4, 4), (3,), (3,)]),
    "relu_of_conv_plus_residual": (
        lambda x, w: F.relu(F.add(F.conv2d(x, w, padding=1), x)), [(2, 2, 4, 4), (2, 2, 3, 3)]),
}


@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name, kernels):
    fn, shapes = CASES[name]
    inputs = [random_tensor(s, seed=i, layout="transposed" if i == 0 else "contiguous") for i, s in enumerate(shapes)]
    assert mr.gradcheck(fn, *inputs, name=f"{name}[{kernels}]")


def test_conv_in_chunks_matches_one_chunk(kernels, monkeypatch):
    """One thread and a big workspace make one chunk; a tiny workspace forces one image
    per chunk, the chunks running side by side on the CPU threads: the results must agree."""
    x, w, b = random_tensor((3, 2, 5, 5)), random_tensor((4, 2, 3, 3), seed=1), random_tensor((4,), seed=2)
    gy = random_array((3, 4, 3, 3), seed=3)
    results, default_limit = [], _chunks.workspace_bytes()
    for limit, workers in ((2**30, 1), (1, 2)):
        _chunks.set_workspace_bytes(limit)
        _chunks.set_workers(workers)
        try:
            for t in (x, w, b):
                t.zero_grad()
            y = F.conv2d(x, w, b, stride=2, padding=1)
            assert len(_chunks.image_chunks(3, 2 * 3 * 3 * 3 * 3 * 8)) == (1 if limit > 1 else 3)
            y.backward(gy)
            results.append([y.numpy().copy(), x.grad, w.grad, b.grad])
        finally:
            _chunks.set_workspace_bytes(default_limit)
            _chunks.set_workers(1)
    for got, want, what in zip(results[1], results[0], ["y", "gx", "gw", "gb"]):
        assert_close(got, want, f"conv2d chunked vs whole batch: {what}")
    mr.gradcheck(lambda x, w: F.conv2d(x, w, padding=1), x, w)  # also numerically right in chunks


def test_running_statistics_follow_pytorch_convention():
    x = random_tensor((4, 3, 2, 2), requires_grad=False)
    mean, var = mr.zeros(3, dtype=np.float64), mr.ones(3, dtype=np.float64)
    F.batch_norm(x, mean, var, training=True, momentum=0.1)
    batch = x.numpy()
    assert_close(mean.numpy(), 0.1 * batch.mean(axis=(0, 2, 3)), "running_mean", rtol=1e-10)
    assert_close(var.numpy(), 0.9 + 0.1 * batch.var(axis=(0, 2, 3), ddof=1), "running_var (unbiased)", rtol=1e-10)


def test_which_implementation_ran(kernels):
    F.conv2d(mr.zeros(1, 1, 3, 3), mr.zeros(1, 1, 2, 2))
    assert backend.last_used["conv2d_forward"] == kernels


# ---------------------------------------------------------------- clear errors


def test_conv2d_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"input must be \(N, C, H, W\), got shape \(3, 5, 5\)"):
        F.conv2d(mr.zeros(3, 5, 5), mr.zeros(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"input \(1, 4, 5, 5\) has 4 channels, but weight \(2, 3, 3, 3\) with groups=1 expects 3"):
        F.conv2d(mr.zeros(1, 4, 5, 5), mr.zeros(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"bias must be \(C_out,\) = \(2,\), got shape \(3,\)"):
        F.conv2d(mr.zeros(1, 3, 5, 5), mr.zeros(2, 3, 3, 3), mr.zeros(3))
    with pytest.raises(ValueError, match="groups=2 must be a positive int dividing C_out = 3"):
        F.conv2d(mr.zeros(1, 4, 5, 5), mr.zeros(3, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        F.conv2d(mr.zeros(1, 3, 5, 5), mr.zeros(2, 3, 3, 3), stride=0)
    with pytest.raises(ValueError, match="7"):
        F.conv2d(mr.zeros(1, 3, 3, 3), mr.zeros(2, 3, 7, 7))  # kernel larger than the padded input
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        F.conv2d(mr.zeros(1, 3, 5, 5), mr.zeros(2, 3, 3, 3, dtype=np.float64))


def test_batch_norm_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"running_mean must be \(C,\) = \(3,\) for input \(2, 3, 4, 4\), got \(4,\)"):
        F.batch_norm(mr.zeros(2, 3, 4, 4), mr.zeros(4), mr.ones(3), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(mr.zeros(1, 3, 1, 1), None, None, training=True)
    with pytest.raises(ValueError, match="training=False needs running_mean and running_var"):
        F.batch_norm(mr.zeros(2, 3, 4, 4), None, None)


def test_pool_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"padding \(2, 2\) must be at most half the kernel \(3, 3\)"):
        F.max_pool2d(mr.zeros(1, 1, 8, 8), 3, padding=2)
    with pytest.raises(NotImplementedError, match=r"output size \(3, 3\) must divide the input's \(4, 4\)"):
        F.adaptive_avg_pool2d(mr.zeros(1, 1, 4, 4), 3)


# ---------------------------------------------------------------- PyTorch parity


def torch_cases():
    t = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    TF = t.nn.functional
    return t, {
        "conv_3x3_p1": (partial(TF.conv2d, padding=1), "conv_3x3_p1"),
        "conv_3x3_s2_p1_odd": (partial(TF.conv2d, stride=2, padding=1), "conv_3x3_s2_p1_odd"),
        "conv_1x1_s2": (partial(TF.conv2d, stride=2), "conv_1x1_s2"),
        "conv_7x7_s2_p3_batch1": (partial(TF.conv2d, stride=2, padding=3), "conv_7x7_s2_p3_batch1"),
        "conv_dilation2": (partial(TF.conv2d, padding=2, dilation=2), "conv_dilation2"),
        "conv_groups2": (partial(TF.conv2d, padding=1, groups=2), "conv_groups2"),
        "conv_depthwise_s2": (partial(TF.conv2d, stride=2, padding=1, groups=3), "conv_depthwise_s2"),
        "max_pool_3x3_s2_p1_odd": (partial(TF.max_pool2d, kernel_size=3, stride=2, padding=1),
                                   "max_pool_3x3_s2_p1_odd"),
        "avg_pool_3x3_s1_p1": (partial(TF.avg_pool2d, kernel_size=3, stride=1, padding=1), "avg_pool_3x3_s1_p1"),
        "adaptive_avg_1x1": (partial(TF.adaptive_avg_pool2d, output_size=1), "adaptive_avg_1x1"),
        "adaptive_avg_2x2": (partial(TF.adaptive_avg_pool2d, output_size=(2, 2)), "adaptive_avg_2x2"),
        "batch_norm_train": (lambda x, g, b: TF.batch_norm(x, None, None, g, b, training=True), "batch_norm_train"),
        "batch_norm_eval": (lambda x, g, b: TF.batch_norm(
            x, t.linspace(-0.5, 0.5, x.shape[1], dtype=t.float64), t.linspace(0.5, 2.0, x.shape[1], dtype=t.float64),
            g, b, training=False), "batch_norm_eval"),
    }


PARITY = ["conv_3x3_p1", "conv_3x3_s2_p1_odd", "conv_1x1_s2", "conv_7x7_s2_p3_batch1", "conv_dilation2",
          "conv_groups2", "conv_depthwise_s2", "max_pool_3x3_s2_p1_odd", "avg_pool_3x3_s1_p1", "adaptive_avg_1x1",
          "adaptive_avg_2x2", "batch_norm_train", "batch_norm_eval"]


@pytest.mark.parametrize("name", PARITY)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_matches_torch(name, dtype, kernels):
    torch, table = torch_cases()
    torch_fn, case = table[name]
    fn, shapes = CASES[case]
    arrays = [random_array(s, seed=i, dtype=dtype) for i, s in enumerate(shapes)]
    ours = [mr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    if name == "batch_norm_eval":  # the torch lambda builds float64 statistics
        ours = [mr.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
        theirs = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    tol = {"atol": 1e-10, "rtol": 1e-10} if dtype == np.float64 else {"atol": 1e-4, "rtol": 1e-4}
    y, y_t = fn(*ours), torch_fn(*theirs)
    assert_close(y.numpy(), y_t.detach().numpy(), f"{name}[{kernels}] forward", **tol)
    gy = random_array(y.shape, seed=7, dtype=y.dtype)
    y.backward(gy)
    y_t.backward(torch.tensor(gy))
    for i, (a, a_t) in enumerate(zip(ours, theirs)):
        assert_close(a.grad, a_t.grad.numpy(), f"{name}[{kernels}] gradient of input {i}", **tol)


def test_running_statistics_match_torch():
    torch, _ = torch_cases()
    x = random_array((4, 3, 5, 5), seed=0)
    mean, var = mr.zeros(3, dtype=np.float64), mr.ones(3, dtype=np.float64)
    mean_t, var_t = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for _ in range(3):
        F.batch_norm(mr.tensor(x), mean, var, training=True, momentum=0.2)
        torch.nn.functional.batch_norm(torch.tensor(x), mean_t, var_t, training=True, momentum=0.2)
    assert_close(mean.numpy(), mean_t.numpy(), "running_mean vs torch", rtol=1e-10)
    assert_close(var.numpy(), var_t.numpy(), "running_var vs torch", rtol=1e-10)
