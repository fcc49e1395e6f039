"""SyncBatchNorm: batch normalization whose statistics are the whole global batch's.

Notation: p ranks, each with its own x: (N, C, *) ; M = the number of entries per channel
summed over every rank (sum of N * H * W).

With plain BatchNorm each rank normalises by the mean and variance of its own N images,
so 2 ranks x 64 images is not the same network as 1 x 128 (docs/distributed.md shows by
how much). SyncBatchNorm all-reduces, per channel, the sum and the sum of squares
(forward) and the two sums the backward needs, so every rank normalises as if it held
the whole batch:

  forward   S = allreduce(sum x), Q = allreduce(sum x^2), M = allreduce(count)
            mean = S / M, var = Q / M - mean^2 (biased), x_hat = (x - mean) / sqrt(var + eps)
            y = gamma * x_hat + beta
  backward  G = allreduce(sum gy), H = allreduce(sum gy * x_hat)
            gx = gamma / sqrt(var + eps) * (gy - G / M - x_hat * H / M)
            ggamma = sum gy * x_hat, gbeta = sum gy  (this rank's own; DistributedDataParallel
            averages them over the ranks with every other gradient)

That gx is p times the true d(mean loss over the global batch)/dx: DistributedDataParallel
divides every parameter gradient by p, which makes them all right (torch's SyncBatchNorm
does the same).
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd.engine import apply
from ..grad_mode import no_grad
from ..nn.layers import _BatchNorm
from ..nn.module import Module
from ..ops.function import Array, Function
from ..tensor import _as_tensor
from . import process_group as dist


class SyncBatchNormTrain(Function):
    """Normalise with the global batch's mean and (biased) variance.   x, y: (N, C, *)  gamma, beta: (C,)"""

    def __init__(self, eps: float, world):
        self.eps, self.world = eps, world

    def forward(self, x: Array, gamma: Array, beta: Array) -> Array:
        xp = backend.array_module(x)
        axes = (0, *range(2, x.ndim))  # every axis but the channels
        shape = (1, -1) + (1,) * (x.ndim - 2)  # (C,) -> broadcastable against x
        # one all-reduce carries sum x, sum x^2 and the count, in float64 so Q / M - mean^2 keeps its digits
        sums = xp.concatenate([x.sum(axis=axes, dtype=np.float64), (x.astype(np.float64) ** 2).sum(axis=axes),
                               xp.asarray([x.size // x.shape[1]], dtype=np.float64)])
        self.world.all_reduce(sums, "sum")
        c = x.shape[1]
        m = sums[2 * c]
        mean = sums[:c] / m
        var = xp.maximum(sums[c:2 * c] / m - mean * mean, 0.0)
        self.m = m  # the global count, for the running variance's M / (M - 1) and the backward
        self.mean, self.var = mean.astype(x.dtype), var.astype(x.dtype)
        self.invstd = (1 / xp.sqrt(var + self.eps)).astype(x.dtype)
        self.x_hat = (x - self.mean.reshape(shape)) * self.invstd.reshape(shape)
        self.gamma, self.shape, self.axes = gamma, shape, axes
        return self.x_hat * gamma.reshape(shape) + beta.reshape(shape)

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        c = gy.shape[1]
        sum_gy = gy.sum(axis=self.axes)
        sum_gy_xhat = (gy * self.x_hat).sum(axis=self.axes)
        sums = xp.concatenate([sum_gy, sum_gy_xhat]).astype(np.float64)
        self.world.all_reduce(sums, "sum")  # G and H, over every rank
        g_over_m = (sums[:c] / self.m).astype(gy.dtype).reshape(self.shape)
        h_over_m = (sums[c:] / self.m).astype(gy.dtype).reshape(self.shape)
        # gx = gamma * invstd * (gy - G/M - x_hat * H/M)  (global sums);  ggamma, gbeta: this rank's sums
        gx = (self.gamma * self.invstd).reshape(self.shape) * (gy - g_over_m - self.x_hat * h_over_m)
        return gx, sum_gy_xhat, sum_gy


class SyncBatchNorm(_BatchNorm):
    """torch.nn.SyncBatchNorm: BatchNorm over (N, C, *) whose training statistics are the
    global batch's, all ranks together.   x, y: (N, C, *), the same C on every rank

    In training, with a process group of more than one rank, every forward and backward
    all-reduces per-channel sums (see this file's docstring); otherwise (evaluation, or
    no process group) it is plain BatchNorm. The running statistics are updated from the
    global batch, so they stay equal on every rank. process_group other than None raises
    NotImplementedError (minires has the default group only).
    """

    _dims, _shapes = (2, 3, 4, 5), "(N, C, *)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, device=None, dtype=None):
        if process_group is not None:
            raise NotImplementedError("SyncBatchNorm: process_group other than None is not supported by minires "
                                      "(the default group only)")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = None

    def forward(self, x):
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)  # one process, or evaluation: nothing to share
        if x.ndim not in self._dims:
            raise ValueError(f"SyncBatchNorm: input must be {self._shapes}, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: expected {self.num_features} channels, got input {x.shape}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.array = self.num_batches_tracked.array + 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.array)
        c = x.shape[1]
        gamma = self.weight if self.weight is not None else _as_tensor(1.0, like=x).expand(c)
        beta = self.bias if self.bias is not None else _as_tensor(0.0, like=x).expand(c)
        fn = SyncBatchNormTrain(self.eps, dist._get_world("SyncBatchNorm"))
        y = apply(fn, x, gamma, beta)
        if self.track_running_stats:
            with no_grad():  # as F.batch_norm: unbiased running variance, M the global count
                unbiased = (fn.m / (fn.m - 1)).astype(x.dtype)  # M / (M - 1), read on the device, not the host
                self.running_mean.array = (1 - momentum) * self.running_mean.array + momentum * fn.mean
                self.running_var.array = (1 - momentum) * self.running_var.array + momentum * fn.var * unbiased
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """Every BatchNorm1d/2d inside module replaced by a SyncBatchNorm holding the same
        parameters, buffers and mode (torch's classmethod); returns module, or the
        replacement when module itself is a BatchNorm."""
        if process_group is not None:
            raise NotImplementedError("convert_sync_batchnorm: process_group other than None is not supported "
                                      "by minires (the default group only)")
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
            if module.affine:
                sync.weight, sync.bias = module.weight, module.bias  # the same Parameter objects
            if module.track_running_stats:
                sync.running_mean, sync.running_var = module.running_mean, module.running_var
                sync.num_batches_tracked = module.num_batches_tracked
            sync.train(module.training)
            return sync
        for name, child in list(module.named_children()):
            converted = cls.convert_sync_batchnorm(child)
            if converted is not child:  # in its place: Sequential runs its children in this order
                module._modules[name] = converted
        return module
