"""Gradients of gradients: how backward(create_graph=True) records the backward as a graph.

The first-order walk runs each op's `backward` on raw arrays: fast, and the formula the
lecture writes. Nothing of it is recorded, so its gradients cannot be differentiated
again. Under create_graph=True the walk holds Tensors instead and asks each node for its
backward *as Tensor ops*, which apply records like any forward pass:

- a linear op (Add, Sum, Reshape, GetItem, AvgPool2d, ...: `linear = True` in its class)
  needs nothing more. Its backward is linear in gy, and the adjoint of that backward is the
  op itself: `Adjoint(op, i)` is an op whose forward is op.backward (input i's share) and
  whose backward is op.forward. Both are already written, so every order works.
- any other op writes `backward_recorded(gy, saved)`: its derivative again, with Tensor ops.
  `saved(array)` gives the Tensor an array the op kept belongs to (an input, with its own
  grad_fn, or the op's output), so the recorded graph reaches back to the inputs.
- an autograd.Function's backward is already written with Tensor ops (function.py).
- an op with neither computes its gradients on arrays, and they come out made by a node
  that raises, naming the op, if a later backward reaches it (PyTorch's way for
  derivatives it does not implement).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .. import backend, ops
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from . import engine  # the module: engine's walk calls this one, and this one calls engine's apply
from .graph import NotTwiceDifferentiable

Array = Any


def backward_recorded(fn: ops.Function, gys: list) -> tuple:
    """fn's gradients (one per input) from its output gradients gys, as recorded Tensor ops."""
    if hasattr(fn, "backward_recorded"):
        return _as_tuple(fn.backward_recorded(*gys, saved=saved_tensor_of(fn)))
    if getattr(fn, "linear", False):
        (gy,) = gys
        return tuple(engine.apply(Adjoint(fn, i), gy) if needed else None
                     for i, needed in enumerate(fn.needs_input_grad))
    gxs = _as_tuple(fn.backward(*(None if g is None else g.array for g in gys)))
    return not_twice_differentiable(fn, gxs, gys)


class Adjoint(ops.Function):
    """Input i's share of a linear op's backward, as an op: y = op.backward(gy)[i].
    Its own backward is op.forward with gg in place of input i (zeros for the others):
    the adjoint of a linear map's adjoint is the map."""

    linear = True

    def __init__(self, op: ops.Function, i: int):
        self.op, self.i = op, i

    def name(self) -> str:
        return f"{self.op.name()}Backward"  # as PyTorch names a double backward: MulBackward0Backward

    def forward(self, gy: Array) -> Array:
        self.gy_shape = gy.shape
        return _as_tuple(self.op.backward(gy))[self.i]

    def backward(self, gg: Array) -> Array:
        xp = backend.array_module(gg)
        inputs = [gg if k == self.i else xp.zeros(shape, dtype=gg.dtype) for k, shape in enumerate(self.op.input_shapes)]
        return copy.copy(self.op).forward(*inputs)  # a copy: forward notes shapes on the op it runs on


def saved_tensor_of(fn: ops.Function) -> Callable[[Array], Tensor]:
    """saved(array) -> the Tensor that array belongs to: an input fn kept (itself, with its
    grad_fn), fn's output (a Tensor made by fn), or, for anything else, a constant."""
    inputs = {id(array): tensor for _, _, array, tensor in fn.saved_versions}

    def saved(array: Array) -> Tensor:
        if id(array) not in inputs:
            return Tensor(array)  # a constant for this graph (a mask, indices, a statistic)
        tensor = inputs[id(array)]
        if tensor is None:  # fn's own output
            tensor = Tensor(array)
            tensor._requires_grad, tensor.grad_fn, tensor.output_nr = True, fn, 0
        return tensor

    return saved


def not_twice_differentiable(fn: ops.Function, gxs: tuple, gys: tuple, message: str | None = None,
                             through_inputs: bool = True) -> tuple:
    """fn's gradients gxs (arrays or Tensors, None allowed) as Tensors made by a node that
    raises if a later backward reaches it. Its edges are those of the gradients fn received
    and (through_inputs) fn's own: whatever the true second derivative would depend on.
    @once_differentiable, as PyTorch's, links only the received gradients."""
    message = message or (f"{fn.name()} cannot be differentiated again in minires: its backward runs on arrays "
                          f"and no double backward is written for it (create_graph=True)")
    outputs = tuple(None if g is None else g if isinstance(g, Tensor) else Tensor(g) for g in gxs)
    edges = [engine.edge(g) for g in gys if isinstance(g, Tensor) and g.requires_grad]
    edges += [e for e in fn.next_functions if e[0] is not None] if through_inputs else []
    made = [o for o in outputs if o is not None and o.dtype.kind == "f"]
    if edges and made and is_grad_enabled():
        node = NotTwiceDifferentiable(message)
        engine.link(node, edges, made)
        node.num_outputs = len(made)
    return outputs


def _as_tuple(values: Any) -> tuple:
    return values if isinstance(values, tuple) else (values,)
