"""Activation layers, as torch/nn/modules/activation.py: each calls its functional form.

inplace=True writes the result into the input, as in torch (an in-place op: recorded in
the graph and checked by the version counter).
"""

from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module


class Sigmoid(Module):
    """y = 1 / (1 + e^-x), any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh x, any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class LeakyReLU(Module):
    """y = x for x > 0, negative_slope * x otherwise, any shape."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Softmax(Module):
    """y = exp(x) / sum(exp(x)) along dim (dim=None: torch's implicit choice, 1 for (N, C))."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """y = x - logsumexp(x) along dim."""

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)
