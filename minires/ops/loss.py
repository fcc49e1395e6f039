"""Softmax, log-softmax and cross-entropy, all numerically stable.

Subtracting the row maximum before exponentiating changes nothing mathematically
(softmax(x) = softmax(x - c)) but keeps exp() from overflowing.
"""

from __future__ import annotations

from .. import backend
from .function import Array, Function


def log_softmax_array(x: Array, axis: int) -> Array:
    """log(softmax(x)) along axis, on a raw array: x - max - log(sum(exp(x - max)))."""
    xp = backend.array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class LogSoftmax(Function):
    """y = x - logsumexp(x) along `axis`.   x, y: same shape, e.g. (N, K)"""

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x: Array) -> Array:
        self.y = log_softmax_array(x, self.axis)
        return self.y

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        # gx = gy - softmax(x) * sum_k gy_k
        return gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True)


class Softmax(Function):
    """y = exp(x) / sum(exp(x)) along `axis`.   x, y: same shape"""

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x: Array) -> Array:
        self.y = backend.array_module(x).exp(log_softmax_array(x, self.axis))
        return self.y

    def backward(self, gy: Array):
        # gx = y * (gy - sum_k gy_k y_k)
        return self.y * (gy - (gy * self.y).sum(axis=self.axis, keepdims=True))


class CrossEntropy(Function):
    """Mean cross-entropy of logits against integer class labels, with label smoothing.

    logits: (N, K) float    target: (N,) integers in [0, K)    y: () scalar
    With smoothing s, the target distribution q puts 1 - s + s/K on the true class
    and s/K on every other class; loss = mean_n( -sum_k q[n, k] log softmax(logits)[n, k] ).
    """

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def forward(self, logits: Array, target: Array) -> Array:
        xp = backend.array_module(logits)
        n, k = logits.shape
        s = self.label_smoothing
        self.log_p = log_softmax_array(logits, axis=1)
        self.q = xp.full(logits.shape, s / k, dtype=logits.dtype)
        self.q[xp.arange(n), target] += 1 - s
        return -(self.q * self.log_p).sum() / n

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        n = self.q.shape[0]
        # g_logits = gy * (softmax(logits) - q) / N; the integer target gets no gradient
        return gy * (xp.exp(self.log_p) - self.q) / n, None
