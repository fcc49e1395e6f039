"""Batch normalization over (N, H, W), one mean and variance per channel. Taught in docs/batchnorm.md.

Notation (the same letters in every kernel file):
    N  batch size     C  channels     H, W  height, width     M = N*H*W  values per channel

Training mode normalises each channel with the statistics of the batch itself:

    mean[c]   = sum over (n, h, w) of x[n, c, h, w] / M
    var[c]    = sum of (x - mean[c])**2 / M          (biased: divide by M, as PyTorch normalises)
    invstd[c] = 1 / sqrt(var[c] + eps)
    x_hat     = (x - mean[c]) * invstd[c]            (mean 0, variance ~1 in every channel)
    y         = gamma[c] * x_hat + beta[c]

Evaluation mode uses the running statistics instead of the batch's. The running
statistics are NOT updated here: F.batch_norm does that where you can see it, with
the unbiased variance var * M / (M - 1).

Three implementations with one signature each (see kernels/__init__.py):
    batch_norm_train_forward_<impl>(x, gamma, beta, eps) -> (y, mean, var, invstd)
    batch_norm_eval_forward_<impl>(x, running_mean, running_var, gamma, beta, eps) -> y
    batch_norm_backward_<impl>(gy, x, mean, invstd, gamma) -> (gx, ggamma, gbeta)
x, y, gy, gx: (N, C, H, W); gamma, beta, mean, var, invstd, running_*, ggamma, gbeta: (C,);
every output has x's dtype. The numba loops sum in float64 whatever the dtype.
Step into the numba loops with NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from . import _chunks, _cuda
from ._jit import serial_jit


def _per_channel(v):
    """(C,) -> (1, C, 1, 1), to broadcast one value per channel over (N, C, H, W)."""
    return v.reshape(1, -1, 1, 1)



# ----------------------------------------------------------------------------------------
# The kernels the ops call: each picks its implementation for the array it is given.
# ----------------------------------------------------------------------------------------


def batch_norm_train_forward(x, gamma, beta, eps):
    """x: (N, C, H, W) -> (y, mean, var, invstd): y like x, the batch statistics (C,) each."""
    implementation = backend.choose(x, batch_norm_train_forward_reference, batch_norm_train_forward_numba,
                                    batch_norm_train_forward_cupy)
    return implementation(x, gamma, beta, eps)


def batch_norm_eval_forward(x, running_mean, running_var, gamma, beta, eps):
    """x: (N, C, H, W) -> y: (N, C, H, W), normalised with the running statistics."""
    implementation = backend.choose(x, batch_norm_eval_forward_reference, batch_norm_eval_forward_numba,
                                    batch_norm_eval_forward_cupy)
    return implementation(x, running_mean, running_var, gamma, beta, eps)


def batch_norm_backward(gy, x, mean, invstd, gamma):
    """gy, x: (N, C, H, W) -> (gx, ggamma, gbeta): gx like x, the others (C,)."""
    implementation = backend.choose(gy, batch_norm_backward_reference, batch_norm_backward_numba,
                                    batch_norm_backward_cupy)
    return implementation(gy, x, mean, invstd, gamma)


# ----------------------------------------------------------------------------------------
# NumPy reference
# ----------------------------------------------------------------------------------------


def batch_norm_train_forward_reference(x, gamma, beta, eps):
    """Normalise each channel with the batch's own mean and (biased) variance.

    x: (N, C, H, W)     gamma, beta: (C,)     eps: float
    returns y: (N, C, H, W), mean, var, invstd: (C,) each   (var updates the running
    statistics; mean and invstd are saved for backward)
    """
    mean = x.mean(axis=(0, 2, 3))  # (C,)
    var = x.var(axis=(0, 2, 3))  # (C,), biased: divided by M = N*H*W
    invstd = 1 / np.sqrt(var + eps)
    x_hat = (x - _per_channel(mean)) * _per_channel(invstd)
    y = _per_channel(gamma) * x_hat + _per_channel(beta)
    return y.astype(x.dtype, copy=False), mean, var, invstd.astype(x.dtype, copy=False)


def batch_norm_eval_forward_reference(x, running_mean, running_var, gamma, beta, eps):
    """Normalise each channel with fixed (running) statistics.

    x: (N, C, H, W)     running_mean, running_var, gamma, beta: (C,)     eps: float
    returns y: (N, C, H, W) = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
    """
    x_hat = (x - _per_channel(running_mean)) / np.sqrt(_per_channel(running_var) + eps)
    y = _per_channel(gamma) * x_hat + _per_channel(beta)
    return y.astype(x.dtype, copy=False)


def batch_norm_backward_reference(gy, x, mean, invstd, gamma):
    """Gradients of training-mode batch norm (the batch statistics depend on x too).

    gy, x: (N, C, H, W)     mean, invstd, gamma: (C,)  (mean, invstd from the forward)
    returns gx: (N, C, H, W), ggamma: (C,), gbeta: (C,)
    """
    N, _, H, W = x.shape
    M = N * H * W  # values per channel
    x_hat = (x - _per_channel(mean)) * _per_channel(invstd)
    gbeta = gy.sum(axis=(0, 2, 3))  # (C,)
    ggamma = (gy * x_hat).sum(axis=(0, 2, 3))  # (C,)
    # gx = gamma*invstd/M * (M*gy - sum(gy) - x_hat * sum(gy*x_hat))   (the last two terms: through mean and var)
    gx = _per_channel(gamma * invstd / M) * (M * gy - _per_channel(gbeta) - x_hat * _per_channel(ggamma))
    return gx.astype(x.dtype, copy=False), ggamma.astype(x.dtype, copy=False), gbeta.astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------------------
# Numba: explicit loops, jitted at the bottom of this file.
# ----------------------------------------------------------------------------------------


def _batch_norm_train_forward_loops(x, gamma, beta, eps, y, mean, var, invstd, start, stop):
    """x, y: (N, C, H, W) contiguous; gamma, beta, mean, var, invstd: (C,); y, mean, var, invstd written.

    Optimizations: the outer loop runs over channels (split between the workers), and each iteration owns its
    channel (its statistics and its slice of y); sums go into float64 locals.
    Two passes over the channel (mean, then variance) before the third writes y.
    """
    N, _, H, W = x.shape
    M = N * H * W
    for c in range(start, stop):  # this worker's channels
        total = 0.0  # float64
        for n in range(N):
            for h in range(H):
                for w in range(W):
                    total += x[n, c, h, w]
        mean_c = total / M
        squares = 0.0
        for n in range(N):
            for h in range(H):
                for w in range(W):
                    d = x[n, c, h, w] - mean_c
                    squares += d * d
        # np.sqrt, not math.sqrt: 1/sqrt(0) is then inf, as in the reference, with NUMBA_DISABLE_JIT=1 too
        var_c = squares / M  # biased, as the normalisation uses it
        invstd_c = 1.0 / np.sqrt(var_c + eps)
        mean[c] = mean_c
        var[c] = var_c
        invstd[c] = invstd_c
        for n in range(N):
            for h in range(H):
                for w in range(W):
                    y[n, c, h, w] = gamma[c] * ((x[n, c, h, w] - mean_c) * invstd_c) + beta[c]
    return y


def _batch_norm_eval_forward_loops(x, running_mean, running_var, gamma, beta, eps, y, start, stop):
    """x, y: (N, C, H, W) contiguous; running_mean, running_var, gamma, beta: (C,); y written."""
    C, H, W = x.shape[1:]
    for plane in range(start, stop):  # this worker's (n, c) planes, flattened; each owns y[n, c]
        n = plane // C
        c = plane % C
        invstd_c = 1.0 / np.sqrt(running_var[c] + eps)  # np.sqrt: NaN, not an error, for a negative variance
        for h in range(H):
            for w in range(W):
                y[n, c, h, w] = gamma[c] * ((x[n, c, h, w] - running_mean[c]) * invstd_c) + beta[c]
    return y


def _batch_norm_backward_loops(gy, x, mean, invstd, gamma, gx, ggamma, gbeta, start, stop):
    """gy, x, gx: (N, C, H, W) contiguous; mean, invstd, gamma, ggamma, gbeta: (C,).

    The outer loop runs over channels (split between the workers): pass 1 sums gy and gy*x_hat into float64
    locals, pass 2 writes gx. Each iteration owns its channel, so there are no races.
    """
    N, _, H, W = x.shape
    M = N * H * W
    for c in range(start, stop):  # this worker's channels
        sum_gy = 0.0  # float64
        sum_gy_x_hat = 0.0
        for n in range(N):
            for h in range(H):
                for w in range(W):
                    x_hat = (x[n, c, h, w] - mean[c]) * invstd[c]
                    sum_gy += gy[n, c, h, w]
                    sum_gy_x_hat += gy[n, c, h, w] * x_hat
        gbeta[c] = sum_gy
        ggamma[c] = sum_gy_x_hat
        # gx = gamma*invstd/M * (M*gy - sum(gy) - x_hat * sum(gy*x_hat))
        scale = gamma[c] * invstd[c] / M
        for n in range(N):
            for h in range(H):
                for w in range(W):
                    x_hat = (x[n, c, h, w] - mean[c]) * invstd[c]
                    gx[n, c, h, w] = scale * (M * gy[n, c, h, w] - sum_gy - x_hat * sum_gy_x_hat)
    return gx


def batch_norm_train_forward_numba(x, gamma, beta, eps):
    """batch_norm_train_forward_reference as loops.   x: (N, C, H, W) -> y, mean, var, invstd (C,) each"""
    N, C, H, W = x.shape
    y = np.empty(x.shape, dtype=x.dtype)
    mean, var, invstd = (np.empty(C, dtype=x.dtype) for _ in range(3))
    _chunks.run_loops(
        _batch_norm_train_forward_jit, C, N * H * W, np.ascontiguousarray(x), np.ascontiguousarray(gamma, dtype=x.dtype), np.ascontiguousarray(beta, dtype=x.dtype),
        float(eps), y, mean, var, invstd,
    )
    return y, mean, var, invstd


def batch_norm_eval_forward_numba(x, running_mean, running_var, gamma, beta, eps):
    """batch_norm_eval_forward_reference as loops.   x: (N, C, H, W) -> y: (N, C, H, W)"""
    y = np.empty(x.shape, dtype=x.dtype)
    per_channel = [np.ascontiguousarray(v, dtype=x.dtype) for v in (running_mean, running_var, gamma, beta)]
    N, C, H, W = x.shape
    _chunks.run_loops(_batch_norm_eval_forward_jit, N * C, H * W, np.ascontiguousarray(x), *per_channel, float(eps), y)
    return y


def batch_norm_backward_numba(gy, x, mean, invstd, gamma):
    """batch_norm_backward_reference as loops.   gy, x: (N, C, H, W) -> gx, ggamma (C,), gbeta (C,)"""
    N, C, H, W = x.shape
    gx = np.empty(x.shape, dtype=x.dtype)
    ggamma = np.empty(C, dtype=x.dtype)
    gbeta = np.empty(C, dtype=x.dtype)
    per_channel = [np.ascontiguousarray(v, dtype=x.dtype) for v in (mean, invstd, gamma)]
    _chunks.run_loops(
        _batch_norm_backward_jit, C, N * H * W, np.ascontiguousarray(gy, dtype=x.dtype), np.ascontiguousarray(x), *per_channel, gx, ggamma, gbeta
    )
    return gx, ggamma, gbeta


# ----------------------------------------------------------------------------------------
# CuPy: cupy's own reductions for the sums, one fused elementwise kernel for the rest.
# ----------------------------------------------------------------------------------------


def _normalize_kernel():
    # y = gamma * (x - mean) * invstd + beta, one thread per element; (C,) arrays arrive as (1, C, 1, 1)
    return _cuda.elementwise(
        "T x, T mean, T invstd, T gamma, T beta", "T y",
        "y = gamma * ((x - mean) * invstd) + beta",
        "minires_batch_norm_normalize",
    )


def _backward_kernel():
    # gx = gamma*invstd/M * (M*gy - sum(gy) - x_hat * sum(gy*x_hat))
    return _cuda.elementwise(
        "T gy, T x, T mean, T invstd, T gamma, T gbeta, T ggamma, T M", "T gx",
        "T x_hat = (x - mean) * invstd; gx = gamma * invstd / M * (M * gy - gbeta - x_hat * ggamma)",
        "minires_batch_norm_backward",
    )


def batch_norm_train_forward_cupy(x, gamma, beta, eps):
    """batch_norm_train_forward_reference on the GPU.   x: (N, C, H, W) cupy -> y, mean, var, invstd (C,) each"""
    cp = _cuda.cupy()
    mean = x.mean(axis=(0, 2, 3))  # (C,), cupy's reduction
    var = x.var(axis=(0, 2, 3))  # biased
    invstd = 1 / cp.sqrt(var + eps)
    args = [_per_channel(v.astype(x.dtype, copy=False)) for v in (mean, invstd, gamma, beta)]
    y = _normalize_kernel()(x, *args)
    return y, mean.astype(x.dtype, copy=False), var.astype(x.dtype, copy=False), invstd.astype(x.dtype, copy=False)


def batch_norm_eval_forward_cupy(x, running_mean, running_var, gamma, beta, eps):
    """batch_norm_eval_forward_reference on the GPU.   x: (N, C, H, W) cupy -> y: (N, C, H, W) cupy"""
    cp = _cuda.cupy()
    invstd = 1 / cp.sqrt(running_var + eps)
    args = [_per_channel(v.astype(x.dtype, copy=False)) for v in (running_mean, invstd, gamma, beta)]
    return _normalize_kernel()(x, *args)


def batch_norm_backward_cupy(gy, x, mean, invstd, gamma):
    """batch_norm_backward_reference on the GPU.   gy, x: (N, C, H, W) cupy -> gx, ggamma (C,), gbeta (C,)"""
    N, _, H, W = x.shape
    M = N * H * W  # values per channel
    x_hat = (x - _per_channel(mean)) * _per_channel(invstd)
    gbeta = gy.sum(axis=(0, 2, 3))  # (C,), cupy's reductions
    ggamma = (gy * x_hat).sum(axis=(0, 2, 3))
    args = [_per_channel(v.astype(x.dtype, copy=False)) for v in (mean, invstd, gamma, gbeta, ggamma)]
    gx = _backward_kernel()(gy, x, *args, x.dtype.type(M))
    return gx, ggamma.astype(x.dtype, copy=False), gbeta.astype(x.dtype, copy=False)


# Jit the loops last, so the plain Python functions above are what a reader (and pdb) sees.
# With NUMBA_DISABLE_JIT=1, njit returns the function unchanged.
# The channel sums may be reassociated into SIMD lanes (see kernels/_jit.py).
_batch_norm_train_forward_jit = serial_jit(_batch_norm_train_forward_loops, reassociate_sums=True)
_batch_norm_eval_forward_jit = serial_jit(_batch_norm_eval_forward_loops)
_batch_norm_backward_jit = serial_jit(_batch_norm_backward_loops, reassociate_sums=True)
