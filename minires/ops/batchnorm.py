"""Batch normalization over (N, H, W) for each channel.

x: (N, C, H, W)   gamma, beta: (C,)   y: (N, C, H, W);  M = N*H*W entries per channel
  training:  x_hat = (x - mean_batch) / sqrt(var_batch + eps),  y = gamma * x_hat + beta
  eval:      the same with the running mean and variance, which are constants then

The running statistics are *not* touched here: `nn.functional.batch_norm` updates them,
visibly, from the batch statistics this op leaves in `self.mean` and `self.var`.

Twice (create_graph=True): backward_recorded writes the same gradients with Tensor ops. In
training the statistics are recomputed from x there, so the recorded graph reaches x through
mean and var too (the second derivative's variance terms); in eval the map is affine in x.
"""

from __future__ import annotations

from .. import backend
from ..kernels import batchnorm as batchnorm_kernels
from .function import Array, Function

_CHANNEL_SUM = (0, 2, 3)  # the axes a channel's statistics sum over: N, H, W


class BatchNorm2dTrain(Function):
    """Normalise with the batch's own mean and (biased) variance."""

    def __init__(self, eps: float):
        self.eps = eps

    def forward(self, x: Array, gamma: Array, beta: Array) -> Array:
        # x_hat = (x - mean) * invstd, invstd = 1 / sqrt(var + eps);  y = gamma * x_hat + beta
        y, self.mean, self.var, self.invstd = batchnorm_kernels.batch_norm_train_forward(x, gamma, beta, self.eps)
        self.x, self.gamma = x, gamma  # self.var (biased) is for the caller's running statistics
        return y

    def backward(self, gy: Array):
        # gx = gamma*invstd/M * (M*gy - sum(gy) - x_hat*sum(gy*x_hat)),
        # ggamma = sum(gy*x_hat), gbeta = sum(gy)   (sums over N, H, W)
        return batchnorm_kernels.batch_norm_backward(gy, self.x, self.mean, self.invstd, self.gamma)

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors (create_graph), the statistics recomputed from x so that
        # the graph reaches x through them too: mean, var and x_hat are functions of x
        x, gamma = saved(self.x), saved(self.gamma)
        mean = x.mean(axis=_CHANNEL_SUM, keepdims=True)
        xc = x - mean
        invstd = ((xc * xc).mean(axis=_CHANNEL_SUM, keepdims=True) + self.eps) ** -0.5
        x_hat = xc * invstd
        need_gx, need_ggamma, need_gbeta = self.needs_input_grad
        gx = None
        if need_gx:  # gamma*invstd * (gy - mean(gy) - x_hat*mean(gy*x_hat)): the /M folded into the means
            centred = gy - gy.mean(axis=_CHANNEL_SUM, keepdims=True)
            gx = (gamma.reshape(1, -1, 1, 1) * invstd) * (centred - x_hat * (gy * x_hat).mean(axis=_CHANNEL_SUM,
                                                                                                 keepdims=True))
        ggamma = (gy * x_hat).sum(axis=_CHANNEL_SUM) if need_ggamma else None
        gbeta = gy.sum(axis=_CHANNEL_SUM) if need_gbeta else None
        return gx, ggamma, gbeta


class BatchNorm2dEval(Function):
    """Normalise with fixed running statistics: an affine map per channel."""

    def __init__(self, eps: float):
        self.eps = eps

    def forward(self, x: Array, running_mean: Array, running_var: Array, gamma: Array, beta: Array) -> Array:
        xp = backend.array_module(x)
        self.x, self.weight = x, gamma  # gamma itself (not a view of it): backward_recorded's saved() finds it
        self.mean = running_mean.reshape(1, -1, 1, 1)
        self.invstd = (1 / xp.sqrt(running_var + self.eps)).reshape(1, -1, 1, 1)
        self.gamma = gamma.reshape(1, -1, 1, 1)
        # y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
        return batchnorm_kernels.batch_norm_eval_forward(x, running_mean, running_var, gamma, beta, self.eps)

    def backward(self, gy: Array):
        x_hat = (self.x - self.mean) * self.invstd
        channel_sum = (0, 2, 3)
        # gx = gy * gamma * invstd (the statistics are constants here),
        # ggamma = sum(gy * x_hat), gbeta = sum(gy); running mean and var get no gradient
        return gy * (self.gamma * self.invstd), None, None, (gy * x_hat).sum(axis=channel_sum), gy.sum(axis=channel_sum)

    def backward_recorded(self, gy, saved):
        # the same on Tensors (create_graph): affine in x, the running statistics constants
        x, gamma = saved(self.x), saved(self.weight)
        mean, invstd = saved(self.mean), saved(self.invstd)  # constants: (1, C, 1, 1) views, no gradient
        need_gx, _, _, need_ggamma, need_gbeta = self.needs_input_grad
        gx = gy * (gamma.reshape(1, -1, 1, 1) * invstd) if need_gx else None
        ggamma = (gy * ((x - mean) * invstd)).sum(axis=_CHANNEL_SUM) if need_ggamma else None
        gbeta = gy.sum(axis=_CHANNEL_SUM) if need_gbeta else None
        return gx, None, None, ggamma, gbeta
