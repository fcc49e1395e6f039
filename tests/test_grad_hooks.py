"""Tensor.register_post_accumulate_grad_hook: the hook DistributedDataParallel starts its
gradient all-reduces from. It must run once per backward, after the leaf's .grad is complete
(also for a leaf used by several ops), during the walk (the last layer's before the first's)."""

from __future__ import annotations

import numpy as np
import pytest

import minires as mr
from minires import nn


def test_hook_runs_once_with_the_whole_gradient_of_a_shared_leaf():
    w = mr.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    ((w * w).sum() + (3 * w).sum() + w.sum()).backward()  # three ops use w: 2w + 3 + 1
    assert seen == [[6.0, 8.0]], f"one call, after all three parts were added: {seen}"
    (w * 2).sum().backward()
    assert seen == [[6.0, 8.0], [8.0, 10.0]], f"once per backward, after accumulating into .grad: {seen}"


def test_hooks_run_during_the_walk_last_layer_first():
    mr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    order = []
    for name, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(lambda t, name=name: order.append(name))
    model(mr.randn(5, 3)).sum().backward()
    assert sorted(order) == sorted(n for n, _ in model.named_parameters()), order
    assert order.index("2.weight") < order.index("0.weight"), f"the last layer is finished first: {order}"


def test_handle_remove_root_leaf_and_errors():
    w = mr.tensor(2.0, requires_grad=True)
    calls = []
    handle = w.register_post_accumulate_grad_hook(lambda t: calls.append(float(t.grad)))
    w.backward()  # the root itself is the leaf
    handle.remove()
    w.backward()
    assert calls == [1.0], calls
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (w * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(TypeError, match="must be callable"):
        w.register_post_accumulate_grad_hook(3)


def test_hook_respects_backward_inputs():
    a, b = mr.tensor([1.0], requires_grad=True), mr.tensor([2.0], requires_grad=True)
    calls = []
    for t, name in ((a, "a"), (b, "b")):
        t.register_post_accumulate_grad_hook(lambda t, name=name: calls.append(name))
    (a * b).sum().backward(inputs=[a])
    assert calls == ["a"] and b.grad is None, (calls, b.grad)
    np.testing.assert_allclose(a.grad.numpy(), [2.0])
