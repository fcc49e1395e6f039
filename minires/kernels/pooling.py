"""Max, average and global average pooling, forward and backward. Taught in docs/pooling_relu.md.

Notation (the same letters in every kernel file):
    N  batch size            C  channels              H, W    input height, width
    KH, KW  window size      SH, SW  stride           PH, PW  padding
    OH, OW  output height, width:  OH = (H + 2*PH - KH) // SH + 1,  OW likewise

Window (oh, ow) covers input rows oh*SH - PH + i and columns ow*SW - PW + j for
0 <= i < KH, 0 <= j < KW (im2col with dilation 1, one window per output element):

    max pool:  y[n, c, oh, ow] = the largest x in the window; padding counts as -inf, and
               argmax[n, c, oh, ow] = h*W + w, the flat index of the winner in its
               (unpadded) H x W plane. Scanning i then j, the first maximum wins ties;
               a NaN wins too (as in PyTorch), so a NaN in x shows up in y.
    avg pool:  y = the sum over the window / (KH*KW); padding counts as 0 and is counted
               in the divisor (PyTorch's default, count_include_pad=True).
    global average pool:  y[n, c] = mean of x[n, c] over (H, W)   (ResNet's last pooling)

Padding may be at most half the window (as in PyTorch), so every window holds a real pixel.
The backward passes are gathers: each input pixel sums the gradients of the windows
that cover it (max pool: only those whose argmax is this pixel). So every output element
is computed by exactly one iteration: no atomics, and the same result every run.

Three implementations with one signature each (see kernels/__init__.py):
    max_pool2d_forward_<impl>(x, kernel_size, stride, padding) -> (y, argmax)
    max_pool2d_backward_<impl>(gy, argmax, x_shape, kernel_size, stride, padding) -> gx
    avg_pool2d_forward_<impl>(x, kernel_size, stride, padding) -> y
    avg_pool2d_backward_<impl>(gy, x_shape, kernel_size, stride, padding) -> gx
    global_avg_pool2d_forward_<impl>(x) -> y: (N, C)
    global_avg_pool2d_backward_<impl>(gy, x_shape) -> gx
kernel_size, stride, padding are (int, int) tuples here. argmax is int64.
Step into the numba loops with NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from . import _chunks, _cuda
from ._jit import serial_jit
from .im2col import conv_output_size, hit_table


def pool_output_size(H, W, kernel_size, stride, padding) -> tuple[int, int]:
    """(OH, OW) of a pooling window sliding over H x W:  OH = (H + 2*PH - KH) // SH + 1, OW likewise.

    >>> pool_output_size(32, 32, (3, 3), (2, 2), (1, 1))
    (16, 16)
    """
    (KH, KW), (PH, PW) = kernel_size, padding
    if PH > KH // 2 or PW > KW // 2:
        raise ValueError(
            f"pool2d: padding must be at most half the window, got padding ({PH}, {PW}) for window {KH}x{KW}"
        )
    return conv_output_size(H, W, kernel_size, stride, padding, (1, 1))


def _window_slice(i, j, SH, SW, OH, OW):
    """Index of a padded array at offset (i, j) of every window: (N, C, OH, OW) entries."""
    return (slice(None), slice(None), slice(i, i + SH * (OH - 1) + 1, SH), slice(j, j + SW * (OW - 1) + 1, SW))



# ----------------------------------------------------------------------------------------
# The kernels the ops call: each picks its implementation for the array it is given.
# ----------------------------------------------------------------------------------------


def max_pool2d_forward(x, kernel_size, stride, padding):
    """x: (N, C, H, W) -> (y, argmax): (N, C, OH, OW) each."""
    implementation = backend.choose(x, max_pool2d_forward_reference, max_pool2d_forward_numba,
                                    max_pool2d_forward_cupy)
    return implementation(x, kernel_size, stride, padding)


def max_pool2d_backward(gy, argmax, x_shape, kernel_size, stride, padding):
    """gy, argmax: (N, C, OH, OW) -> gx: (N, C, H, W), gy routed to each window's winner."""
    implementation = backend.choose(gy, max_pool2d_backward_reference, max_pool2d_backward_numba,
                                    max_pool2d_backward_cupy)
    return implementation(gy, argmax, x_shape, kernel_size, stride, padding)


def avg_pool2d_forward(x, kernel_size, stride, padding):
    """x: (N, C, H, W) -> y: (N, C, OH, OW)."""
    implementation = backend.choose(x, avg_pool2d_forward_reference, avg_pool2d_forward_numba,
                                    avg_pool2d_forward_cupy)
    return implementation(x, kernel_size, stride, padding)


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    """gy: (N, C, OH, OW) -> gx: (N, C, H, W), gy / (KH*KW) spread over each window."""
    implementation = backend.choose(gy, avg_pool2d_backward_reference, avg_pool2d_backward_numba,
                                    avg_pool2d_backward_cupy)
    return implementation(gy, x_shape, kernel_size, stride, padding)


def global_avg_pool2d_forward(x):
    """x: (N, C, H, W) -> y: (N, C), the mean of each plane."""
    implementation = backend.choose(x, global_avg_pool2d_forward_reference, global_avg_pool2d_forward_numba,
                                    global_avg_pool2d_forward_cupy)
    return implementation(x)


def global_avg_pool2d_backward(gy, x_shape):
    """gy: (N, C) -> gx: (N, C, H, W), gy / (H*W) at every pixel."""
    implementation = backend.choose(gy, global_avg_pool2d_backward_reference, global_avg_pool2d_backward_numba,
                                    global_avg_pool2d_backward_cupy)
    return implementation(gy, x_shape)


# ----------------------------------------------------------------------------------------
# NumPy reference: loop over the KH*KW window offsets, one strided slice each (as im2col).
# ----------------------------------------------------------------------------------------


def max_pool2d_forward_reference(x, kernel_size, stride, padding):
    """The largest value in every window, and where it was.

    x: (N, C, H, W)
    returns y: (N, C, OH, OW), argmax: (N, C, OH, OW) int64, flat index h*W + w of each winner
    """
    N, C, H, W = x.shape
    (KH, KW), (SH, SW), (PH, PW) = kernel_size, stride, padding
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)

    x_padded = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)), constant_values=-np.inf)
    h_start = np.arange(OH) * SH - PH  # (OH,) top row of each window, in unpadded coordinates
    w_start = np.arange(OW) * SW - PW  # (OW,)
    y = np.full((N, C, OH, OW), -np.inf, dtype=x.dtype)
    # every window's first real pixel leads until a bigger value shows up (as in PyTorch)
    first = np.maximum(h_start, 0)[:, None] * W + np.maximum(w_start, 0)[None, :]  # (OH, OW)
    argmax = np.broadcast_to(first, y.shape).astype(np.int64)
    for i in range(KH):
        for j in range(KW):
            v = x_padded[_window_slice(i, j, SH, SW, OH, OW)]  # (N, C, OH, OW): offset (i, j) of every window
            index = (h_start + i)[:, None] * W + (w_start + j)[None, :]  # (OH, OW): where v came from
            better = (v > y) | np.isnan(v)  # strictly bigger: on a tie the earlier offset keeps the lead
            y = np.where(better, v, y)
            argmax = np.where(better, index, argmax)
    return y, argmax


def max_pool2d_backward_reference(gy, argmax, x_shape, kernel_size, stride, padding):
    """Each window sends its gradient to its winner.

    gy, argmax: (N, C, OH, OW)     x_shape: (N, C, H, W)
    returns gx: (N, C, H, W)
    """
    N, C, H, W = x_shape
    (KH, KW), (SH, SW), (PH, PW) = kernel_size, stride, padding
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)

    # gx[h, w] = sum of gy over the windows whose argmax is h*W + w
    h_start = np.arange(OH) * SH - PH
    w_start = np.arange(OW) * SW - PW
    gx_padded = np.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=gy.dtype)
    for i in range(KH):
        for j in range(KW):
            index = (h_start + i)[:, None] * W + (w_start + j)[None, :]  # (OH, OW), as in the forward
            gx_padded[_window_slice(i, j, SH, SW, OH, OW)] += np.where(argmax == index, gy, 0)
    return np.ascontiguousarray(gx_padded[:, :, PH : PH + H, PW : PW + W])


def avg_pool2d_forward_reference(x, kernel_size, stride, padding):
    """The mean of every window (padding counts as 0, and in the divisor).

    x: (N, C, H, W)
    returns y: (N, C, OH, OW)
    """
    N, C, H, W = x.shape
    (KH, KW), (SH, SW), (PH, PW) = kernel_size, stride, padding
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)

    x_padded = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    total = np.zeros((N, C, OH, OW), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            total += x_padded[_window_slice(i, j, SH, SW, OH, OW)]
    return total / (KH * KW)


def avg_pool2d_backward_reference(gy, x_shape, kernel_size, stride, padding):
    """Each window shares its gradient equally among its KH*KW pixels.

    gy: (N, C, OH, OW)     x_shape: (N, C, H, W)
    returns gx: (N, C, H, W)
    """
    N, C, H, W = x_shape
    (KH, KW), (SH, SW), (PH, PW) = kernel_size, stride, padding
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)

    # gx[h, w] = sum of gy over the windows that cover (h, w), / (KH*KW)
    gx_padded = np.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=gy.dtype)
    for i in range(KH):
        for j in range(KW):
            gx_padded[_window_slice(i, j, SH, SW, OH, OW)] += gy
    return gx_padded[:, :, PH : PH + H, PW : PW + W] / (KH * KW)


def global_avg_pool2d_forward_reference(x):
    """x: (N, C, H, W) -> y: (N, C), the mean of each plane."""
    return x.mean(axis=(2, 3))


def global_avg_pool2d_backward_reference(gy, x_shape):
    """gy: (N, C), x_shape: (N, C, H, W) -> gx: (N, C, H, W)."""
    H, W = x_shape[2], x_shape[3]
    # gx[n, c, h, w] = gy[n, c] / (H*W): every pixel of a plane has the same share of its mean
    gx = np.empty(x_shape, dtype=gy.dtype)
    gx[...] = (gy / (H * W))[:, :, None, None]
    return gx


# ----------------------------------------------------------------------------------------
# Numba: explicit loops, jitted at the bottom of this file. Each iteration of the outer loop owns
# one (n, c) plane of the output.
# ----------------------------------------------------------------------------------------


def _max_pool2d_forward_loops(x, y, argmax, KH, KW, SH, SW, PH, PW, start, stop):
    """x: (N, C, H, W) contiguous; y, argmax: (N, C, OH, OW), written in full."""
    C, H, W = x.shape[1:]
    OH, OW = y.shape[2], y.shape[3]
    for plane in range(start, stop):  # this worker's (n, c) planes, flattened
        n = plane // C
        c = plane % C
        for oh in range(OH):
            for ow in range(OW):
                h0 = max(oh * SH - PH, 0)  # the window's first real pixel leads
                w0 = max(ow * SW - PW, 0)
                best = x[n, c, h0, w0]
                best_index = h0 * W + w0
                for i in range(KH):
                    h = oh * SH - PH + i
                    if h < 0 or h >= H:
                        continue  # padding: -inf never wins
                    for j in range(KW):
                        w = ow * SW - PW + j
                        if w < 0 or w >= W:
                            continue
                        v = x[n, c, h, w]
                        if v > best or np.isnan(v):  # strictly bigger: the first maximum wins ties
                            best = v
                            best_index = h * W + w
                y[n, c, oh, ow] = best
                argmax[n, c, oh, ow] = best_index
    return y


def _max_pool2d_backward_loops(gy, argmax, gx, oh_hits, ow_hits, start, stop):
    """gy, argmax: (N, C, OH, OW) contiguous; gx: (N, C, H, W), written in full.
    oh_hits: (H, KH), ow_hits: (W, KW), from im2col.hit_table (-1: offset misses the pixel)."""
    C, H, W = gx.shape[1:]
    KH, KW = oh_hits.shape[1], ow_hits.shape[1]
    for plane in range(start, stop):  # this worker's (n, c) planes
        n = plane // C
        c = plane % C
        for h in range(H):
            for w in range(W):
                total = gx.dtype.type(0)  # sum in gx's dtype, in the same order as the reference
                for i in range(KH):
                    oh = oh_hits[h, i]  # window row oh sees row h at offset i
                    if oh < 0:
                        continue
                    for j in range(KW):
                        ow = ow_hits[w, j]
                        if ow >= 0 and argmax[n, c, oh, ow] == h * W + w:
                            total += gy[n, c, oh, ow]
                gx[n, c, h, w] = total
    return gx


def _avg_pool2d_forward_loops(x, y, KH, KW, SH, SW, PH, PW, start, stop):
    """x: (N, C, H, W) contiguous; y: (N, C, OH, OW), written in full."""
    C, H, W = x.shape[1:]
    OH, OW = y.shape[2], y.shape[3]
    for plane in range(start, stop):  # this worker's (n, c) planes
        n = plane // C
        c = plane % C
        for oh in range(OH):
            for ow in range(OW):
                total = x.dtype.type(0)
                for i in range(KH):
                    h = oh * SH - PH + i
                    if h < 0 or h >= H:
                        continue  # padding adds 0
                    for j in range(KW):
                        w = ow * SW - PW + j
                        if 0 <= w < W:
                            total += x[n, c, h, w]
                y[n, c, oh, ow] = total / (KH * KW)
    return y


def _avg_pool2d_backward_loops(gy, gx, oh_hits, ow_hits, start, stop):
    """gy: (N, C, OH, OW) contiguous; gx: (N, C, H, W), written in full; hits as in max pool."""
    C, H, W = gx.shape[1:]
    KH, KW = oh_hits.shape[1], ow_hits.shape[1]
    for plane in range(start, stop):  # this worker's (n, c) planes
        n = plane // C
        c = plane % C
        for h in range(H):
            for w in range(W):
                total = gx.dtype.type(0)
                for i in range(KH):
                    oh = oh_hits[h, i]
                    if oh < 0:
                        continue
                    for j in range(KW):
                        ow = ow_hits[w, j]
                        if ow >= 0:
                            total += gy[n, c, oh, ow]
                gx[n, c, h, w] = total / (KH * KW)
    return gx


def _global_avg_pool2d_forward_loops(x, y, start, stop):
    """x: (N, C, H, W) contiguous; y: (N, C), written in full. Sums in float64."""
    C, H, W = x.shape[1:]
    for plane in range(start, stop):  # this worker's (n, c) planes
        n = plane // C
        c = plane % C
        total = 0.0  # float64
        for h in range(H):
            for w in range(W):
                total += x[n, c, h, w]
        y[n, c] = total / (H * W)
    return y


def _global_avg_pool2d_backward_loops(gy, gx, start, stop):
    """gy: (N, C) contiguous; gx: (N, C, H, W), written in full."""
    C, H, W = gx.shape[1:]
    for plane in range(start, stop):  # this worker's (n, c) planes
        n = plane // C
        c = plane % C
        share = gy[n, c] / (H * W)
        for h in range(H):
            for w in range(W):
                gx[n, c, h, w] = share
    return gx


def max_pool2d_forward_numba(x, kernel_size, stride, padding):
    """max_pool2d_forward_reference as loops.   x: (N, C, H, W) -> y, argmax: (N, C, OH, OW)"""
    N, C, H, W = x.shape
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = np.empty((N, C, OH, OW), dtype=np.int64)
    _chunks.run_loops(_max_pool2d_forward_jit, N * C, H * W, np.ascontiguousarray(x), y, argmax, *kernel_size,
                      *stride, *padding)
    return y, argmax


def max_pool2d_backward_numba(gy, argmax, x_shape, kernel_size, stride, padding):
    """max_pool2d_backward_reference as gather loops.   gy, argmax: (N, C, OH, OW) -> gx: (N, C, H, W)"""
    N, C, H, W = x_shape
    (KH, KW), (SH, SW), (PH, PW) = kernel_size, stride, padding
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)
    gx = np.empty((N, C, H, W), dtype=gy.dtype)
    _chunks.run_loops(
        _max_pool2d_backward_jit, N * C, H * W, np.ascontiguousarray(gy), np.ascontiguousarray(argmax, dtype=np.int64), gx,
        hit_table(H, KH, SH, PH, 1, OH), hit_table(W, KW, SW, PW, 1, OW),
    )
    return gx


def avg_pool2d_forward_numba(x, kernel_size, stride, padding):
    """avg_pool2d_forward_reference as loops.   x: (N, C, H, W) -> y: (N, C, OH, OW)"""
    N, C, H, W = x.shape
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    _chunks.run_loops(_avg_pool2d_forward_jit, N * C, H * W, np.ascontiguousarray(x), y, *kernel_size, *stride,
                      *padding)
    return y


def avg_pool2d_backward_numba(gy, x_shape, kernel_size, stride, padding):
    """avg_pool2d_backward_reference as gather loops.   gy: (N, C, OH, OW) -> gx: (N, C, H, W)"""
    N, C, H, W = x_shape
    (KH, KW), (SH, SW), (PH, PW) = kernel_size, stride, padding
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)
    gx = np.empty((N, C, H, W), dtype=gy.dtype)
    _chunks.run_loops(
        _avg_pool2d_backward_jit, N * C, H * W, np.ascontiguousarray(gy), gx, hit_table(H, KH, SH, PH, 1, OH), hit_table(W, KW, SW, PW, 1, OW)
    )
    return gx


def global_avg_pool2d_forward_numba(x):
    """global_avg_pool2d_forward_reference as loops.   x: (N, C, H, W) -> y: (N, C)"""
    N, C, H, W = x.shape
    y = np.empty((N, C), dtype=x.dtype)
    _chunks.run_loops(_global_avg_pool2d_forward_jit, N * C, H * W, np.ascontiguousarray(x), y)
    return y


def global_avg_pool2d_backward_numba(gy, x_shape):
    """global_avg_pool2d_backward_reference as loops.   gy: (N, C) -> gx: (N, C, H, W)"""
    N, C, H, W = x_shape
    gx = np.empty(x_shape, dtype=gy.dtype)
    _chunks.run_loops(_global_avg_pool2d_backward_jit, N * C, H * W, np.ascontiguousarray(gy), gx)
    return gx


# ----------------------------------------------------------------------------------------
# CuPy: the same loops in CUDA C, one thread per output element (same variable names).
# ----------------------------------------------------------------------------------------

_MAX_POOL2D_FORWARD_CUDA = r"""
extern "C" __global__ void minires_max_pool2d_forward(
    const T* x, T* y, long long* argmax, int N, int C, int H, int W,
    int KH, int KW, int SH, int SW, int PH, int PW, int OH, int OW)
{
    // one thread per output element, read as (n, c, oh, ow)
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= (long long)N * C * OH * OW) return;
    long long rest = index;
    int ow = rest % OW;  rest /= OW;
    int oh = rest % OH;  rest /= OH;
    int c = rest % C;    rest /= C;
    int n = rest;
    const T* x_plane = x + ((long long)n * C + c) * H * W;
    int h0 = oh * SH - PH > 0 ? oh * SH - PH : 0;  // the window's first real pixel leads
    int w0 = ow * SW - PW > 0 ? ow * SW - PW : 0;
    T best = x_plane[h0 * W + w0];
    long long best_index = h0 * W + w0;
    for (int i = 0; i < KH; i++) {
        int h = oh * SH - PH + i;
        if (h < 0 || h >= H) continue;  // padding: -inf never wins
        for (int j = 0; j < KW; j++) {
            int w = ow * SW - PW + j;
            if (w < 0 || w >= W) continue;
            T v = x_plane[h * W + w];
            if (v > best || isnan(v)) {  // strictly bigger: the first maximum wins ties
                best = v;
                best_index = h * W + w;
            }
        }
    }
    y[index] = best;
    argmax[index] = best_index;
}
"""

_MAX_POOL2D_BACKWARD_CUDA = r"""
extern "C" __global__ void minires_max_pool2d_backward(
    const T* gy, const long long* argmax, T* gx, int N, int C, int H, int W,
    int KH, int KW, int SH, int SW, int PH, int PW, int OH, int OW)
{
    // one thread per pixel of gx, read as (n, c, h, w): it gathers gy from the windows it won
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= (long long)N * C * H * W) return;
    long long rest = index;
    int w = rest % W;  rest /= W;
    int h = rest % H;  rest /= H;
    int c = rest % C;  rest /= C;
    int n = rest;
    long long plane = (long long)n * C + c;
    T total = 0;
    for (int i = 0; i < KH; i++) {
        int oh_times_SH = h + PH - i;  // window row oh sees row h at offset i when this is oh*SH
        if (oh_times_SH < 0 || oh_times_SH % SH != 0 || oh_times_SH / SH >= OH) continue;
        int oh = oh_times_SH / SH;
        for (int j = 0; j < KW; j++) {
            int ow_times_SW = w + PW - j;
            if (ow_times_SW < 0 || ow_times_SW % SW != 0 || ow_times_SW / SW >= OW) continue;
            int ow = ow_times_SW / SW;
            long long o = (plane * OH + oh) * OW + ow;
            if (argmax[o] == (long long)h * W + w) total += gy[o];
        }
    }
    gx[index] = total;
}
"""

_AVG_POOL2D_FORWARD_CUDA = r"""
extern "C" __global__ void minires_avg_pool2d_forward(
    const T* x, T* y, int N, int C, int H, int W,
    int KH, int KW, int SH, int SW, int PH, int PW, int OH, int OW)
{
    // one thread per output element, read as (n, c, oh, ow)
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= (long long)N * C * OH * OW) return;
    long long rest = index;
    int ow = rest % OW;  rest /= OW;
    int oh = rest % OH;  rest /= OH;
    int c = rest % C;    rest /= C;
    int n = rest;
    const T* x_plane = x + ((long long)n * C + c) * H * W;
    T total = 0;
    for (int i = 0; i < KH; i++) {
        int h = oh * SH - PH + i;
        if (h < 0 || h >= H) continue;  // padding adds 0
        for (int j = 0; j < KW; j++) {
            int w = ow * SW - PW + j;
            if (0 <= w && w < W) total += x_plane[h * W + w];
        }
    }
    y[index] = total / (KH * KW);
}
"""

_AVG_POOL2D_BACKWARD_CUDA = r"""
extern "C" __global__ void minires_avg_pool2d_backward(
    const T* gy, T* gx, int N, int C, int H, int W,
    int KH, int KW, int SH, int SW, int PH, int PW, int OH, int OW)
{
    // one thread per pixel of gx, read as (n, c, h, w): it gathers gy from the windows covering it
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= (long long)N * C * H * W) return;
    long long rest = index;
    int w = rest % W;  rest /= W;
    int h = rest % H;  rest /= H;
    int c = rest % C;  rest /= C;
    int n = rest;
    long long plane = (long long)n * C + c;
    T total = 0;
    for (int i = 0; i < KH; i++) {
        int oh_times_SH = h + PH - i;
        if (oh_times_SH < 0 || oh_times_SH % SH != 0 || oh_times_SH / SH >= OH) continue;
        int oh = oh_times_SH / SH;
        for (int j = 0; j < KW; j++) {
            int ow_times_SW = w + PW - j;
            if (ow_times_SW < 0 || ow_times_SW % SW != 0 || ow_times_SW / SW >= OW) continue;
            int ow = ow_times_SW / SW;
            total += gy[(plane * OH + oh) * OW + ow];
        }
    }
    gx[index] = total / (KH * KW);
}
"""


def max_pool2d_forward_cupy(x, kernel_size, stride, padding):
    """max_pool2d_forward_reference on the GPU.   x: (N, C, H, W) cupy -> y, argmax: (N, C, OH, OW) cupy"""
    cp = _cuda.cupy()
    N, C, H, W = x.shape
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)
    x = cp.ascontiguousarray(x)
    y = cp.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = cp.empty((N, C, OH, OW), dtype=cp.int64)
    sizes = _cuda.int_args(N, C, H, W, *kernel_size, *stride, *padding, OH, OW)
    # one thread per output element
    _cuda.launch(_MAX_POOL2D_FORWARD_CUDA, "minires_max_pool2d_forward", x.dtype, y.size, x, y, argmax, *sizes)
    return y, argmax


def max_pool2d_backward_cupy(gy, argmax, x_shape, kernel_size, stride, padding):
    """max_pool2d_backward_reference on the GPU, as a gather.   gy, argmax: (N, C, OH, OW) -> gx: (N, C, H, W)"""
    cp = _cuda.cupy()
    N, C, H, W = x_shape
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)
    gy = cp.ascontiguousarray(gy)
    argmax = cp.ascontiguousarray(argmax, dtype=cp.int64)
    gx = cp.empty((N, C, H, W), dtype=gy.dtype)
    sizes = _cuda.int_args(N, C, H, W, *kernel_size, *stride, *padding, OH, OW)
    # one thread per pixel of gx
    _cuda.launch(_MAX_POOL2D_BACKWARD_CUDA, "minires_max_pool2d_backward", gy.dtype, gx.size, gy, argmax, gx, *sizes)
    return gx


def avg_pool2d_forward_cupy(x, kernel_size, stride, padding):
    """avg_pool2d_forward_reference on the GPU.   x: (N, C, H, W) cupy -> y: (N, C, OH, OW) cupy"""
    cp = _cuda.cupy()
    N, C, H, W = x.shape
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)
    x = cp.ascontiguousarray(x)
    y = cp.empty((N, C, OH, OW), dtype=x.dtype)
    sizes = _cuda.int_args(N, C, H, W, *kernel_size, *stride, *padding, OH, OW)
    # one thread per output element
    _cuda.launch(_AVG_POOL2D_FORWARD_CUDA, "minires_avg_pool2d_forward", x.dtype, y.size, x, y, *sizes)
    return y


def avg_pool2d_backward_cupy(gy, x_shape, kernel_size, stride, padding):
    """avg_pool2d_backward_reference on the GPU, as a gather.   gy: (N, C, OH, OW) -> gx: (N, C, H, W)"""
    cp = _cuda.cupy()
    N, C, H, W = x_shape
    OH, OW = pool_output_size(H, W, kernel_size, stride, padding)
    gy = cp.ascontiguousarray(gy)
    gx = cp.empty((N, C, H, W), dtype=gy.dtype)
    sizes = _cuda.int_args(N, C, H, W, *kernel_size, *stride, *padding, OH, OW)
    # one thread per pixel of gx
    _cuda.launch(_AVG_POOL2D_BACKWARD_CUDA, "minires_avg_pool2d_backward", gy.dtype, gx.size, gy, gx, *sizes)
    return gx


def global_avg_pool2d_forward_cupy(x):
    """x: (N, C, H, W) cupy -> y: (N, C) cupy, cupy's own mean."""
    return x.mean(axis=(2, 3))


def global_avg_pool2d_backward_cupy(gy, x_shape):
    """gy: (N, C) cupy -> gx: (N, C, H, W) cupy, gy / (H*W) in every pixel."""
    cp = _cuda.cupy()
    H, W = x_shape[2], x_shape[3]
    gx = cp.empty(x_shape, dtype=gy.dtype)
    gx[...] = (gy / (H * W))[:, :, None, None]
    return gx


# Jit the loops last, so the plain Python functions above are what a reader (and pdb) sees.
# With NUMBA_DISABLE_JIT=1, njit returns the function unchanged.
_max_pool2d_forward_jit = serial_jit(_max_pool2d_forward_loops)
_max_pool2d_backward_jit = serial_jit(_max_pool2d_backward_loops)
_avg_pool2d_forward_jit = serial_jit(_avg_pool2d_forward_loops)
_avg_pool2d_backward_jit = serial_jit(_avg_pool2d_backward_loops)
_global_avg_pool2d_forward_jit = serial_jit(_global_avg_pool2d_forward_loops)
_global_avg_pool2d_backward_jit = serial_jit(_global_avg_pool2d_backward_loops)
