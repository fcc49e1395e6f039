"""autograd.Function's checks, PyTorch's error messages, and the graph's hooks: what the
PyTorch-style script (tests/test_autograd_idioms.py) does not reach."""

from __future__ import annotations

import numpy as np
import pytest

import minires as mr
from minires.autograd import Function


def x64(values):
    return mr.tensor(np.array(values, dtype=np.float64), requires_grad=True)


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return 2 * x * gy


def test_a_custom_function_passes_gradcheck_and_gradgradcheck_by_hand():
    x = x64([0.3, -1.2, 2.0])
    assert mr.gradcheck(Square.apply, x)
    # its backward is written with Tensor ops, so it is differentiable: d2/dx2 sum(x^2) = 2
    (g,) = mr.autograd.grad(Square.apply(x).sum(), x, create_graph=True)
    (h,) = mr.autograd.grad(g.sum(), x)
    assert h.tolist() == [2.0, 2.0, 2.0]


def test_wrong_number_of_gradients_names_the_function():
    class TooMany(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, gy):
            return gy, gy

    with pytest.raises(RuntimeError, match=r"function TooManyBackward returned an incorrect number of gradients "
                                           r"\(expected 1, got 2\)"):
        TooMany.apply(x64([1.0])).sum().backward()


def test_wrong_gradient_shape_names_the_function_and_a_broadcast_one_is_summed():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, gy):
            return mr.ones(5, dtype=mr.float64) * gy

    with pytest.raises(RuntimeError, match=r"Function BadShapeBackward returned an invalid gradient at index 0 - "
                                           r"got \[5\] but expected shape compatible with \[3\]"):
        BadShape.apply(x64([1.0, 2.0, 3.0])).backward()

    class Broadcast(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, gy):
            return mr.ones(4, 3, dtype=mr.float64) * gy  # summed down to (3,), as PyTorch does

    x = x64([1.0, 2.0, 3.0])
    Broadcast.apply(x).backward()
    assert x.grad.tolist() == [4.0, 4.0, 4.0]


def test_a_gradient_for_a_non_tensor_argument_is_refused():
    class Scale(Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, gy):
            return gy, gy

    with pytest.raises(RuntimeError, match="different than None at position 2, but the corresponding forward "
                                           "input was not a Variable"):
        Scale.apply(x64([1.0]), 3.0).sum().backward()


def test_a_saved_tensor_changed_in_place_raises_pytorchs_message():
    x = x64([1.0, 2.0])
    h = x * 1.0
    y = Square.apply(h)
    h.add_(1)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: .* is at version 1; "
                                           r"expected version 0 instead. It was saved by SquareBackward"):
        y.sum().backward()


def test_saved_tensors_after_the_graph_was_freed_and_instantiation():
    x = x64([1.0])
    y = Square.apply(x)
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.grad_fn.saved_tensors  # noqa: B018  (the access is the test)
    with pytest.raises(RuntimeError, match=r"call Square.apply\(...\)"):
        Square()
    assert y.grad_fn.name() == "SquareBackward", "the node keeps its name after backward"


def test_materialize_grads_false_hands_none_for_an_unused_output():
    seen = []

    class Two(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            seen.append((ga is None, gb is None))
            return ga * 2

    x = x64([1.0])
    a, _ = Two.apply(x)
    a.sum().backward()
    assert seen == [(False, True)] and x.grad.tolist() == [2.0]


def test_no_graph_without_grad_and_forward_runs_without_recording():
    inside = []

    class Spy(Function):
        @staticmethod
        def forward(ctx, x):
            inside.append(mr.is_grad_enabled())
            return x + 1

        @staticmethod
        def backward(ctx, gy):
            return gy

    y = Spy.apply(mr.tensor([1.0]))  # no input requires grad: no node
    assert y.grad_fn is None and not y.requires_grad and inside == [False]


def test_tensor_hook_errors_and_retain_grad_on_a_leaf():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        mr.tensor([1.0]).register_hook(lambda g: g)
    x = x64([1.0, 2.0])
    (x * 1.0).register_hook(lambda g: g.sum())  # a hook may not change the shape
    with pytest.raises(RuntimeError, match=r"changed the gradient's shape from \(2,\) to \(\)"):
        y = x * 1.0
        y.register_hook(lambda g: g.sum())
        y.sum().backward()
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        mr.tensor([1.0]).retain_grad()
    x.retain_grad()  # a leaf keeps its .grad anyway: nothing to do
    assert not x.retains_grad


def test_node_hooks_see_and_replace_gradients():
    x = x64([1.0, 2.0])
    y = x * 3
    seen = []
    y.grad_fn.register_prehook(lambda grad_outputs: seen.append(("pre", grad_outputs[0].tolist())))
    handle = y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: (grad_inputs[0] * 0 + 7, None))
    y.sum().backward(retain_graph=True)
    assert seen == [("pre", [1.0, 1.0])] and x.grad.tolist() == [7.0, 7.0]
    handle.remove()
    x.grad = None
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_autograd_backward_of_several_tensors_walks_once():
    x = x64([1.0, 2.0])
    a, b = x * 2, x * x
    mr.autograd.backward([a.sum(), b.sum()])
    assert x.grad.tolist() == [4.0, 6.0]
    with pytest.raises(ValueError, match="got 1 gradients for 2 tensors"):
        mr.autograd.backward([x * 1, x * 2], [mr.ones(2, dtype=mr.float64)])
