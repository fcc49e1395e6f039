"""The base class of every differentiable op, and the one helper that undoes broadcasting.

A Function works on raw arrays (numpy or cupy), never on Tensors:

    forward(*arrays) -> array      computes y and saves what backward needs
    backward(gy)     -> gradients  one per input (None where no gradient is needed)

`minires.autograd.engine.apply` wraps it: it unpacks Tensors into arrays, calls forward,
and records the Function as the creator of the output Tensor so that
the backward walk (minires/autograd/engine.py) can call backward later. Keeping ops free of Tensor means
each op can be read (and tested) as plain array math.

Conventions: x/y are the forward input/output, gy is dL/dy, gx (or ga, gb)
what backward returns. backward never modifies gy or a saved array in place.
"""

from __future__ import annotations

from typing import Any

Array = Any  # a numpy.ndarray or a cupy.ndarray


class Function:
    """One node of the graph. Subclasses implement forward and backward.

    Set by `minires.autograd.engine.apply` when the output needs a gradient:
      inputs            the input Tensors (so backward can pass gradients on)
      input_creators    each input's grad_fn when this op ran (None for a leaf): where
                        backward sends that input's gradient, even if an in-place op
                        has since given the input tensor a new grad_fn
      saved_versions    for each input (or the output) whose array forward kept as an
                        attribute, its version counter and version then; backward
                        raises if an in-place op has changed it since
      needs_input_grad  one bool per input; backward may skip the others
      generation        the largest generation among the inputs (a leaf has 0, an
                        op's output 1 + its op's), so processing in decreasing
                        generation visits every consumer of a tensor before the
                        tensor's creator
      forward_stack     under minires.autograd.detect_anomaly only: the Python stack
                        (traceback.StackSummary) of the call that created the op,
                        so a bad gradient can be traced back to the user's line
    """

    inputs: tuple = ()
    input_creators: tuple = ()
    saved_versions: tuple = ()
    needs_input_grad: tuple[bool, ...] = ()
    generation: int = 0
    freed: bool = False
    forward_stack: Any = None

    def forward(self, *xs: Array) -> Array:
        raise NotImplementedError

    def backward(self, gy: Array) -> Array | tuple[Array | None, ...]:
        raise NotImplementedError

    def free(self) -> None:
        """Drop the saved arrays and the links to the inputs (called after backward)."""
        self.__dict__.clear()
        self.freed = True

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name}>"


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
