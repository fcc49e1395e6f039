"""minires.autograd.functional against the closed forms and, where installed, against torch in
float64: jacobian, hessian, vjp, jvp, vhp, hvp, with PyTorch's signatures and result shapes."""

from __future__ import annotations

import numpy as np
import pytest

import minires as mr
from minires.autograd import functional as AF

RNG = np.random.default_rng(0)
X = RNG.standard_normal(3)
V = RNG.standard_normal(3)
W = RNG.standard_normal((3, 2))


def cubic(x):
    return (x * x * x).sum() + (x * x).sum()  # gradient 3x^2 + 2x, Hessian diag(6x + 2)


def pair(x, w):
    return (x.unsqueeze(1) * w * x.unsqueeze(1)).sum(0), (w * w).sum()  # two outputs of two inputs


def t(array):
    return mr.tensor(array)


def test_closed_forms():
    x, v = t(X), t(V)
    np.testing.assert_allclose(AF.jacobian(cubic, x).numpy(), 3 * X**2 + 2 * X, rtol=1e-12)
    np.testing.assert_allclose(AF.hessian(cubic, x).numpy(), np.diag(6 * X + 2), rtol=1e-12)
    out, vjp = AF.vjp(lambda x: x * x, x, v)
    np.testing.assert_allclose(out.numpy(), X * X)
    np.testing.assert_allclose(vjp.numpy(), 2 * X * V, rtol=1e-12)
    np.testing.assert_allclose(AF.jvp(lambda x: x * x, x, v)[1].numpy(), 2 * X * V, rtol=1e-12)
    for product in (AF.hvp, AF.vhp):
        value, hv = product(cubic, x, v)
        np.testing.assert_allclose(hv.numpy(), (6 * X + 2) * V, rtol=1e-12)
        assert value.item() == pytest.approx(float(np.sum(X**3 + X**2)))
    assert not vjp.requires_grad and x.grad is None, "without create_graph the results carry no graph"


def test_shapes_follow_pytorch():
    x, w = t(X), t(W)
    jac = AF.jacobian(pair, (x, w))
    assert [[tuple(b.shape) for b in row] for row in jac] == [[(2, 3), (2, 3, 2)], [(3,), (3, 2)]]
    assert tuple(AF.jacobian(lambda x: x * 2, x).shape) == (3, 3)
    hess = AF.hessian(lambda x, w: pair(x, w)[0].sum(), (x, w))
    assert [[tuple(b.shape) for b in row] for row in hess] == [[(3, 3), (3, 3, 2)], [(3, 2, 3), (3, 2, 3, 2)]]


def test_strict_vectorize_and_bad_arguments():
    x, y = t(X), t(V)
    assert AF.jacobian(lambda x, y: x * 2, (x, y))[1].abs().sum().item() == 0.0  # independent: zeros
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.jacobian(lambda x, y: x * 2, (x, y), strict=True)
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        AF.jacobian(cubic, x, vectorize=True)
    with pytest.raises(NotImplementedError, match="forward-mode"):
        AF.jacobian(cubic, x, strategy="forward-mode")
    with pytest.raises(RuntimeError, match="single element"):
        AF.vjp(lambda x: x * 2, x)  # v may be omitted only for a one-element output
    with pytest.raises(RuntimeError, match="single Tensor with one element"):
        AF.hvp(lambda x: x * 2, x, t(V))
    with pytest.raises(TypeError, match="entry 0 is list"):
        AF.jacobian(cubic, [[1.0]])


def test_create_graph_keeps_the_result_differentiable():
    x = mr.tensor(X, requires_grad=True)
    jac = AF.jacobian(cubic, x, create_graph=True)  # 3x^2 + 2x, still a function of x
    jac.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * X + 2, rtol=1e-12)


@pytest.mark.parametrize("name", ["jacobian", "hessian", "vjp", "jvp", "vhp", "hvp"])
def test_matches_torch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'minires[bench]')")
    calls = {
        "jacobian": lambda F, lib, x, w, v: F.jacobian(pair, (x, w)),
        "hessian": lambda F, lib, x, w, v: F.hessian(lambda x, w: pair(x, w)[0].sum() + pair(x, w)[1], (x, w)),
        "vjp": lambda F, lib, x, w, v: F.vjp(lambda x: x * x * x, x, v),
        "jvp": lambda F, lib, x, w, v: F.jvp(lambda x, w: pair(x, w), (x, w), (v, w * 0.5)),
        "vhp": lambda F, lib, x, w, v: F.vhp(cubic, x, v),
        "hvp": lambda F, lib, x, w, v: F.hvp(cubic, x, v),
    }
    ours = calls[name](AF, mr, t(X), t(W), t(V))
    theirs = calls[name](torch.autograd.functional, torch, torch.tensor(X), torch.tensor(W), torch.tensor(V))

    def flat(value):
        if isinstance(value, (tuple, list)):
            return [a for v in value for a in flat(v)]
        return [np.asarray(value.detach().numpy() if hasattr(value, "detach") else value)]

    ours, theirs = flat(ours), flat(theirs)
    assert [a.shape for a in ours] == [b.shape for b in theirs]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
