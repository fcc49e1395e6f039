"""torch.autograd.Variable, PyTorch's old (deprecated since 0.4) wrapper: a Tensor is all it
ever was, so Variable(t) and Variable(t, requires_grad=True) give a Tensor."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor


def Variable(data: Any, requires_grad: bool = False, volatile: bool = False) -> Tensor:
    """A leaf Tensor sharing data's array (a Tensor or an array), as in PyTorch >= 0.4.
    volatile was removed from PyTorch; True raises and points at no_grad."""
    if volatile:
        raise NotImplementedError("Variable: volatile=True was removed from PyTorch; use `with mr.no_grad():`")
    return Tensor(data, requires_grad=requires_grad)
