"""Functional forms of the layers, named as in torch.nn.functional.

    import minires.nn.functional as F
    loss = F.cross_entropy(model(x), labels, label_smoothing=0.1)
"""

from __future__ import annotations

from typing import Any

from .. import ops
from ..tensor import Tensor, _as_tensor, apply


def relu(input: Tensor) -> Tensor:
    """max(input, 0) elementwise; gradient 0 at 0, as in PyTorch."""
    return apply(ops.Relu(), input)


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:
    """input - logsumexp(input) along dim, computed stably."""
    return apply(ops.LogSoftmax(dim), input)


def softmax(input: Tensor, dim: int = -1) -> Tensor:
    """exp(input) / sum(exp(input)) along dim, computed stably."""
    return apply(ops.Softmax(dim), input)


def cross_entropy(input: Tensor, target: Any, label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy between logits and integer class labels.

    input:  (N, K) logits        target: (N,) integers in [0, K)
    label_smoothing: s in [0, 1): the target puts 1 - s + s/K on the true class, s/K elsewhere
    returns a scalar tensor: the loss averaged over the N samples

    >>> import minires as mr
    >>> round(cross_entropy(mr.zeros(2, 4), mr.tensor([0, 3])).item(), 4)   # log(4)
    1.3863
    """
    target = _as_tensor(target, like=input)
    if input.ndim != 2:
        raise ValueError(f"cross_entropy: input must be (N, K) logits, got shape {input.shape}")
    if target.shape != input.shape[:1]:
        raise ValueError(f"cross_entropy: target must be (N,) = ({input.shape[0]},), got shape {target.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold integer class labels, got dtype {target.dtype}")
    k = input.shape[1]
    if target.numel() and (int(target.data.min()) < 0 or int(target.data.max()) >= k):
        raise ValueError(
            f"cross_entropy: labels must lie in [0, {k}), got min {int(target.data.min())} max {int(target.data.max())}"
        )
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1), got {label_smoothing}")
    return apply(ops.CrossEntropy(label_smoothing), input, target)
