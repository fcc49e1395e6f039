"""The walk's hooks: what register_hook, retain_grad and a node's register_prehook /
register_hook asked for, run at the node they belong to (engine.py calls these).

The walk holds gradients as arrays (Tensors under create_graph); a hook is handed Tensors,
and what it returns goes back into the walk the same way.
"""

from __future__ import annotations

from typing import Any

from .. import ops
from ..tensor import Tensor
from .graph import add_into_grad


def _as_grad_tensor(g: Any) -> Tensor:
    return g if isinstance(g, Tensor) else Tensor(g)


def _as_grad_tensors(gs: Any) -> tuple:
    """The gradients a node hook is handed: Tensors, None where there is none."""
    return tuple(None if g is None else _as_grad_tensor(g) for g in gs)


def _from_hook(new: Any, old: Any, create_graph: bool, where: str) -> Any:
    """What a hook returned, as the walk holds gradients (array, or Tensor under create_graph)."""
    if not isinstance(new, Tensor):
        raise TypeError(f"{where}: a hook must return a Tensor or None, got {type(new).__name__}")
    if tuple(new.shape) != tuple(old.shape):
        raise RuntimeError(f"{where}: a hook changed the gradient's shape from {tuple(old.shape)} "
                           f"to {tuple(new.shape)}")
    return new if create_graph else new.array


def run_pre_hooks(fn: ops.Function, gys: list, create_graph: bool) -> list:
    """Before fn's backward, in PyTorch's order: the hooks of the tensors fn made
    (register_hook; each may return a new gradient), retain_grad, then fn's own pre-hooks."""
    for nr, hooks in (fn.tensor_pre_hooks or {}).items():
        for hook in list(hooks.values()):
            if gys[nr] is not None and (new := hook(_as_grad_tensor(gys[nr]))) is not None:
                gys[nr] = _from_hook(new, gys[nr], create_graph, "register_hook")
    for nr, tensor_ref in (fn.retained_grads or {}).items():
        t = tensor_ref()
        if t is not None and gys[nr] is not None:  # accumulates, as a leaf's .grad does
            add_into_grad(t, gys[nr])
    for hook in list((fn.pre_hooks or {}).values()):
        new = hook(_as_grad_tensors(gys))
        if new is not None:
            gys = [None if n is None else _from_hook(n, g, create_graph, "register_prehook")
                   for n, g in zip(new, gys)]
    return gys


def run_post_hooks(fn: ops.Function, gxs: tuple, gys: list, create_graph: bool) -> tuple:
    """After fn's backward: hook(grad_inputs, grad_outputs); a hook may return new grad_inputs."""
    for hook in list(fn.post_hooks.values()):
        new = hook(_as_grad_tensors(gxs), _as_grad_tensors(gys))
        if new is not None:
            gxs = tuple(None if n is None or g is None else _from_hook(n, g, create_graph, "Node.register_hook")
                        for n, g in zip(new, gxs))
    return gxs
