"""Softmax, log-softmax and cross-entropy, all numerically stable.

Subtracting the row maximum before exponentiating changes nothing mathematically
(softmax(x) = softmax(x - c)) but keeps exp() from overflowing.
"""

from __future__ import annotations

from .. import backend
from .function import Array, Function, unbroadcast


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

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors (create_graph): gx = gy - exp(y) * sum_k gy_k, y the output
        return gy - saved(self.y).exp() * gy.sum(axis=self.axis, keepdims=True)


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

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors: gx = y * (gy - sum_k gy_k y_k)
        y = saved(self.y)
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


# ---------------------------------------------------------------- PyTorch's losses with weight, ignore_index, reduction
#
# Each takes `reduction` as torch does: "mean", "sum" or "none" (one loss per sample).
# `reduce_losses` and `reduction_scale` are the two halves of that choice: the forward
# reduction, and the factor each sample's gradient gets from it.


def reduce_losses(losses: Array, reduction: str, divisor=None) -> Array:
    """Sum, average (over `divisor`, default the number of losses) or keep the losses."""
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    return total / (losses.size if divisor is None else divisor)


def reduction_scale(gy: Array, reduction: str, divisor=None, size: int = 1) -> Array:
    """dL/d(loss_n): gy itself for "none" and "sum", gy / divisor for "mean"."""
    if reduction == "mean":
        return gy / (size if divisor is None else divisor)
    return gy


class CrossEntropy(Function):
    """Cross-entropy of logits, as torch.nn.functional.cross_entropy with all its options.

    logits: (M, K) float     target: (M,) integer labels, or (M, K) class probabilities
    weight: (K,) array or None (a constant: no gradient, as in torch)
    Every sample n gets a target distribution q_n and loss_n = -sum_k q_n[k] log softmax(logits_n)[k]:
      labels t_n:      q_n[k] = (1 - s) w[t_n] [k == t_n] + (s / K) w[k];  q_n = 0 if t_n == ignore_index
      probabilities p: q_n[k] = w[k] ((1 - s) p_n[k] + s / K)
    reduction "mean" divides the summed losses by sum_n w[t_n] over the kept labels (by M
    for probabilities), "sum" sums them, "none" returns the (M,) losses.
    """

    def __init__(self, weight: Array | None, ignore_index: int, reduction: str, label_smoothing: float):
        self.weight, self.ignore_index = weight, ignore_index
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, logits: Array, target: Array) -> Array:
        xp = backend.array_module(logits)
        m, k = logits.shape
        s = self.label_smoothing
        w = xp.ones(k, dtype=logits.dtype) if self.weight is None else self.weight.astype(logits.dtype)
        self.log_p = log_softmax_array(logits, axis=1)
        self.probabilities = target.dtype.kind == "f"
        self.logits = logits  # no copy: backward_recorded recomputes log_p (and q) from the inputs
        if self.probabilities:
            self.target = target
            self.q = w * ((1 - s) * target + s / k)
            self.divisor = m
            self.w = w
        else:
            kept = target != self.ignore_index
            safe = xp.where(kept, target, 0)  # an ignored label indexes class 0, then its row is zeroed
            w_t = w[safe] * kept
            self.q = xp.broadcast_to(w * (s / k), (m, k)) * kept[:, None]
            self.q[xp.arange(m), safe] += (1 - s) * w_t
            self.divisor = w_t.sum()
        losses = -(self.q * self.log_p).sum(axis=1)
        return reduce_losses(losses, self.reduction, self.divisor)

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        g_loss = reduction_scale(gy, self.reduction, self.divisor)
        g_loss = g_loss[:, None] if self.reduction == "none" else g_loss
        # g_logits = g_loss * (softmax(logits) * sum_k q[k] - q)
        g_logits = g_loss * (xp.exp(self.log_p) * self.q.sum(axis=1, keepdims=True) - self.q)
        if not self.probabilities:
            return g_logits, None  # integer labels get no gradient
        # g_target = -g_loss * (1 - s) * w * log softmax(logits)
        return g_logits, -g_loss * (1 - self.label_smoothing) * self.w * self.log_p

    def backward_recorded(self, gy, saved):
        # the same formulas on Tensors, log softmax(logits) and (for probabilities) q recomputed
        # from the inputs so that the graph reaches them; labels make q a constant
        log_p = saved(self.logits).log_softmax(1)
        s, k = self.label_smoothing, log_p.shape[1]
        q = self.w * ((1 - s) * saved(self.target) + s / k) if self.probabilities else self.q
        g_loss = reduction_scale(gy, self.reduction, self.divisor)
        g_loss = g_loss[:, None] if self.reduction == "none" else g_loss
        g_logits = g_loss * (log_p.exp() * q.sum(axis=1, keepdims=True) - q)
        if not self.probabilities:
            return g_logits, None
        return g_logits, -g_loss * (1 - s) * self.w * log_p


class NllLoss(Function):
    """Negative log-likelihood of log-probabilities, as torch.nn.functional.nll_loss.

    log_p: (M, K) float     target: (M,) integer labels     weight: (K,) array or None
    loss_n = -w[t_n] log_p[n, t_n]  (0 where t_n == ignore_index); "mean" divides by sum_n w[t_n].
    """

    def __init__(self, weight: Array | None, ignore_index: int, reduction: str):
        self.weight, self.ignore_index, self.reduction = weight, ignore_index, reduction

    def forward(self, log_p: Array, target: Array) -> Array:
        xp = backend.array_module(log_p)
        m, k = log_p.shape
        w = xp.ones(k, dtype=log_p.dtype) if self.weight is None else self.weight.astype(log_p.dtype)
        kept = target != self.ignore_index
        self.safe = xp.where(kept, target, 0)
        self.w_t = w[self.safe] * kept
        self.divisor = self.w_t.sum()
        self.shape = log_p.shape
        losses = -self.w_t * log_p[xp.arange(m), self.safe]
        return reduce_losses(losses, self.reduction, self.divisor)

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        m = self.shape[0]
        # g_log_p[n, t_n] = -g_loss_n * w[t_n], zero elsewhere
        g_log_p = xp.zeros(self.shape, dtype=gy.dtype)
        g_log_p[xp.arange(m), self.safe] = -reduction_scale(gy, self.reduction, self.divisor) * self.w_t
        return g_log_p, None

    def backward_recorded(self, gy, saved):
        # the same on Tensors: -g_loss_n times a constant matrix holding w[t_n] at [n, t_n], 0 elsewhere
        xp = backend.array_module(self.w_t)
        picked = xp.zeros(self.shape, dtype=self.w_t.dtype)
        picked[xp.arange(self.shape[0]), self.safe] = self.w_t
        g_loss = reduction_scale(gy, self.reduction, self.divisor)
        return -(g_loss[:, None] if self.reduction == "none" else g_loss) * picked, None


class MseLoss(Function):
    """loss = (x - target)^2 reduced.   x, target: same shape (broadcast as torch does)"""

    def __init__(self, reduction: str):
        self.reduction = reduction

    def forward(self, x: Array, target: Array) -> Array:
        self.diff, self.shapes = x - target, (x.shape, target.shape)
        self.x, self.target = x, target  # no copies: backward_recorded recomputes diff from them
        return reduce_losses(self.diff * self.diff, self.reduction)

    def backward(self, gy: Array):
        # gx = 2 (x - target) g_loss,  g_target = -gx
        g = 2 * self.diff * reduction_scale(gy, self.reduction, size=self.diff.size)
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors, x - target recomputed from the inputs so that the graph reaches them
        diff = saved(self.x) - saved(self.target)
        g = 2 * diff * reduction_scale(gy, self.reduction, size=self.diff.size)
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class L1Loss(Function):
    """loss = |x - target| reduced.   x, target: same shape (broadcast as torch does)"""

    def __init__(self, reduction: str):
        self.reduction = reduction

    def forward(self, x: Array, target: Array) -> Array:
        xp = backend.array_module(x)
        diff = x - target
        self.sign, self.shapes = xp.sign(diff), (x.shape, target.shape)
        return reduce_losses(xp.abs(diff), self.reduction)

    def backward(self, gy: Array):
        # gx = sign(x - target) g_loss (0 where x == target, as torch),  g_target = -gx
        g = self.sign * reduction_scale(gy, self.reduction, size=self.sign.size)
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors: sign(x - target) is a constant
        g = self.sign * reduction_scale(gy, self.reduction, size=self.sign.size)
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class BceWithLogits(Function):
    """Binary cross-entropy of logits x against targets t in [0, 1], computed stably.

    x, target: same shape    weight: broadcastable array or None    pos_weight: (K,) over the last axis, or None
    loss = weight * ((1 - t) x + (1 + (pw - 1) t) softplus(-x)),  softplus(-x) = log(1 + e^-|x|) + max(-x, 0)
    (the same as -weight (pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), without overflow).
    """

    def __init__(self, weight: Array | None, pos_weight: Array | None, reduction: str):
        self.weight, self.pos_weight, self.reduction = weight, pos_weight, reduction

    def forward(self, x: Array, target: Array) -> Array:
        xp = backend.array_module(x)
        self.x, self.t = x, target
        self.softplus_neg = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)
        pw = 1 if self.pos_weight is None else self.pos_weight.astype(x.dtype)
        self.pw = pw
        self.l_t = 1 + (pw - 1) * target
        losses = (1 - target) * x + self.l_t * self.softplus_neg
        self.w = 1 if self.weight is None else self.weight.astype(x.dtype)
        losses = self.w * losses
        self.size = losses.size
        self.losses_shape = losses.shape
        return reduce_losses(losses, self.reduction)

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        g = self.w * reduction_scale(gy, self.reduction, size=self.size)
        sigmoid_neg = 0.5 * (1 - xp.tanh(0.5 * self.x))  # sigmoid(-x) = 1 - sigmoid(x)
        # gx = g ((1 - t) - (1 + (pw - 1) t) sigmoid(-x)),   g_t = g (-x + (pw - 1) softplus(-x))
        gx = g * ((1 - self.t) - self.l_t * sigmoid_neg)
        gt = g * (-self.x + (self.pw - 1) * self.softplus_neg)
        return unbroadcast(gx, self.x.shape), unbroadcast(gt, self.t.shape)

    def backward_recorded(self, gy, saved):
        # the same formulas on Tensors, sigmoid(-x), l_t and softplus(-x) recomputed from x and t so that
        # the graph reaches them; softplus(-x) = log(1 + e^-|x|) + relu(-x) (log1p is not a Tensor method)
        x, t = saved(self.x), saved(self.t)
        g = self.w * reduction_scale(gy, self.reduction, size=self.size)
        sigmoid_neg = 0.5 * (1 - (0.5 * x).tanh())
        l_t = 1 + (self.pw - 1) * t
        softplus_neg = (1 + (-x.abs()).exp()).log() + (-x).relu()
        gx = g * ((1 - t) - l_t * sigmoid_neg)
        gt = g * (-x + (self.pw - 1) * softplus_neg)
        return unbroadcast(gx, self.x.shape), unbroadcast(gt, self.t.shape)
