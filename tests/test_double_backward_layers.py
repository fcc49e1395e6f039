"""Gradients of gradients (create_graph=True) through the layers: Conv2d, BatchNorm2d (train
and eval), max and average pooling, adaptive pooling, Linear, and cross_entropy on a small net.

Three checks per layer, all in float64:
- mr.gradgradcheck, and mr.gradcheck of the gradient d<f(inputs), v>/d(inputs) as a function of
  the inputs and of v (every entry of it, flattened and joined);
- the recorded gradient (create_graph=True) equals the first-order one (the array backward);
- with torch installed: gradients, Hessian-vector products (and, for conv, a third derivative)
  equal torch's to 1e-9, and so does a WGAN-GP gradient penalty's backward on a small critic.
"""

from __future__ import annotations

import numpy as np
import pytest

import minires as mr
from minires import ops
from minires.ops.conv import Conv2dInputGrad, Conv2dWeightGrad
from minires.ops.pooling import MaxPool2dInputGrad


class Const:
    """An input that needs no gradient (running statistics, labels): N(0, 1), or in [0.5, 2) when positive."""

    def __init__(self, shape, positive=False, labels=None):
        self.shape, self.positive, self.labels = shape, positive, labels


# name -> (f(lib, *inputs) for lib = minires or torch, the inputs: a shape (N(0, 1), requires grad) or a Const)
CASES = {
    "conv_stride2_pad1_groups2_bias": (
        lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, stride=2, padding=1, groups=2),
        [(2, 4, 5, 5), (6, 2, 3, 3), (6,)]),
    "conv_dilation2_nobias_batch1_odd": (
        lambda lib, x, w: lib.nn.functional.conv2d(x, w, None, stride=(1, 2), padding=(2, 1), dilation=2),
        [(1, 3, 7, 6), (2, 3, 3, 2)]),
    "conv_depthwise_stride2_bias": (
        lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, stride=2, padding=1, groups=3),
        [(1, 3, 6, 5), (3, 1, 3, 3), (3,)]),
    "conv_1x1_stride2": (
        lambda lib, x, w: lib.nn.functional.conv2d(x, w, stride=2),
        [(2, 3, 5, 5), (4, 3, 1, 1)]),
    "bn_train": (
        lambda lib, x, g, b: lib.nn.functional.batch_norm(x, None, None, g, b, training=True, eps=1e-3),
        [(3, 2, 2, 3), (2,), (2,)]),
    "bn_train_no_affine": (
        lambda lib, x: lib.nn.functional.batch_norm(x, None, None, training=True),
        [(2, 3, 2, 2)]),
    "bn_eval": (
        lambda lib, x, rm, rv, g, b: lib.nn.functional.batch_norm(x, rm, rv, g, b, training=False),
        [(2, 3, 2, 3), Const((3,)), Const((3,), positive=True), (3,), (3,)]),
    "max_pool_stride2_pad1": (
        lambda lib, x: lib.nn.functional.max_pool2d(x, 3, stride=2, padding=1),
        [(2, 2, 5, 5)]),
    "max_pool_ceil_mode": (
        lambda lib, x: lib.nn.functional.max_pool2d(x, 2, stride=2, ceil_mode=True),
        [(1, 2, 5, 5)]),
    "avg_pool_stride2_pad1": (
        lambda lib, x: lib.nn.functional.avg_pool2d(x, 3, stride=2, padding=1),
        [(2, 2, 5, 5)]),
    "adaptive_avg_pool_global": (
        lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x, 1),
        [(2, 3, 3, 4)]),
    "adaptive_avg_pool_2x2": (
        lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x, (2, 2)),
        [(2, 2, 4, 4)]),
    "adaptive_max_pool_global": (
        lambda lib, x: lib.nn.functional.adaptive_max_pool2d(x, 1),
        [(2, 3, 3, 4)]),
    "adaptive_max_pool_2x3": (
        lambda lib, x: lib.nn.functional.adaptive_max_pool2d(x, (2, 3)),
        [(1, 2, 4, 6)]),
    "linear": (
        lambda lib, x, w, b: lib.nn.functional.linear(x, w, b),
        [(3, 4), (5, 4), (5,)]),
    "linear_3d_nobias": (
        lambda lib, x, w: lib.nn.functional.linear(x, w),
        [(2, 3, 4), (2, 4)]),
    "cross_entropy_conv_bn_relu": (
        lambda lib, x, w, g, b, labels: lib.nn.functional.cross_entropy(
            lib.nn.functional.adaptive_avg_pool2d(
                lib.nn.functional.relu(lib.nn.functional.batch_norm(
                    lib.nn.functional.conv2d(x, w, padding=1), None, None, g, b, training=True)), 1).flatten(1),
            labels),
        [(2, 2, 3, 3), (3, 2, 3, 3), (3,), (3,), Const((2,), labels=[0, 2])]),
}


def make_inputs(case, lib=mr, seed=0):
    """The case's inputs as float64 tensors of `lib` (minires or torch), the same numbers for both."""
    rng = np.random.default_rng(seed)
    inputs = []
    for spec in CASES[case][1]:
        if isinstance(spec, Const) and spec.labels is not None:
            inputs.append(lib.tensor(np.array(spec.labels, dtype=np.int64)))
        elif isinstance(spec, Const):
            values = rng.uniform(0.5, 2.0, spec.shape) if spec.positive else rng.standard_normal(spec.shape)
            inputs.append(lib.tensor(values))
        else:
            inputs.append(lib.tensor(rng.standard_normal(spec), requires_grad=True))
    return inputs


def gradients(lib, f, inputs, v, create_graph):
    """d<f(inputs), v>/d(each input that requires grad), recorded when create_graph."""
    with lib.enable_grad():
        y = f(lib, *inputs)
        wrt = [t for t in inputs if t.requires_grad]
        return lib.autograd.grad(y, wrt, grad_outputs=v, create_graph=create_graph)


def cotangent(shape, seed, requires_grad=False, lib=mr):
    return lib.tensor(np.random.default_rng([seed, 7]).standard_normal(shape), requires_grad=requires_grad)


def gradient_gradcheck(f, inputs, seed=0):
    """mr.gradcheck of the gradient: (inputs, v) -> d<f(inputs), v>/d(inputs), every gradient
    flattened and joined, checked against central differences in the inputs and in v (as
    torch.autograd.gradgradcheck, which also differentiates through grad_outputs)."""
    with mr.enable_grad():
        shape = f(mr, *inputs).shape
    v = cotangent(shape, seed, requires_grad=True)

    def gradient(*args):  # gradcheck evaluates this under no_grad too: gradients() enables grad itself
        *xs, v = args
        return mr.cat([g.reshape(-1) for g in gradients(mr, f, xs, v, create_graph=True)])

    return mr.gradcheck(gradient, *inputs, v, seed=seed, name=f"gradient of {f}")


@pytest.mark.parametrize("case", CASES)
def test_gradgradcheck(case):
    f = CASES[case][0]
    assert mr.gradgradcheck(lambda *inputs: f(mr, *inputs), make_inputs(case), name=case)


@pytest.mark.parametrize("case", CASES)
def test_gradient_gradcheck(case):
    """The whole gradient vector (not one random direction of it) against central differences."""
    assert gradient_gradcheck(CASES[case][0], make_inputs(case))


@pytest.mark.parametrize("case", CASES)
def test_recorded_backward_equals_first_order(case):
    """backward_recorded (create_graph=True) computes the same gradients as the array backward."""
    f, inputs = CASES[case][0], make_inputs(case)
    with mr.enable_grad():
        v = cotangent(f(mr, *inputs).shape, seed=1)
    first = gradients(mr, f, inputs, v, create_graph=False)
    recorded = gradients(mr, f, inputs, v, create_graph=True)
    for a, b in zip(first, recorded):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, atol=1e-12)


def _to_numpy(t, shape):
    return np.zeros(shape) if t is None else t.detach().numpy()


def _hvp(lib, case, seed=0, third_order=False):
    """The gradient g = d<f, v>/d(x, v) ... for the inputs that need grad, the Hessian-vector
    product d<g, u>/d(inputs and v), and (third_order) d<hv, z>/d(inputs and v), as numpy."""
    f, inputs = CASES[case][0], make_inputs(case, lib, seed)
    wrt = [t for t in inputs if t.requires_grad]
    y = f(lib, *inputs)
    v = cotangent(y.shape, seed + 1, requires_grad=True, lib=lib)
    g = lib.autograd.grad(y, wrt, grad_outputs=v, create_graph=True)
    u = [cotangent(t.shape, seed + 2 + i, lib=lib) for i, t in enumerate(g)]
    inner = sum((gi * ui).sum() for gi, ui in zip(g, u))
    hv = lib.autograd.grad(inner, wrt + [v], create_graph=third_order, allow_unused=True)
    results = [_to_numpy(t, t.shape) for t in g] + [_to_numpy(h, t.shape) for h, t in zip(hv, wrt + [v])]
    if third_order:
        pairs = [(h, t) for h, t in zip(hv, wrt + [v]) if h is not None and h.requires_grad]
        z = [cotangent(t.shape, seed + 20 + i, lib=lib) for i, (_, t) in enumerate(pairs)]
        outer = sum((h * zi).sum() for (h, _), zi in zip(pairs, z))
        third = lib.autograd.grad(outer, wrt + [v], allow_unused=True)
        results += [_to_numpy(h, t.shape) for h, t in zip(third, wrt + [v])]
    return results


@pytest.mark.parametrize("case", CASES)
def test_hessian_vector_products_match_torch(case):
    torch = pytest.importorskip("torch")
    ours, theirs = _hvp(mr, case), _hvp(torch, case)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("case", ["conv_stride2_pad1_groups2_bias", "conv_dilation2_nobias_batch1_odd",
                                  "conv_depthwise_stride2_bias"])
def test_conv_third_derivative_matches_torch(case):
    """Third order: the ops Conv2dInputGrad and Conv2dWeightGrad differentiated once more (their
    backward_recorded), against torch."""
    torch = pytest.importorskip("torch")
    ours, theirs = _hvp(mr, case, third_order=True), _hvp(torch, case, third_order=True)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_conv_winograd_path_twice_matches_torch():
    """16 channels, 3x3, stride 1: the CPU kernels take the Winograd path, the gradient ops too."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in [(2, 16, 6, 6), (16, 16, 3, 3), (2, 16, 6, 6), (2, 16, 6, 6)]]
    results = []
    for lib in (mr, torch):
        x, w = (lib.tensor(a, requires_grad=True) for a in arrays[:2])
        v, u = (lib.tensor(a) for a in arrays[2:])
        (gx,) = lib.autograd.grad(lib.nn.functional.conv2d(x, w, padding=1), [x], grad_outputs=v, create_graph=True)
        results.append([t.detach().numpy() for t in (gx, *lib.autograd.grad((gx * u).sum(), [w]))])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------- the gradient ops, one by one


def _geometry():
    return (2, 1), (1, 0), (1, 2), 2  # stride, padding, dilation, groups


def test_conv_gradient_ops_compute_the_kernels_gradients():
    """Conv2dInputGrad(gy, w) and Conv2dWeightGrad(x, gy) are conv2d_backward's gx and gw."""
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 4, 6, 7)), rng.standard_normal((6, 2, 3, 2))
    conv = ops.Conv2d(*_geometry())
    y = conv.forward(x, w)
    gy = rng.standard_normal(y.shape)
    conv.needs_input_grad = (True, True)
    gx, gw = conv.backward(gy)
    np.testing.assert_array_equal(Conv2dInputGrad(x.shape, conv.geometry).forward(gy, w), gx)
    np.testing.assert_array_equal(Conv2dWeightGrad(w.shape, conv.geometry).forward(x, gy), gw)


def test_conv_gradient_ops_backward_is_their_adjoint():
    """<op(a, b), G> is bilinear: each array backward is the adjoint of the op in that argument."""
    rng = np.random.default_rng(5)
    geometry = _geometry()
    x, w = rng.standard_normal((2, 4, 6, 7)), rng.standard_normal((6, 2, 3, 2))
    gy = rng.standard_normal(ops.Conv2d(*geometry).forward(x, w).shape)
    for op, (a, b), g_shape in [(Conv2dInputGrad(x.shape, geometry), (gy, w), x.shape),
                                (Conv2dWeightGrad(w.shape, geometry), (x, gy), w.shape)]:
        out = op.forward(a, b)
        gg = rng.standard_normal(g_shape)
        op.needs_input_grad = (True, True)
        ga, gb = op.backward(gg)
        inner = float((out * gg).sum())  # <op(a, b), G> = <ga, a> = <gb, b>
        np.testing.assert_allclose(float((ga * a).sum()), inner, rtol=1e-12)
        np.testing.assert_allclose(float((gb * b).sum()), inner, rtol=1e-12)


def test_max_pool_input_grad_gathers_at_the_winners():
    """MaxPool2dInputGrad: forward is MaxPool2d's backward; backward is its adjoint, a gather."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 5, 5))
    pool = ops.MaxPool2d((3, 3), (2, 2), (1, 1))
    y = pool.forward(x)
    gy = rng.standard_normal(y.shape)
    op = MaxPool2dInputGrad(pool.argmax, x.shape, (3, 3), (2, 2), (1, 1))
    gx = op.forward(gy)
    np.testing.assert_array_equal(gx, pool.backward(gy))
    gg = rng.standard_normal(x.shape)
    np.testing.assert_allclose(float((op.backward(gg) * gy).sum()), float((gx * gg).sum()), rtol=1e-12)
    assert op.linear


def test_max_pool_second_derivative_in_x_is_zero():
    """The recorded gradient reaches gy only (the winners are fixed): d(gx)/dx is 0, so x is not reached."""
    rng = np.random.default_rng(7)
    x = mr.tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    v = mr.tensor(rng.standard_normal((1, 2, 2, 2)), requires_grad=True)
    (gx,) = mr.autograd.grad(mr.nn.functional.max_pool2d(x, 2), [x], grad_outputs=v, create_graph=True)
    assert gx.grad_fn.name() == "MaxPool2dInputGradBackward0"
    hx, hv = mr.autograd.grad((gx * gx).sum(), [x, v], allow_unused=True)
    assert hx is None
    np.testing.assert_array_equal(hv.numpy(), 2 * v.numpy())  # each window's winner holds v: sum(gx^2) = sum(v^2)


# ---------------------------------------------------------------------- a WGAN-GP gradient penalty


def _critic(nn, bn_train, pool):
    """D = conv(stride 2, pad 1) -> BatchNorm2d -> ReLU -> conv -> adaptive pool -> flatten -> linear."""
    d = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 5, 3),
                      nn.AdaptiveAvgPool2d(1) if pool == "avg" else nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                      nn.Linear(5, 1)).double()
    return d.train(bn_train)


def _penalty_grads(lib, d, x_array):
    x = lib.tensor(x_array, requires_grad=True)
    (gx,) = lib.autograd.grad(d(x).sum(), x, create_graph=True)
    penalty = ((gx.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
    penalty.backward()
    named = dict(d.named_parameters())
    # None where the penalty does not reach (the last biases; x in eval mode, where D is piecewise affine
    # in x, so gx is constant in x: torch gives zeros there): zeros
    return penalty.item(), _to_numpy(x.grad, x.shape), {name: _to_numpy(named[name].grad, named[name].shape) for name in named}


@pytest.mark.parametrize("bn_train, pool", [(True, "avg"), (False, "avg"), (True, "max")])
def test_wgan_gp_gradient_penalty_matches_torch(bn_train, pool):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    ours, theirs = _critic(mr.nn, bn_train, pool), _critic(torch.nn, bn_train, pool)
    with torch.no_grad():
        params = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            p.data = mr.tensor(rng.standard_normal(p.shape) * 0.5)  # weights that reach both sides of the ReLU
            params[name].copy_(torch.tensor(p.numpy()))
        buffers = dict(theirs.named_buffers())
        for name, b in ours.named_buffers():
            if b.dtype.kind == "f":  # the running statistics, used in eval mode
                values = rng.uniform(0.5, 2.0, b.shape) if "var" in name else rng.standard_normal(b.shape)
                b.data = mr.tensor(values)
                buffers[name].copy_(torch.tensor(values))
    x = rng.standard_normal((4, 3, 8, 8))
    (p_ours, gx_ours, grads_ours), (p_theirs, gx_theirs, grads_theirs) = (
        _penalty_grads(mr, ours, x), _penalty_grads(torch, theirs, x))
    assert p_ours == pytest.approx(p_theirs, rel=1e-12)
    np.testing.assert_allclose(gx_ours, gx_theirs, rtol=1e-9, atol=1e-9)
    assert grads_ours.keys() == grads_theirs.keys()
    for name in grads_ours:
        np.testing.assert_allclose(grads_ours[name], grads_theirs[name], rtol=1e-9, atol=1e-9, err_msg=name)
