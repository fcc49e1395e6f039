"""Weight initialisers, as torch.nn.init: each fills a Parameter in place, drawing from
the generator that `mr.manual_seed` seeds.

fan_in of a weight (C_out, C_in, KH, KW) is C_in*KH*KW, its fan_out C_out*KH*KW
(for a Linear weight (out, in): in and out).
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..random import default_generator
from ..tensor import Tensor


def fans(weight: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear (out, in) or Conv (C_out, C_in, KH, KW) weight."""
    if weight.ndim < 2:
        raise ValueError(f"fans: need a weight with at least 2 dims, got shape {weight.shape}")
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def _fill(weight: Tensor, values) -> Tensor:
    values = values.astype(weight.dtype)
    weight.array = backend.cupy_module().asarray(values) if weight.device == "cuda" else values
    return weight


def uniform_(weight: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    return _fill(weight, default_generator().uniform(low, high, weight.shape))


def normal_(weight: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    return _fill(weight, default_generator().normal(mean, std, weight.shape))


def constant_(weight: Tensor, value: float) -> Tensor:
    return _fill(weight, np.full(weight.shape, value))


def zeros_(weight: Tensor) -> Tensor:
    return constant_(weight, 0.0)


def ones_(weight: Tensor) -> Tensor:
    return constant_(weight, 1.0)


def kaiming_normal_(weight: Tensor, mode: str = "fan_in") -> Tensor:
    """N(0, std^2) with std = sqrt(2 / fan), the He et al. (2015) init for ReLU nets.
    ResNets use mode='fan_out' for their convolutions."""
    fan = dict(zip(("fan_in", "fan_out"), fans(weight)))[mode]
    return normal_(weight, 0.0, math.sqrt(2.0 / fan))


def default_uniform_(weight: Tensor, bias: Tensor | None = None) -> None:
    """PyTorch's default for Linear and Conv2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the
    weight (kaiming_uniform_ with a = sqrt(5) works out to exactly this) and for the bias."""
    bound = 1.0 / math.sqrt(fans(weight)[0])
    uniform_(weight, -bound, bound)
    if bias is not None:
        uniform_(bias, -bound, bound)
