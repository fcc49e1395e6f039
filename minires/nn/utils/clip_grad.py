"""Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_.

Both change the .grad of each parameter in place, after backward and before the
optimizer's step:

    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ... import backend
from ...tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scale all gradients together so that their joint norm is at most max_norm.

    total = || (||g_1||, ||g_2||, ...) ||_p  (the p-norm of all gradient entries as one vector;
    norm_type=inf takes the largest |entry|). Each g is multiplied by
    min(1, max_norm / (total + 1e-6)). Returns total, a 0-d Tensor, before clipping.
    error_if_nonfinite=True raises when total is nan or inf. foreach is accepted and ignored.
    """
    grads = _grads(parameters)
    if not grads:
        return Tensor(0.0)
    norm_type = float(norm_type)
    xp = backend.array_module(grads[0].array)
    if math.isinf(norm_type):
        norms = [xp.abs(g.array).max() for g in grads]
        total = xp.stack([n.astype(grads[0].dtype) for n in norms]).max()
    else:
        norms = [(xp.abs(g.array) ** norm_type).sum() ** (1 / norm_type) for g in grads]
        total = (xp.stack([n.astype(grads[0].dtype) for n in norms]) ** norm_type).sum() ** (1 / norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}, so they "
            f"cannot be clipped; set error_if_nonfinite=False to clip anyway"
        )
    scale = xp.minimum(max_norm / (total + 1e-6), 1.0)  # stays on the device: no host sync per step
    for g in grads:
        g.array *= scale.astype(g.dtype)
    return Tensor(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach=None) -> None:
    """Clamp every gradient entry into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    xp = None
    for g in _grads(parameters):
        xp = xp or backend.array_module(g.array)
        xp.clip(g.array, -clip_value, clip_value, out=g.array)
