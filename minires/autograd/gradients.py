"""torch.autograd.grad: the gradients of outputs with respect to chosen inputs, returned
instead of added to .grad.

    x = mr.randn(3, requires_grad=True)
    (gx,) = mr.autograd.grad((x * x).sum(), x)     # gx = 2x; x.grad is untouched (still None)

It runs the same backward walk as Tensor.backward (minires/autograd/engine.py), asked to
return what reaches the inputs instead of adding anything into a .grad.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import backend
from ..tensor import Tensor
from . import engine


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """d(outputs)/d(inputs), one Tensor (or None, when allowed) per input, as a tuple.

    outputs:       a Tensor or a sequence of them; their gradients are summed
    grad_outputs:  dL/d(output) for each output (None for a one-element output means 1)
    retain_graph:  keep the graph for another backward (default: create_graph, i.e. False)
    create_graph:  record the backward as a graph, so the gradients can be differentiated again
    allow_unused:  an input the outputs do not depend on gets None instead of an error;
    materialize_grads: ... or zeros (implies allow_unused)
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"autograd.grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"autograd.grad: input {i} does not require grad; set requires_grad=True on it")
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"autograd.grad: output {i} does not require grad and has no grad_fn")
    retain_graph = create_graph if retain_graph is None else retain_graph

    grads = engine.run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs, accumulate=False)
    grads = [g if g is None or isinstance(g, Tensor) else Tensor(g) for g in grads]
    for i, (t, g) in enumerate(zip(inputs, grads)):
        if g is None and materialize_grads:
            grads[i] = Tensor(backend.array_module(t.array).zeros_like(t.array))
        elif g is None and not allow_unused:
            raise RuntimeError(
                f"autograd.grad: input {i} (shape {t.shape}) appears not to have been used in the graph; "
                f"set allow_unused=True if this is the desired behavior"
            )
    return tuple(grads)
