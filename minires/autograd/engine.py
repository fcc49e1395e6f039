"""The engine: `apply` records the graph while the forward pass runs, `backward` walks it.

    y = apply(ops.Mul(), a, b)     # forward: y.array = a.array * b.array, and y.grad_fn is the Mul
    backward(loss)                 # backward: every node's backward once, from the loss to the leaves

An op (minires/ops/) computes on raw arrays: forward(*arrays) -> array, backward(gy) ->
one gradient per input. `apply` runs the forward and, when an input requires grad,
records the op as a node of the graph: the output's `grad_fn` is the op, and the op's
`next_functions` say where each input's gradient goes (the node that made that input,
or a leaf's AccumulateGrad, which adds it into leaf.grad; see graph.py).

`backward` visits the nodes from the output back to the leaves. A node may run once all
the nodes that use its output have sent their share of its gradient: the walk first
counts those users for every node it will reach, then runs a node when its count drops
to zero, so each backward runs once, with the sum of everything its output received.
autograd.Function (function.py) records its nodes with the same `record`, and the walk
runs them the same way: one mechanism, seen from two sides.

Beside the walk, each bookkeeping concern is one small named helper: the seed gradient
(`_seed`), the users count (`_count_users`), the saved-tensor version check
(`_check_saved_versions`); the hooks are run by hooks.py, the anomaly checks by anomaly_mode.py.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from typing import Any

from .. import backend, ops
from ..grad_mode import is_anomaly_enabled, is_grad_enabled, set_grad_enabled
from ..tensor import Tensor
from . import anomaly_mode, higher_order, hooks
from .graph import AccumulateGrad, add_into_grad, grad_accumulator

Edge = tuple  # (node or None, output index): where one input's gradient goes

_sequence = itertools.count(1)  # nodes are numbered as they are made; the walk runs the newest ready one first


def apply(fn: ops.Function, *inputs: Tensor) -> Tensor:
    """Run fn.forward on the inputs' arrays and, if a gradient is needed, record fn.

    All inputs must live on the same device, and floating-point inputs must share
    one dtype (minires never promotes float32 to float64 behind your back).
    """
    op = type(fn).__name__
    check_same_device_and_dtype(op, inputs)
    try:
        y = fn.forward(*(t.array for t in inputs))
    except ValueError as e:  # numpy's own shape errors, given the op and the shapes
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise ValueError(f"{op}: {e} (input shapes {shapes})") from e
    out = Tensor(backend.array_module(inputs[0].array).asarray(y))  # a reduction may return a scalar
    if out.array is not y:  # ... then what fn kept as its output must be the output's array
        for name, value in list(vars(fn).items()):
            if value is y:
                setattr(fn, name, out.array)
    if is_grad_enabled() and any(t.requires_grad for t in inputs):
        record(fn, inputs, (out,))
    if is_anomaly_enabled():  # minires.autograd.detect_anomaly: note the caller, check the output
        anomaly_mode.check_forward(fn, inputs, out)
    return out


def record(fn: ops.Function, inputs: Sequence[Tensor], outputs: Sequence[Tensor]) -> None:
    """Make fn a node of the graph: the outputs' grad_fn, linked to where each input's gradient goes."""
    fn.saved_versions = _saved_versions(fn, inputs, outputs)  # before fn gets more attributes
    fn.needs_input_grad = tuple(t.requires_grad for t in inputs)
    fn.input_shapes = tuple(t.shape for t in inputs)
    link(fn, [edge(t) for t in inputs], outputs)


def link(fn: ops.Function, edges: Sequence[Edge], outputs: Sequence[Tensor]) -> None:
    """fn's edges to the nodes its inputs' gradients go to, and fn as its outputs' grad_fn."""
    fn.next_functions = tuple(edges)
    fn.sequence_nr = next(_sequence)
    for i, out in enumerate(outputs):
        out._requires_grad, out.grad_fn, out.output_nr = True, fn, i


def edge(t: Tensor) -> Edge:
    """Where t's gradient goes: the node that made it, its leaf's AccumulateGrad, or nowhere."""
    if t.grad_fn is not None:
        return t.grad_fn, t.output_nr
    return (grad_accumulator(t), 0) if t.requires_grad else (None, 0)


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Tensor | Sequence[Tensor] | None = None) -> None:
    """torch.autograd.backward: add d(tensors)/d(leaf) into leaf.grad for every leaf that
    requires grad (Tensor.backward is this for one tensor).

    grad_tensors: dL/d(tensor) for each tensor, same shape; None for a one-element tensor
    means 1. Several tensors are walked together, their gradients summed.
    retain_graph: keep the graph for another backward (default: create_graph, i.e. free
    it as the walk goes). create_graph: record the backward itself as a graph, so the
    gradients can be differentiated again (their .grad then has a grad_fn).
    inputs: as torch's, only these tensors (leaves or not) get their gradient added to
    .grad; every other leaf is left alone.
    """
    inputs = None if inputs is None else [inputs] if isinstance(inputs, Tensor) else list(inputs)
    found = run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs, accumulate=True)
    for t, g in zip(inputs or (), found):
        if t.grad_fn is not None and g is not None:  # a non-leaf asked for: its whole gradient, added
            add_into_grad(t, g)


def run_backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any, retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Tensor] | None, accumulate: bool) -> list:
    """The walk behind backward (accumulate=True: leaves' .grad) and autograd.grad
    (accumulate=False: nothing is stored). Returns the gradient that reached each of
    `inputs` (None where none did): arrays, or Tensors under create_graph."""
    tensors, grad_tensors = _as_lists(tensors, grad_tensors)
    retain_graph = create_graph if retain_graph is None else retain_graph
    pending: dict[ops.Function, list] = {}  # node -> dL/d(each of its outputs), summed so far
    for t, g in zip(tensors, grad_tensors):
        node, nr = edge(t)
        _add(pending, node, nr, _seed(t, g, create_graph))
    captures: dict[ops.Function, list] = {}  # node -> [(output index, position in inputs)]
    for i, (node, nr) in enumerate(edge(t) for t in inputs or ()):
        captures.setdefault(node, []).append((nr, i))
    found: list = [None] * len(inputs or ())
    with set_grad_enabled(create_graph):  # only a create_graph backward records a graph
        _walk(pending, captures, found, inputs is None, accumulate, retain_graph, create_graph)
    return found


def _walk(pending: dict, captures: dict, found: list, every_leaf: bool, accumulate: bool,
          retain_graph: bool, create_graph: bool) -> None:
    """Run each node once all its users have sent their gradient, newest first."""
    users_left = _count_users(pending)  # node -> users that have not sent their gradient yet
    tie_breaker = itertools.count()  # heapq never compares two nodes
    ready = [(-fn.sequence_nr, next(tie_breaker), fn) for fn in pending if not users_left.get(fn)]
    heapq.heapify(ready)
    while ready:
        fn = heapq.heappop(ready)[2]
        gys = hooks.run_pre_hooks(fn, pending.pop(fn, None) or [None] * fn.num_outputs, create_graph)
        for nr, i in captures.get(fn, ()):
            found[i] = gys[nr]
        if isinstance(fn, AccumulateGrad) and not (accumulate and (every_leaf or fn in captures)):
            continue  # a leaf this backward does not write
        gxs = _run_backward(fn, gys, create_graph)
        for (next_fn, nr), gx in zip(fn.next_functions, gxs):
            if next_fn is None:
                continue
            if gx is not None:
                _add(pending, next_fn, nr, gx)
            users_left[next_fn] -= 1
            if users_left[next_fn] == 0:  # every user of next_fn's output has sent its share
                heapq.heappush(ready, (-next_fn.sequence_nr, next(tie_breaker), next_fn))
        if not retain_graph:
            fn.free()


def _run_backward(fn: ops.Function, gys: list, create_graph: bool) -> tuple:
    """fn's backward on its output gradients (checked), and its post-hooks: one gradient per input."""
    if fn.freed:
        raise RuntimeError(
            "backward: this graph was already freed by an earlier backward(); "
            "pass retain_graph=True to the first backward() to call it twice"
        )
    if all(g is None for g in gys) and not isinstance(fn, AccumulateGrad):
        return (None,) * len(fn.next_functions)  # nothing reached this node: nothing to pass on
    _check_saved_versions(fn)
    gxs = higher_order.backward_recorded(fn, gys) if create_graph else fn.backward(*gys)
    gxs = gxs if isinstance(gxs, tuple) else (gxs,)
    if is_anomaly_enabled():  # minires.autograd.detect_anomaly: check every gradient
        anomaly_mode.check_backward(fn, gxs)
    for gx, shape in zip(gxs, fn.input_shapes):
        if gx is not None and tuple(gx.shape) != shape:
            raise RuntimeError(f"backward: {fn.name()} returned a gradient of shape {tuple(gx.shape)} "
                               f"for an input of shape {shape}")
    return hooks.run_post_hooks(fn, gxs, gys, create_graph) if fn.post_hooks else gxs


# ---------------------------------------------------------------------- the bookkeeping


def _as_lists(tensors: Any, grad_tensors: Any) -> tuple[list, list]:
    if isinstance(tensors, Tensor):
        tensors, grad_tensors = [tensors], [grad_tensors]
    tensors = list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    grad_tensors = list(grad_tensors)
    if len(grad_tensors) != len(tensors):
        raise ValueError(f"backward: got {len(grad_tensors)} gradients for {len(tensors)} tensors")
    return tensors, grad_tensors


def _seed(tensor: Tensor, gradient: Any, create_graph: bool) -> Any:
    """The gradient the walk starts from at `tensor`: gradient (a Tensor, array or number of
    tensor's shape), or 1 for a one-element tensor when gradient is None. An array, or a
    Tensor under create_graph."""
    if not tensor.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no grad_fn")
    xp = backend.array_module(tensor.array)
    if gradient is None:
        if tensor.array.size != 1:
            raise RuntimeError(
                f"backward: a gradient can only be implied for a one-element output, "
                f"this one has shape {tensor.shape}; pass gradient= with that shape"
            )
        gradient = xp.ones_like(tensor.array)
    gy = gradient.array if isinstance(gradient, Tensor) else xp.asarray(gradient, dtype=tensor.dtype)
    if gy.shape != tensor.array.shape:
        raise ValueError(f"backward: gradient has shape {gy.shape}, but the tensor has shape {tensor.shape}")
    if create_graph:
        return gradient if isinstance(gradient, Tensor) else Tensor(gy)
    return gy


def _add(pending: dict, node: ops.Function, nr: int, g: Any) -> None:
    """Add g to the gradient of node's output nr (a tensor used twice gets two parts)."""
    grads = pending.setdefault(node, [None] * node.num_outputs)
    grads[nr] = g if grads[nr] is None else grads[nr] + g


def _count_users(pending: dict) -> dict:
    """For every node this walk reaches from the roots: how many edges lead into it, i.e.
    how many gradients it will be sent before it may run. One pass before the walk."""
    users: dict = {}
    stack = list(pending)
    seen = set(stack)
    while stack:  # a loop, not a recursion: a ResNet-1202's graph is thousands of nodes deep
        for next_fn, _ in stack.pop().next_functions:
            if next_fn is None:
                continue
            users[next_fn] = users.get(next_fn, 0) + 1
            if next_fn not in seen:
                seen.add(next_fn)
                stack.append(next_fn)
    return users


def check_same_device_and_dtype(op_name: str, inputs: Sequence[Tensor]) -> None:
    devices = {t.device for t in inputs}
    if len(devices) > 1:
        where = ", ".join(f"input {i} on {t.device}" for i, t in enumerate(inputs))
        raise RuntimeError(f"{op_name}: all inputs must be on one device, got {where}; move them with .to(device)")
    float_dtypes = {t.dtype for t in inputs if t.dtype.kind == "f"}
    if len(float_dtypes) > 1:
        which = ", ".join(f"input {i} is {t.dtype}" for i, t in enumerate(inputs))
        raise TypeError(f"{op_name}: inputs must have one floating dtype, got {which}; convert with .to(dtype)")


# ---------------------------------------------------------------------- saved tensors and in-place ops
# An in-place op bumps its tensor's version (tensor.py, "in-place ops"). apply notes the
# version of every array an op kept for its backward; the walk checks it has not moved.


def _saved_versions(fn: ops.Function, inputs: Sequence[Tensor], outputs: Sequence[Tensor]) -> tuple:
    """The (version counter, version now, array, input Tensor or None for an output) of
    every input or output whose very array fn kept as an attribute for its backward
    (Mul keeps a and b, Relu keeps y, Add keeps only shapes). Backward checks that those
    counters have not moved since; ops declare nothing, saving an array is the declaration."""
    kept = {id(value) for value in vars(fn).values()}
    saved = [(t._version_counter, t._version, t.array, t) for t in inputs if id(t.array) in kept]
    saved += [(t._version_counter, t._version, t.array, None) for t in outputs if id(t.array) in kept]
    return tuple(saved)


def _check_saved_versions(fn: ops.Function) -> None:
    """Raise PyTorch's error if an array fn saved for its backward was changed in place since."""
    for counter, version, saved, tensor in fn.saved_versions:
        if counter.value != version:
            raise_modified_inplace(fn, counter.value, version, saved, tensor)


def raise_modified_inplace(fn: ops.Function, now: int, version: int, saved: Any, tensor: Tensor | None) -> None:
    """PyTorch's message, in minires's words: which tensor, whose output it is, both versions."""
    creator = fn if tensor is None else tensor.grad_fn  # fn's own output, or the input's creator now
    made_by = f", which is output 0 of {creator.name()}," if creator is not None else ""
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{saved.dtype} tensor of shape {tuple(saved.shape)}]{made_by} is at version "
        f"{now}; expected version {version} instead. It was saved by {fn.name()} for its "
        f"backward. Hint: do the in-place op out of place (t = t + 1, not t += 1), or on a copy"
        + (f"; minires.autograd.detect_anomaly() shows where {fn.name()} was created." if fn.forward_stack is None
           else f".\n{fn.name()}'s " + anomaly_mode.format_stack(fn.forward_stack))
    )
