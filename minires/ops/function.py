"""The base class of every differentiable op, and the one helper that undoes broadcasting.

A Function works on raw arrays (numpy or cupy), never on Tensors:

    forward(*arrays) -> array      computes y and saves what backward needs
    backward(gy)     -> gradients  one per input (None where no gradient is needed)

`minires.autograd.engine.apply` wraps it: it unpacks Tensors into arrays, calls forward,
and records the Function as the creator (`grad_fn`) of the output Tensor, so that the
backward walk (minires/autograd/engine.py) can call backward later. Keeping ops free of
Tensor means each op can be read (and tested) as plain array math.

Conventions: x/y are the forward input/output, gy is dL/dy, gx (or ga, gb)
what backward returns. backward never modifies gy or a saved array in place.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ..utils.hooks import RemovableHandle, add_hook

Array = Any  # a numpy.ndarray or a cupy.ndarray


class Function:
    """One node of the graph. Subclasses implement forward and backward.

    Set by `minires.autograd.engine.apply` when the output needs a gradient:
      next_functions    one (node, output index) pair per input, as PyTorch's: where
                        backward sends that input's gradient. The node is the input's
                        grad_fn when this op ran (an in-place op may since have given the
                        tensor a new one), a leaf's AccumulateGrad, or None for an input
                        that needs no gradient
      needs_input_grad  one bool per input; backward may skip the others
      input_shapes      each input's shape, which its gradient must have
      saved_versions    for each input (or the output) whose array forward kept as an
                        attribute, its version counter and version then; backward
                        raises if an in-place op has changed it since
      sequence_nr       the order the ops were made in; among the ops ready to run,
                        backward runs the newest first (PyTorch's order)
      forward_stack     under minires.autograd.detect_anomaly only: the Python stack
                        (traceback.StackSummary) of the call that created the op,
                        so a bad gradient can be traced back to the user's line

    linear: True for an op whose output is linear in its inputs (Add, Sum, Reshape, ...):
    backward(create_graph=True) then records its backward with nothing more written
    (minires/autograd/higher_order.py); other ops write backward_recorded(gy, saved).

    Hooks (PyTorch's Node hooks; the walk runs them): register_prehook(hook(grad_outputs)),
    register_hook(hook(grad_inputs, grad_outputs)); a hook may return new gradients.
    """

    next_functions: tuple = ()
    needs_input_grad: tuple[bool, ...] = ()
    input_shapes: tuple = ()
    saved_versions: tuple = ()
    sequence_nr: int = 0
    num_outputs: int = 1  # a user-level autograd.Function may make several
    linear: bool = False
    freed: bool = False
    forward_stack: Any = None
    # hooks, by handle id; None until one is registered (most nodes have none)
    pre_hooks: OrderedDict | None = None  # hook(grad_outputs) before backward
    post_hooks: OrderedDict | None = None  # hook(grad_inputs, grad_outputs) after it
    tensor_pre_hooks: dict | None = None  # output index -> its tensor's register_hook dict
    retained_grads: dict | None = None  # output index -> weakref to a tensor that retain_grad()s

    def forward(self, *xs: Array) -> Array:
        raise NotImplementedError

    def backward(self, gy: Array) -> Array | tuple[Array | None, ...]:
        raise NotImplementedError

    def name(self) -> str:
        """As PyTorch's node names: the op's class and 'Backward0' (MulBackward0, Conv2dBackward0),
        so the name leads to the class in minires/ops/ whose backward runs."""
        return f"{type(self).__name__}Backward0"

    def register_prehook(self, hook: Any) -> RemovableHandle:
        """hook(grad_outputs) -> None or new grad_outputs, before this node's backward runs."""
        if self.pre_hooks is None:
            self.pre_hooks = OrderedDict()
        return add_hook(self.pre_hooks, hook, f"{self.name()}.register_prehook")

    def register_hook(self, hook: Any) -> RemovableHandle:
        """hook(grad_inputs, grad_outputs) -> None or new grad_inputs, after this node's backward."""
        if self.post_hooks is None:
            self.post_hooks = OrderedDict()
        return add_hook(self.post_hooks, hook, f"{self.name()}.register_hook")

    def free(self) -> None:
        """Drop the saved arrays (called after backward). The links to the next nodes stay,
        so the graph can still be walked and drawn, as in PyTorch."""
        edges, order = self.next_functions, self.sequence_nr
        self.__dict__.clear()
        self.next_functions, self.sequence_nr, self.freed = edges, order, True

    def __repr__(self) -> str:
        return f"<{self.name()}>"


def apply_op(fn: Function, *inputs: Any) -> Any:
    """engine.apply, for the backward_recorded methods (create_graph=True) that apply an op of
    their own (conv's input and weight gradients). Imported at call time, because the ops sit
    below the engine, which imports them; the first-order path never calls this."""
    from ..autograd.engine import apply

    return apply(fn, *inputs)


def unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum g back down to `shape`, undoing numpy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of
    size 1; the adjoint of a copy is a sum, so we sum over exactly those axes.

    g: the gradient, shaped like the broadcast result;  returns an array of `shape`.

    >>> import numpy as np
    >>> unbroadcast(np.ones((2, 3, 4)), (3, 1)).tolist()
    [[8.0], [8.0], [8.0]]
    """
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(extra))) if extra > 0 else g  # new leading axes
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)  # size-1 axes that were stretched
    return g.reshape(shape)
