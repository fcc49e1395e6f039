"""The core ops against PyTorch (float64): the same expression written twice, values and
gradients compared. Skipped, with the reason, where torch is not installed."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, random_array

import minires as mr
import minires.nn.functional as F

# torch and its functional module, imported by the test itself, never while collecting
# (tests/test_collection.py); the lambdas below look them up when they run.
torch = TF = None
LABELS = [1, 0, 3]

# name -> (minires fn, torch fn, input shapes); inputs are positive where log/sqrt/pow need it
CASES = {
    "broadcast_arith": (lambda a, b: (a * b - a / (b + 3)) ** 2, lambda a, b: (a * b - a / (b + 3)) ** 2, [(3, 4), (4,)]),
    "matmul_batched": (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "exp_log_sqrt": (lambda a: a.exp() + a.log() * a.sqrt(), lambda a: a.exp() + a.log() * a.sqrt(), [(3, 4)]),
    "tanh_sigmoid_abs": (lambda a: a.tanh() * a.sigmoid() + a.abs(), lambda a: a.tanh() * a.sigmoid() + a.abs(), [(5,)]),
    "clip": (lambda a: a.clip(0.7, 1.5), lambda a: a.clamp(0.7, 1.5), [(4, 4)]),
    "maximum_where": (lambda a, b: mr.maximum(a, b) + mr.where(a > 1, a, b),
                      lambda a, b: torch.maximum(a, b) + torch.where(a > 1, a, b), [(3, 4), (3, 4)]),
    "reductions": (lambda a: a.sum(1) + a.mean(1) * a.amax(1) - a.amin(1) + a.var(1) + a.std(1),
                   lambda a: a.sum(1) + a.mean(1) * a.amax(1) - a.amin(1) + a.var(1) + a.std(1), [(3, 5)]),
    "movement": (lambda a: mr.cat([a.permute(1, 0, 2).reshape(3, 8), a[:, :, ::2].transpose(0, 1).flatten(1)], 1),
                 lambda a: torch.cat([a.permute(1, 0, 2).reshape(3, 8), a[:, :, ::2].transpose(0, 1).flatten(1)], 1),
                 [(2, 3, 4)]),
    "getitem_repeats": (lambda a: a[np.array([0, 2, 0])] * 2, lambda a: a[torch.tensor([0, 2, 0])] * 2, [(3, 4)]),
    "pad_expand": (lambda a: mr.pad(a, [(1, 0), (2, 1)]) + a.sum().expand(4, 6),
                   lambda a: TF.pad(a, (2, 1, 1, 0)) + a.sum().expand(4, 6), [(3, 3)]),
    "softmax_family": (lambda a: F.softmax(a, 1) * F.log_softmax(a, 0), lambda a: TF.softmax(a, 1) * TF.log_softmax(a, 0), [(3, 5)]),
    "cross_entropy": (lambda a: F.cross_entropy(a, np.array(LABELS)),
                      lambda a: TF.cross_entropy(a, torch.tensor(LABELS)), [(3, 5)]),
    "cross_entropy_smooth": (lambda a: F.cross_entropy(a, np.array(LABELS), label_smoothing=0.2),
                             lambda a: TF.cross_entropy(a, torch.tensor(LABELS), label_smoothing=0.2), [(3, 5)]),
}


@pytest.mark.parametrize("name", CASES)
def test_matches_torch(name):
    global torch, TF
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'minires[bench]')")
    TF = torch.nn.functional
    mr_fn, torch_fn, shapes = CASES[name]
    arrays = [random_array(s, seed=i, positive=True) for i, s in enumerate(shapes)]
    ours = [mr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, y_t = mr_fn(*ours), torch_fn(*theirs)
    assert_close(y.numpy(), y_t.detach().numpy(), f"{name}: forward", atol=1e-10, rtol=1e-10)
    gy = np.random.default_rng(99).standard_normal(y.shape)
    y.backward(gy)
    y_t.backward(torch.tensor(gy))
    for i, (a, a_t) in enumerate(zip(ours, theirs)):
        assert_close(a.grad, a_t.grad.numpy(), f"{name}: gradient of input {i}", atol=1e-10, rtol=1e-10)
