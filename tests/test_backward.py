"""Tensor.backward: order, accumulation, graph freeing, no_grad, deep graphs."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import minires as mr
from minires import ops
from minires.autograd.engine import apply


def test_reused_tensor_accumulates():
    a = mr.tensor([3.0], requires_grad=True)
    (a * a + a).backward(np.ones(1))  # d/da (a^2 + a) = 2a + 1
    assert a.grad.tolist() == [7.0]


def test_diamond_graph_runs_each_backward_once_with_the_full_gradient():
    calls = []

    class Spy(ops.Exp):
        def backward(self, gy):
            calls.append(gy.copy())
            return super().backward(gy)

    x = mr.tensor([0.5], dtype=np.float64, requires_grad=True)
    h = apply(Spy(), x)  # h = e^x, used by two branches
    y = h * 2.0 + h * h
    y.backward(np.ones(1))
    assert len(calls) == 1, "the shared node's backward must run once, after both branches"
    e = np.exp(0.5)
    assert np.isclose(calls[0][0], 2 + 2 * e)  # dy/dh from both branches summed
    assert np.isclose(x.grad[0], (2 + 2 * e) * e)


def test_leaf_gradients_accumulate_across_backward_calls():
    x = mr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).backward(np.ones(2))
    (x * 3).backward(np.ones(2))
    assert x.grad.tolist() == [6.0, 6.0]
    x.zero_grad()
    assert x.grad is None


def test_chain_of_10000_ops_needs_no_recursion():
    x = mr.tensor([1.0], dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    assert 10_000 > sys.getrecursionlimit()
    y.backward(np.ones(1))
    assert np.isclose(x.grad[0], 1.0001**10_000)


def test_second_backward_through_freed_graph_raises():
    x = mr.tensor([2.0], requires_grad=True)
    y = (x * x).exp()
    y.backward(np.ones(1))
    with pytest.raises(RuntimeError, match="already freed.*retain_graph=True"):
        y.backward(np.ones(1))


def test_retain_graph_allows_a_second_backward():
    x = mr.tensor([2.0], requires_grad=True)
    y = x * x
    y.backward(np.ones(1), retain_graph=True)
    y.backward(np.ones(1))
    assert x.grad.tolist() == [8.0]


def test_backward_frees_saved_arrays():
    x = mr.tensor(np.ones(3), requires_grad=True)
    y = x.exp()
    fn = y.grad_fn
    y.sum().backward()
    assert fn.freed and not hasattr(fn, "y")


def test_non_scalar_backward_needs_grad():
    x = mr.randn(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"one-element output, this one has shape \(2, 3\)"):
        (x * 2).backward()


def test_grad_shape_must_match():
    x = mr.randn(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\), but the tensor has shape \(2, 3\)"):
        (x * 2).backward(np.ones(3, dtype=np.float32))


def test_wrong_gradient_shape_from_a_function_names_both_shapes():
    class Broken(ops.Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy.sum(axis=0)  # forgot that x was (2, 3)

    x = mr.randn(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"BrokenBackward0 returned a gradient of shape \(3,\) for an input of shape \(2, 3\)"):
        apply(Broken(), x).backward(np.ones((2, 3), dtype=np.float32))


def test_no_grad_context_and_decorator():
    x = mr.randn(3, requires_grad=True)
    with mr.no_grad():
        y = x * 2
        assert not mr.is_grad_enabled()
    assert mr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @mr.no_grad()
    def evaluate(t):
        return t * 2

    assert evaluate(x).grad_fn is None
    assert (x * 2).grad_fn is not None


def test_no_grad_restores_after_an_exception():
    with pytest.raises(KeyError), mr.no_grad():
        raise KeyError("boom")
    assert mr.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = mr.randn(3, requires_grad=True)
    with mr.no_grad(), mr.enable_grad():
        assert (x * 2).requires_grad


def test_requires_grad_():
    x = mr.zeros(3)
    assert not (x * 2).requires_grad
    x.requires_grad_()
    assert (x * 2).requires_grad
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (x * 2).requires_grad_(False)
    with pytest.raises(TypeError, match="floating-point"):
        mr.tensor([1, 2]).requires_grad_()


def test_only_needed_gradients_reach_leaves():
    a = mr.randn(2, 2, requires_grad=True)
    b = mr.randn(2, 2)  # a constant
    (a @ b).sum().backward()
    assert a.grad is not None and b.grad is None


def test_detach_cuts_the_graph():
    x = mr.tensor([2.0], requires_grad=True)
    y = x * x
    z = y.detach() * x  # d/dx = y (constant) = 4
    z.backward(np.ones(1))
    assert x.grad.tolist() == [4.0]


def test_leaf_grad_is_not_a_view_of_a_saved_array():
    x = mr.tensor(np.ones((2, 3)), requires_grad=True)
    x.sum().backward()
    x.grad.array += 1  # would fail on a read-only broadcast view
    assert x.grad.tolist() == [[2.0] * 3] * 2
