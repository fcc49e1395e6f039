"""The engine: `apply` records the graph while the forward pass runs, `backward` walks it.

    y = apply(ops.Mul(), a, b)     # forward: y.array = a.array * b.array, and y.grad_fn is the Mul
    backward(loss)                 # backward: every op's backward once, from the loss to the leaves

An op (minires/ops/) computes on raw arrays: forward(*arrays) -> array, backward(gy) ->
one gradient per input. `apply` runs the forward and, when an input requires grad,
links the output to the op and the op to its inputs: that is the whole graph.
`backward` visits the ops from the output back to the leaves, so that each op's backward
runs once, with the sum of every gradient its output received, and adds the gradients
that reach a leaf into leaf.grad.

Beside the two, each bookkeeping concern is one small named helper: the seed gradient
(`_seed`), the saved-tensor version check (`_check_saved_versions`), adding into a leaf
(`_accumulate_leaf`); hooks are in hooks.py, anomaly checks in anomaly_mode.py.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from typing import Any

from .. import backend, ops
from ..grad_mode import is_anomaly_enabled, is_grad_enabled
from ..tensor import Tensor
from . import anomaly_mode, hooks


def apply(fn: ops.Function, *inputs: Tensor) -> Tensor:
    """Run fn.forward on the inputs' arrays and, if a gradient is needed, record fn.

    All inputs must live on the same device, and floating-point inputs must share
    one dtype (minires never promotes float32 to float64 behind your back).
    """
    check_same_device_and_dtype(fn.name, inputs)
    try:
        y = fn.forward(*(t.array for t in inputs))
    except ValueError as e:  # numpy's own shape errors, given the op and the shapes
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise ValueError(f"{fn.name}: {e} (input shapes {shapes})") from e
    y = backend.array_module(inputs[0].array).asarray(y)  # a reduction may return a scalar
    needs_grad = tuple(t.requires_grad for t in inputs)
    out = Tensor(y)
    if is_grad_enabled() and any(needs_grad):
        fn.saved_versions = _saved_versions(fn, inputs, out)  # before fn gets more attributes
        fn.inputs = inputs
        fn.input_creators = tuple(t.grad_fn for t in inputs)
        fn.needs_input_grad = needs_grad
        fn.generation = max(t.generation for t in inputs)
        out.requires_grad = True
        out.grad_fn = fn
        out.generation = fn.generation + 1
    if is_anomaly_enabled():  # minires.autograd.detect_anomaly: note the caller, check the output
        anomaly_mode.check_forward(fn, inputs, out)
    return out


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Sequence[Tensor] | None = None) -> None:
    """torch.autograd.backward: add d(tensors)/d(leaf) into leaf.grad for every leaf that
    requires grad (Tensor.backward is this for one tensor).

    grad_tensors: dL/d(tensor) for each tensor, same shape; None for a one-element tensor
    means 1. Several tensors are walked together, their gradients summed.
    retain_graph: keep the graph for another backward (default: free it as the walk goes).
    inputs: as torch's, only these tensors (leaves or not) get their gradient added to
    .grad; every other leaf is left alone (minires.autograd.grad is built on it).
    """
    if create_graph:
        raise NotImplementedError("backward: create_graph=True (higher-order gradients) is not supported by "
                                  "minires: its backward runs on raw arrays and records no graph")
    if isinstance(tensors, Tensor):
        tensors, grad_tensors = [tensors], [grad_tensors]
    tensors = list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    grad_tensors = list(grad_tensors)
    if len(grad_tensors) != len(tensors):
        raise ValueError(f"backward: got {len(grad_tensors)} gradients for {len(tensors)} tensors")
    only = None if inputs is None else {id(t) for t in inputs}  # None: every leaf
    pending: dict[ops.Function, Any] = {}  # op -> dL/d(its output), summed so far
    for tensor, gradient in zip(tensors, grad_tensors):
        gy = _seed(tensor, gradient)
        if tensor.grad_fn is None:  # the root is a leaf: its gradient is the seed
            if only is None or id(tensor) in only:
                _accumulate_leaf(tensor, gy)
                hooks.run_post_accumulate_grad_hooks(tensor)
        else:
            pending[tensor.grad_fn] = pending[tensor.grad_fn] + gy if tensor.grad_fn in pending else gy
    # an input that is not a leaf: its whole gradient is the gy of the op that made it
    wanted_non_leaves = {t.grad_fn: t for t in inputs or () if t.grad_fn is not None}
    if pending:
        _walk(pending, only, wanted_non_leaves, retain_graph)


def _walk(pending: dict, only: set[int] | None, wanted_non_leaves: dict, retain_graph: bool | None) -> None:
    """Run every op's backward once, in decreasing generation, which visits every consumer
    of a tensor before the op that produced it: by then `pending` holds the op's whole
    output gradient. Gradients for leaves go into their .grad, the rest to pending."""
    hooked_parts_left = hooks.count_leaf_parts(pending, only)  # id(leaf) -> gradients still to come
    anomaly = is_anomaly_enabled()  # minires.autograd.detect_anomaly: check every gradient
    tie_breaker = itertools.count()  # heapq never compares two Functions
    heap = [(-fn.generation, next(tie_breaker), fn) for fn in pending]
    heapq.heapify(heap)
    while heap:
        _, _, fn = heapq.heappop(heap)
        if fn.freed:
            raise RuntimeError(
                "backward: this graph was already freed by an earlier backward(); "
                "pass retain_graph=True to the first backward() to call it twice"
            )
        gy = pending.pop(fn)
        _check_saved_versions(fn)
        if fn in wanted_non_leaves:
            _accumulate_leaf(wanted_non_leaves[fn], gy)
        gxs = fn.backward(gy)
        gxs = gxs if isinstance(gxs, tuple) else (gxs,)
        if anomaly:
            anomaly_mode.check_backward(fn, gxs)
        # each input's creator as it was when fn ran (an in-place op may since have given
        # the input tensor a new grad_fn; the gradient belongs to the old one)
        for x, creator, gx, needed in zip(fn.inputs, fn.input_creators, gxs, fn.needs_input_grad):
            if not needed or gx is None:
                if needed and creator is None:
                    hooks.one_part_in(x, hooked_parts_left)  # a part that adds nothing
                continue
            if gx.shape != x.array.shape:
                raise RuntimeError(
                    f"backward: {fn.name}.backward returned a gradient of shape {gx.shape} "
                    f"for an input of shape {x.shape}"
                )
            if creator is None:
                if only is None or id(x) in only:
                    _accumulate_leaf(x, gx)
                hooks.one_part_in(x, hooked_parts_left)  # its hooks run after its last part
            elif creator in pending:
                pending[creator] = pending[creator] + gx  # x is used more than once
            else:
                pending[creator] = gx
                heapq.heappush(heap, (-creator.generation, next(tie_breaker), creator))
        if not retain_graph:
            fn.free()


# ---------------------------------------------------------------------- the bookkeeping


def _seed(tensor: Tensor, gradient: Any) -> Any:
    """The array the walk starts from at `tensor`: gradient (a Tensor, array or number of
    tensor's shape), or 1 for a one-element tensor when gradient is None."""
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
    return gy


def _accumulate_leaf(x: Tensor, gx: Any) -> None:
    """Add gx into x.grad (the first part becomes x.grad)."""
    if x._grad is None:
        x._grad = Tensor(gx.copy())  # gx may be a read-only broadcast view or a saved array
    else:
        x._grad.array = x._grad.array + gx  # the same grad Tensor, now holding the sum


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


def _saved_versions(fn: ops.Function, inputs: Sequence[Tensor], out: Tensor) -> tuple:
    """The (version counter, version now, array, input Tensor or None for the output) of
    every input or output whose very array fn kept as an attribute for its backward
    (Mul keeps a and b, Relu keeps y, Add keeps only shapes). Backward checks that those
    counters have not moved since; ops declare nothing, saving an array is the declaration."""
    kept = {id(value) for value in vars(fn).values()}
    saved = [(t._version_counter, t._version, t.array, t) for t in inputs if id(t.array) in kept]
    if id(out.array) in kept:
        saved.append((out._version_counter, out._version, out.array, None))
    return tuple(saved)


def _check_saved_versions(fn: ops.Function) -> None:
    """Raise PyTorch's error if an array fn saved for its backward was changed in place since."""
    for counter, version, saved, tensor in fn.saved_versions:
        if counter.value != version:
            _raise_modified_inplace(fn, counter.value, version, saved, tensor)


def _raise_modified_inplace(fn: ops.Function, now: int, version: int, saved: Any, tensor: Tensor | None) -> None:
    """PyTorch's message, in minires's words: which tensor, whose output it is, both versions."""
    creator = fn if tensor is None else tensor.grad_fn  # fn's own output, or the input's creator now
    made_by = f", which is output 0 of {creator.name}," if creator is not None else ""
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{saved.dtype} tensor of shape {tuple(saved.shape)}]{made_by} is at version "
        f"{now}; expected version {version} instead. It was saved by {fn.name} for its "
        f"backward. Hint: do the in-place op out of place (t = t + 1, not t += 1), or on a copy"
        + (f"; minires.autograd.detect_anomaly() shows where {fn.name} was created." if fn.forward_stack is None
           else f".\n{fn.name}'s " + anomaly_mode.format_stack(fn.forward_stack))
    )
