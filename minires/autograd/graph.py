"""The graph's last stop, AccumulateGrad (the node that adds a gradient into a leaf's .grad),
and NotTwiceDifferentiable (the node of gradients that cannot be differentiated again).

An op's output knows the op that made it (`y.grad_fn`), and the op knows where each
input's gradient goes (`grad_fn.next_functions`, one (node, output index) pair per input,
as in PyTorch). For an input made by another op, that is the other op. For a leaf that
requires grad (a parameter, an input you marked), it is the leaf's AccumulateGrad node:

    >>> import minires as mr
    >>> w = mr.tensor([1.0, 2.0], requires_grad=True)
    >>> y = (w * 3).sum()
    >>> y.grad_fn.name(), y.grad_fn.next_functions[0][0].name()
    ('SumBackward0', 'MulBackward0')
    >>> acc, _ = y.grad_fn.next_functions[0][0].next_functions[0]
    >>> acc.name(), acc.variable is w
    ('AccumulateGrad', True)

A leaf has one AccumulateGrad for its whole life (made the first time an op uses it), so
every graph that uses a weight ends at the same node.
"""

from __future__ import annotations

import sys
from typing import Any

from ..ops.function import Array, Function
from ..tensor import Tensor


class AccumulateGrad(Function):
    """The node of a leaf: its backward adds the gradient into variable.grad, then runs the
    leaf's post-accumulate-grad hooks (DistributedDataParallel starts its all-reduce there)."""

    sequence_nr = sys.maxsize  # PyTorch's order: a leaf's gradient is stored as soon as it is complete

    def __init__(self, variable: Tensor):
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    @property
    def tensor_pre_hooks(self) -> dict | None:
        """The leaf's register_hook hooks: they may change the gradient before it is added."""
        return {0: self.variable._backward_hooks} if self.variable._backward_hooks else None

    def backward(self, gy: Array | Tensor | None) -> tuple:
        x = self.variable
        if gy is not None:
            add_into_grad(x, gy)
        for hook in list((x._post_accumulate_grad_hooks or {}).values()):
            hook(x)
        return ()

    def backward_recorded(self, gy: Tensor | None, saved: Any = None) -> tuple:
        return self.backward(gy)  # under create_graph the walk hands it a Tensor

    def free(self) -> None:  # a leaf's node outlives every graph that ends at it
        pass


def add_into_grad(t: Tensor, g: Array | Tensor) -> None:
    """Add the gradient g into t.grad, the first part becoming t.grad: a leaf's, or a tensor's
    that retain_grad() or backward(inputs=...) asked for."""
    if isinstance(g, Tensor):  # backward(create_graph=True): .grad keeps the gradient's own graph
        t._grad = g if t._grad is None else t._grad + g
    elif t._grad is None:
        t._grad = Tensor(g.copy())  # g may be a read-only broadcast view or a saved array
    else:
        t._grad.array = t._grad.array + g  # the same grad Tensor, now holding the sum


def grad_accumulator(leaf: Tensor) -> AccumulateGrad:
    """The leaf's AccumulateGrad node, made the first time it is asked for."""
    if leaf._accumulator is None:
        leaf._accumulator = AccumulateGrad(leaf)
    return leaf._accumulator


class NotTwiceDifferentiable(Function):
    """The grad_fn of gradients computed without a graph under create_graph: differentiating
    them again raises, naming the op (PyTorch's DelayedError)."""

    def __init__(self, message: str):
        self.message = message

    def name(self) -> str:
        return "NotTwiceDifferentiableBackward0"

    def backward(self, *grad_outputs: Array) -> tuple:
        raise RuntimeError(self.message)
