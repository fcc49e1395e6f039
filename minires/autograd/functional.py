"""torch.autograd.functional: derivatives of a whole function, built on autograd.grad.

    f = lambda x: (x ** 3).sum()
    jacobian(f, x)          # df/dx, shaped like x (f's output shape + x's shape)
    hessian(f, x)           # d2f/dx2, x.shape + x.shape
    vjp(f, x, v)            # (f(x), v^T J)     one backward
    jvp(f, x, v)            # (f(x), J v)       two backwards (the "double-vjp" trick)
    vhp(f, x, v), hvp(f, x, v)   # (f(x), v^T H), (f(x), H v) for a scalar f

Every one is a few calls of autograd.grad: a vector-Jacobian product is one backward
seeded with v; a Jacobian is one backward per output entry; a Hessian is the Jacobian of
the gradient, so it needs the gradient recorded as a graph (create_graph=True). A
Jacobian-vector product uses the double-vjp trick: u -> J^T u is linear in u, so its own
vjp with v gives J v.

inputs: a Tensor or a tuple of Tensors; the results come back in the same form (a tuple
of inputs gives tuples, and a Jacobian of several outputs and inputs nests them: [i][j]
is d output_i / d input_j). strict=True raises where an output does not depend on an
input (else that block is zeros). vectorize=True (PyTorch's vmap) is not available.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..creation import zeros_like
from ..functions import stack
from ..grad_mode import enable_grad
from ..tensor import Tensor
from .gradients import grad


def vjp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T J): the gradient of <func(inputs), v> with respect to the inputs."""
    with enable_grad():
        is_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph)
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "vjp")
        v = _vectors(v, outputs, "vjp", "the outputs")
        grads = _check_strict(grad(outputs, inputs, v, create_graph=create_graph, allow_unused=True), strict, "vjp")
        grads = _zeros_where_none(grads, inputs)
    return _unpack(_finish(outputs, create_graph), outputs_tuple), _unpack(_finish(grads, create_graph), is_tuple)


def jvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), J v), by the double-vjp trick: g(u) = J^T u is linear in u, and the
    vjp of g with v is J v. Needs func's ops to be twice differentiable."""
    with enable_grad():
        _, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare(inputs, create_graph)
        v = _vectors(v, inputs, "jvp", "the inputs")
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jvp")
        dummies = tuple(zeros_like(out).requires_grad_(True) for out in outputs)  # u, at which J^T u is taken
        grads = _check_strict(grad(outputs, inputs, dummies, create_graph=True, allow_unused=True), strict, "jvp")
        result = _vjp_of(grads, dummies, v, create_graph)
    return _unpack(_finish(outputs, create_graph), outputs_tuple), _unpack(_finish(result, create_graph), outputs_tuple)


def jacobian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode"):
    """d func(inputs) / d inputs: for one output and one input a Tensor of shape
    output.shape + input.shape; for tuples, result[i][j] = d output_i / d input_j.
    One backward per output entry (reverse mode)."""
    if vectorize:
        raise NotImplementedError("jacobian: vectorize=True (PyTorch's vmap) is not supported in minires; "
                                  "leave it False (one backward per output entry)")
    if strategy != "reverse-mode":
        raise NotImplementedError(f"jacobian: strategy={strategy!r} is not supported in minires; forward-mode "
                                  f"AD is not implemented, use strategy='reverse-mode'")
    with enable_grad():
        is_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph)
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jacobian")
        blocks = []
        for i, out in enumerate(outputs):
            flat = out.reshape(-1)
            rows: list[list[Tensor]] = [[] for _ in inputs]
            for k in range(flat.shape[0]):  # row k of the Jacobian: the gradient of output entry k
                grads = grad(flat[k], inputs, retain_graph=True, create_graph=create_graph, allow_unused=True)
                for j, (g, x) in enumerate(zip(grads, inputs)):
                    if g is None and strict:
                        raise RuntimeError(f"jacobian: output {i} of the user-provided function is independent of "
                                           f"input {j}; this is not allowed in strict mode")
                    rows[j].append(zeros_like(x) if g is None else g)
            blocks.append(tuple(_rows_to_block(r, out, x) for r, x in zip(rows, inputs)))
        blocks = tuple(tuple(_finish(block, create_graph)) for block in blocks)
    if not outputs_tuple:
        return blocks[0] if is_tuple else blocks[0][0]
    return blocks if is_tuple else tuple(block[0] for block in blocks)


def hessian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode"):
    """d2 func / d inputs2 for a func with a single-element output: the Jacobian of its gradient,
    shaped input.shape + input.shape (for tuples, result[i][j] = d2 f / d input_i d input_j)."""
    is_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*xs: Tensor):
        out = func(*xs)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError("hessian: the function given to hessian should return a single Tensor with one "
                               f"element, got {type(out).__name__} of shape {getattr(out, 'shape', None)}")
        return jacobian(lambda *ys: func(*ys).reshape(()), xs, create_graph=True, strict=strict)

    result = jacobian(gradient, inputs, create_graph, strict, vectorize, outer_jacobian_strategy)
    return result if is_tuple else result[0][0]


def vhp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T H) for a single-element func: the vjp of its gradient with v."""
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), H v) for a single-element func. H is symmetric for a twice continuously
    differentiable func, so this is v^T H transposed (PyTorch computes it by the double-vjp
    trick; both give the same numbers)."""
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


def _hessian_product(func: Callable, inputs: Any, v: Any, create_graph: bool, strict: bool, name: str):
    with enable_grad():
        is_tuple, inputs = _as_tuple(inputs, "inputs", name)
        inputs = _prepare(inputs, create_graph)
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", name)
        if len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError(f"{name}: the function given to {name} should return a single Tensor with one element")
        v = _vectors(v, inputs, name, "the inputs")
        gradients = _check_strict(grad(outputs, inputs, create_graph=True, allow_unused=True), strict, name)
        result = _vjp_of(gradients, inputs, v, create_graph)
    return _unpack(_finish(outputs, create_graph), outputs_tuple), _unpack(_finish(result, create_graph), is_tuple)


# ---------------------------------------------------------------------- shared helpers


def _as_tuple(value: Any, what: str, name: str) -> tuple[bool, tuple]:
    """(whether value was a tuple, value as a tuple of Tensors)."""
    is_tuple = isinstance(value, (tuple, list))
    values = tuple(value) if is_tuple else (value,)
    for i, t in enumerate(values):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: the {what} must be a Tensor or a tuple of Tensors, but entry {i} is "
                            f"{type(t).__name__}")
    return is_tuple, values


def _prepare(inputs: tuple, create_graph: bool) -> tuple:
    """Inputs that require grad: fresh leaves, or (create_graph) views that keep their history."""
    if create_graph:
        return tuple(x.view_as(x) if x.requires_grad else x.detach().requires_grad_(True) for x in inputs)
    return tuple(x.detach().requires_grad_(True) for x in inputs)


def _vectors(v: Any, like: tuple, name: str, what: str) -> tuple:
    """v as a tuple shaped like `like`; None is allowed only for single-element tensors (then 1)."""
    if v is None:
        if any(t.numel() != 1 for t in like):
            raise RuntimeError(f"{name}: the vector v can only be None if {what} contain a single element")
        return tuple(zeros_like(t) + 1 for t in like)
    _, v = _as_tuple(v, "v", name)
    if len(v) != len(like) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(v, like)):
        raise RuntimeError(f"{name}: v has shapes {[tuple(a.shape) for a in v]}, which do not match "
                           f"{what}' shapes {[tuple(b.shape) for b in like]}")
    return v


def _check_strict(grads: tuple, strict: bool, name: str) -> tuple:
    """grads as they are; with strict, an input that got none (its output does not depend on it) raises."""
    if strict and any(g is None for g in grads):
        raise RuntimeError(f"{name}: the output of the user-provided function is independent of an input; "
                           f"this is not allowed in strict mode")
    return grads


def _vjp_of(grads: tuple, wrt: tuple, v: tuple, create_graph: bool) -> tuple:
    """d <grads, v> / d wrt, zeros where it does not depend on wrt: the second backward of jvp
    (wrt: the dummy u) and of vhp/hvp (wrt: the inputs)."""
    pairs = [(g, vi) for g, vi in zip(grads, v) if g is not None and g.requires_grad]
    result = grad([g for g, _ in pairs], wrt, [vi for _, vi in pairs], create_graph=create_graph,
                  allow_unused=True) if pairs else (None,) * len(wrt)
    return _zeros_where_none(result, wrt)


def _zeros_where_none(grads: tuple, like: tuple) -> tuple:
    return tuple(zeros_like(x) if g is None else g for g, x in zip(grads, like))


def _rows_to_block(rows: list[Tensor], out: Tensor, x: Tensor) -> Tensor:
    """One gradient per output entry, stacked into d out / d x: out.shape + x.shape."""
    return stack(rows).reshape(tuple(out.shape) + tuple(x.shape))


def _finish(tensors: tuple, create_graph: bool) -> tuple:
    """Without create_graph, results carry no graph (as PyTorch's)."""
    return tuple(t if create_graph else t.detach() for t in tensors)


def _unpack(values: tuple, as_tuple: bool) -> Any:
    return values if as_tuple else values[0]
