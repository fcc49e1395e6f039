"""Autograd as PyTorch teaches it, run with only the imports swapped (tests/pytorch_style/
autograd_idioms.py): custom Functions with ctx, the graph walked through next_functions,
tensor and module hooks on a small ResNet, a Hessian-vector product and a gradient-penalty
step. Where PyTorch is installed, every number is compared with torch's in float64."""

from __future__ import annotations

import numpy as np
import pytest
from test_pytorch_style import load_script

import minires as mr


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'minires[bench]')")


def both(function_name: str, *make_args):
    """The script's function run under minires and (where installed) under torch, on the same inputs:
    make_args(lib) builds each argument with that library."""
    ours = load_script("autograd_idioms")
    result = getattr(ours, function_name)(*(make(mr) for make in make_args))
    try:
        import torch  # noqa: F401
    except ImportError:
        return result, None
    theirs = load_script("autograd_idioms", "torch")
    return result, getattr(theirs, function_name)(*(make(theirs.torch) for make in make_args))


def assert_close(ours, theirs, rtol=1e-10, atol=1e-12, path="result"):
    """Equal structure, numbers equal to rtol; strings and booleans equal."""
    if isinstance(ours, dict):
        assert sorted(ours) == sorted(theirs), f"{path}: keys {sorted(ours)} vs torch's {sorted(theirs)}"
        for key in ours:
            assert_close(ours[key], theirs[key], rtol, atol, f"{path}[{key!r}]")
    elif isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs), f"{path}: {len(ours)} entries vs torch's {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_close(a, b, rtol, atol, f"{path}[{i}]")
    elif isinstance(ours, float) or isinstance(theirs, float):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=path)
    else:
        assert ours == theirs, f"{path}: {ours!r} vs torch's {theirs!r}"


def test_legendre_fit_learns_and_matches_torch():
    (losses, coefficients), theirs = both("fit_legendre")
    assert losses[-1] < 0.7 * losses[0] and sorted(losses, reverse=True) == losses, losses[::50]
    if theirs is not None:
        assert_close([losses, coefficients], list(theirs), rtol=1e-9)


def test_custom_functions_ctx_idioms():
    result, theirs = both("custom_functions")
    # d/dx of 3x + sorted(x) . [1, 10, 100] + 2x:  x = [0.5, -1, 2] sorts to [-1, 0.5, 2]
    assert result["grad"] == [3 + 10 + 2, 3 + 1 + 2, 3 + 100 + 2]
    assert result["indices"] == [1, 0, 2] and result["indices_requires_grad"] is False
    assert result["needs_input_grad"] == [False, True, False]
    assert result["name"] == "SortWithIndicesBackward"
    assert result["dirty_is_input"] and result["dirty_grad"] == [8.0, 16.0]  # z = 2y, d(z^2)/dy = 8y
    assert result["once_grad"] == [4 * 1.5 ** 3]  # d(w^3 * w)/dw, with the backward marked once_differentiable
    assert "differentiate twice a function that was marked with @once_differentiable" in result["once_second"]
    if theirs is not None:
        assert_close(result, theirs)


def test_walking_next_functions():
    result, theirs = both("walk_graph")
    assert result["names"][:2] == ["SumBackward0", "MulBackward0"], result["names"]
    assert result["names"].count("AccumulateGrad") == 2 and result["leaves"] == [True, True]
    assert result["is_leaf"] == [True, False] and result["retains"] is True
    assert result["no_grad_next"] == (None, 0)
    if theirs is not None:
        # the same walk, node by node; torch's leaf node calls itself 'torch::autograd::AccumulateGrad'
        theirs["names"] = [name.removeprefix("torch::autograd::") for name in theirs["names"]]
        assert_close(result, theirs)


def test_tensor_hooks_run_in_order_and_replace_gradients():
    result, theirs = both("tensor_hooks")
    # h = x^2, out = sum(h * x): dout/dh = x, times 10 by the first hook; dx = 10x * 2x + h
    assert result["seen"][0] == ("h", [10.0, 20.0, 30.0])
    assert result["first"] == [21.0, 84.0, 189.0] and result["after_remove"] == [3.0, 12.0, 27.0]
    if theirs is not None:
        assert_close(result, theirs)


def _twins(ours, build: str):
    """((minires model, torch model) from the script's `build` with torch's weights copied over,
    torch, the script under torch), or None where torch is not installed."""
    try:
        torch = _torch()
    except pytest.skip.Exception:
        return None
    theirs = load_script("autograd_idioms", "torch")
    net_t, net = getattr(theirs, build)(), getattr(ours, build)()
    net.load_state_dict({k: mr.tensor(v.detach().numpy()) for k, v in net_t.state_dict().items()})
    return (net, net_t), torch, theirs


def _images(lib):
    rng = np.random.default_rng(0)
    return lib.tensor(rng.standard_normal((4, 3, 6, 6)))


def _labels(lib):
    return lib.tensor(np.array([0, 3, 9, 3]))


def test_module_hooks_watch_a_resnet():
    ours = load_script("autograd_idioms")
    net = ours.small_resnet()
    result = ours.module_hooks(net, _images(mr), _labels(mr))
    assert sorted(result["activations"]) == ["0", "3.conv1", "3.conv2"]
    assert result["order"] == ["3.conv2", "3.conv1", "0"], "backward hooks run from the last layer to the first"
    assert result["gradients"]["0"][0] is None, "the image needs no gradient: grad_input is None"
    assert result["changed"]["stem_grad"] == 0.0, "the block's backward hook zeroed the gradient below it"
    twins = _twins(ours, "small_resnet")
    if twins is not None:
        (net, net_t), torch, theirs = twins
        assert_close(ours.module_hooks(net, _images(mr), _labels(mr)),
                     theirs.module_hooks(net_t, _images(torch), _labels(torch)), rtol=1e-9)


def test_hessian_vector_product_matches_torch():
    rng = np.random.default_rng(1)
    x, w, v = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 3))
    (g, hv), theirs = both("hessian_vector_product", lambda lib: lib.tensor(x), lambda lib: lib.tensor(w),
                           lambda lib: lib.tensor(v))

    def gradient(x):  # f's gradient in closed form: d tanh^2 = 2 tanh (1 - tanh^2); d e^x s = e^x s (2 - s)
        t, s = np.tanh(x @ w), 1 / (1 + np.exp(-x))
        return (2 * t * (1 - t**2)) @ w.T + np.exp(x) * s * (2 - s)

    np.testing.assert_allclose(g, gradient(x), rtol=1e-12)
    h = 1e-5  # H v as the directional derivative of the gradient, by central differences
    np.testing.assert_allclose(hv, (gradient(x + h * v) - gradient(x - h * v)) / (2 * h), rtol=1e-6)
    if theirs is not None:
        assert_close([g, hv], list(theirs), rtol=1e-10)


def test_gradient_penalty_step_matches_torch():
    rng = np.random.default_rng(2)
    real, fake = rng.standard_normal((4, 3, 6, 6)), rng.standard_normal((4, 3, 6, 6))
    alpha = rng.random((4, 1, 1, 1))
    ours = load_script("autograd_idioms")
    result = ours.gradient_penalty_step(ours.small_critic(), mr.tensor(real), mr.tensor(fake), mr.tensor(alpha))
    assert result["penalty"] > 0 and all(np.isfinite(v) for v in result["grads"].values()), result
    assert result["grads"]["0.weight"] > 0 and result["grads"]["6.weight"] > 0, result
    twins = _twins(ours, "small_critic")
    if twins is not None:
        (critic, critic_t), torch, theirs = twins
        expected = theirs.gradient_penalty_step(critic_t, torch.tensor(real), torch.tensor(fake), torch.tensor(alpha))
        got = ours.gradient_penalty_step(critic, mr.tensor(real), mr.tensor(fake), mr.tensor(alpha))
        assert_close(got, expected, rtol=1e-8)
