"""im2col and col2im: convolution as one matrix product. Taught in docs/conv.md.

Notation (the same letters in every kernel file):
    N  batch size            C  channels              H, W    input height, width
    KH, KW  kernel size      SH, SW  stride           PH, PW  zero padding
    DH, DW  dilation         OH, OW  output height, width
    OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1,  OW likewise   (PyTorch's formula)

im2col copies every patch the kernel sees into one column of a matrix

    x: (N, C, H, W)  ->  col: (C*KH*KW, N*OH*OW)
    col[(c, i, j), (n, oh, ow)] = x[n, c, oh*SH - PH + i*DH, ow*SW - PW + j*DW]   (0 in the padding)

(row index (c, i, j) and column index (n, oh, ow) are flattened in C order), so that a
convolution with weight w: (C_out, C, KH, KW) is one GEMM:

    y = w.reshape(C_out, C*KH*KW) @ col          # (C_out, N*OH*OW), then reshape to (C_out, N, OH, OW)

A worked case: C=1, a 3x3 image, a 2x2 kernel, stride 1, no padding (OH = OW = 2).
Each column is one patch, each row one kernel offset:

     a b c        a b d e   <- kernel offset (0,0), at output positions (0,0) (0,1) (1,0) (1,1)
     d e f   ->   b c e f   <- offset (0,1)
     g h i        d e g h   <- offset (1,0)
                  e f h i   <- offset (1,1)

col2im is the adjoint of im2col: it adds each entry of col back to the pixel it came
from (e above appears four times, so its gradient is the sum of four entries). The
loop versions write it as a gather -- each pixel sums the entries that came from it --
so every output element is computed by exactly one iteration: no atomics, no races,
and the same result every run.

Three implementations with one signature each (see kernels/__init__.py):
    im2col_reference / im2col_numba / im2col_cupy    (x, kernel_size, stride, padding, dilation) -> col
    col2im_reference / col2im_numba / col2im_cupy    (col, x_shape, kernel_size, stride, padding, dilation) -> x
kernel_size, stride, padding, dilation are (int, int) tuples here; the functional layer
turns a plain int into a pair. Step into the numba loops with NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from . import _cuda
from ._jit import serial_jit


def conv_output_size(H, W, kernel_size, stride, padding, dilation) -> tuple[int, int]:
    """(OH, OW) of a convolution (or pooling) window sliding over an H x W input.

    OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1,  OW likewise.

    >>> conv_output_size(32, 32, (3, 3), (1, 1), (1, 1), (1, 1))
    (32, 32)
    >>> conv_output_size(7, 9, (3, 3), (2, 2), (0, 0), (1, 1))
    (3, 4)
    """
    (KH, KW), (SH, SW), (PH, PW), (DH, DW) = kernel_size, stride, padding, dilation
    OH = (H + 2 * PH - DH * (KH - 1) - 1) // SH + 1
    OW = (W + 2 * PW - DW * (KW - 1) - 1) // SW + 1
    if OH < 1 or OW < 1:
        raise ValueError(
            f"im2col: kernel {KH}x{KW} with dilation ({DH}, {DW}) does not fit input {H}x{W} "
            f"padded by ({PH}, {PW}): the output would be {OH}x{OW}"
        )
    return OH, OW


def _check_col_shape(col, x_shape, kernel_size, OH, OW) -> None:
    N, C = x_shape[0], x_shape[1]
    KH, KW = kernel_size
    want = (C * KH * KW, N * OH * OW)
    if tuple(col.shape) != want:
        raise ValueError(
            f"col2im: col must be (C*KH*KW, N*OH*OW) = {want} for x_shape {tuple(x_shape)} and "
            f"kernel {KH}x{KW}, got {tuple(col.shape)}"
        )



# ----------------------------------------------------------------------------------------
# The kernels as a user calls them: each picks its implementation for the array it is given.
# (The convolution, kernels/conv.py, calls the loops below directly, chunk by chunk.)
# ----------------------------------------------------------------------------------------


def im2col(x, kernel_size, stride, padding, dilation):
    """x: (N, C, H, W) -> col: (C*KH*KW, N*OH*OW), each column one patch."""
    return backend.choose(x, im2col_reference, im2col_numba, im2col_cupy)(x, kernel_size, stride, padding, dilation)


def col2im(col, x_shape, kernel_size, stride, padding, dilation):
    """col: (C*KH*KW, N*OH*OW) -> x: (N, C, H, W), every entry added back to its pixel."""
    implementation = backend.choose(col, col2im_reference, col2im_numba, col2im_cupy)
    return implementation(col, x_shape, kernel_size, stride, padding, dilation)


# ----------------------------------------------------------------------------------------
# NumPy reference: loop over the KH*KW kernel offsets only, one strided slice each.
# ----------------------------------------------------------------------------------------


def im2col_reference(x, kernel_size, stride, padding, dilation):
    """Unfold every kernel-sized patch of x into one column.

    x:   (N, C, H, W)
    returns col: (C*KH*KW, N*OH*OW), row (c, i, j), column (n, oh, ow); padding reads as 0

    >>> im2col_reference(np.zeros((2, 3, 5, 5)), (3, 3), (1, 1), (1, 1), (1, 1)).shape
    (27, 50)
    """
    N, C, H, W = x.shape
    (KH, KW), (SH, SW), (PH, PW), (DH, DW) = kernel_size, stride, padding, dilation
    OH, OW = conv_output_size(H, W, kernel_size, stride, padding, dilation)

    x_padded = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))  # (N, C, H + 2*PH, W + 2*PW)
    col = np.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            # kernel offset (i, j) reads padded rows i*DH, i*DH + SH, ... (OH of them), columns likewise
            h_slice = slice(i * DH, i * DH + SH * (OH - 1) + 1, SH)
            w_slice = slice(j * DW, j * DW + SW * (OW - 1) + 1, SW)
            patch = x_padded[:, :, h_slice, w_slice]  # (N, C, OH, OW)
            col[:, i, j] = patch.transpose(1, 0, 2, 3)  # -> (C, N, OH, OW)
    return col.reshape(C * KH * KW, N * OH * OW)


def col2im_reference(col, x_shape, kernel_size, stride, padding, dilation):
    """The adjoint of im2col: add every entry of col back to the pixel it was copied from.

    col: (C*KH*KW, N*OH*OW)     x_shape: (N, C, H, W)
    returns x: (N, C, H, W)   (entries that came from the padding are dropped)
    """
    N, C, H, W = x_shape
    (KH, KW), (SH, SW), (PH, PW), (DH, DW) = kernel_size, stride, padding, dilation
    OH, OW = conv_output_size(H, W, kernel_size, stride, padding, dilation)
    _check_col_shape(col, x_shape, kernel_size, OH, OW)

    col = col.reshape(C, KH, KW, N, OH, OW)
    x_padded = np.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=col.dtype)
    for i in range(KH):
        for j in range(KW):
            # the slice im2col read from, now added to (+=, since patches overlap)
            h_slice = slice(i * DH, i * DH + SH * (OH - 1) + 1, SH)
            w_slice = slice(j * DW, j * DW + SW * (OW - 1) + 1, SW)
            x_padded[:, :, h_slice, w_slice] += col[:, i, j].transpose(1, 0, 2, 3)  # (C, N, OH, OW) -> (N, C, OH, OW)
    return np.ascontiguousarray(x_padded[:, :, PH : PH + H, PW : PW + W])


# ----------------------------------------------------------------------------------------
# Numba: explicit loops, jitted at the bottom of this file.
# ----------------------------------------------------------------------------------------


def _im2col_loops(x, col, SH, SW, PH, PW, DH, DW):
    """x: (N, C, H, W) contiguous; col: (C, KH, KW, N, OH, OW), written in full.

    Optimizations: the outer loop runs over the C*KH*KW rows of col, so each
    iteration writes one contiguous row (N*OH*OW entries); the innermost loop walks ow,
    along a row of x. One thread: kernels/conv.py runs one chunk of the batch per core (kernels/_chunks.py).
    """
    N, C, H, W = x.shape
    KH, KW, OH, OW = col.shape[1], col.shape[2], col.shape[4], col.shape[5]
    for row in range(C * KH * KW):  # row = (c, i, j) flattened
        c = row // (KH * KW)
        i = row // KW % KH
        j = row % KW
        for n in range(N):
            for oh in range(OH):
                h = oh * SH - PH + i * DH  # the input row that kernel row i sees at output row oh
                for ow in range(OW):
                    w = ow * SW - PW + j * DW
                    if 0 <= h < H and 0 <= w < W:
                        col[c, i, j, n, oh, ow] = x[n, c, h, w]
                    else:
                        col[c, i, j, n, oh, ow] = 0  # padding
    return col


def hit_table(size, K, S, P, D, out_size):
    """Which output position reads each input position, per kernel offset: for col2im's gather.

    hits[h, i] = oh  when kernel offset i at output position oh reads input position h,
                     i.e. h = oh*S - P + i*D with 0 <= oh < out_size;
               = -1  when offset i reads h at no output position.
    size: H (or W), K: KH, S: SH, P: PH, D: DH, out_size: OH.   returns (size, K) int64

    >>> hit_table(3, 2, 1, 0, 1, 2)       # the worked example: 3 rows, 2x2 kernel, stride 1
    array([[ 0, -1],
           [ 1,  0],
           [-1,  1]])
    """
    oh_times_S = np.arange(size)[:, None] + P - np.arange(K)[None, :] * D  # (size, K)
    oh = oh_times_S // S
    return np.where((oh_times_S >= 0) & (oh_times_S % S == 0) & (oh < out_size), oh, -1)


def _col2im_loops(col, x, oh_hits, ow_hits):
    """col: (C, KH, KW, N, OH, OW) contiguous; x: (N, C, H, W), written in full.
    oh_hits: (H, KH), ow_hits: (W, KW), from hit_table.

    Gather: pixel (n, c, h, w) was copied into col by kernel offset (i, j) at output
    position (oh, ow) = (oh_hits[h, i], ow_hits[w, j]) when both are >= 0; the pixel sums
    those entries. Optimizations: the hit tables are precomputed, so no division in the
    loop. One thread: kernels/conv.py runs one chunk of the batch per core (kernels/_chunks.py).
    """
    C, KH, KW, N = col.shape[:4]
    H, W = x.shape[2], x.shape[3]
    for plane in range(N * C):  # plane = (n, c) flattened
        n = plane // C
        c = plane % C
        for h in range(H):
            for w in range(W):
                total = x.dtype.type(0)  # sum in x's dtype, in the same order as the reference
                for i in range(KH):
                    oh = oh_hits[h, i]
                    if oh < 0:
                        continue  # kernel row i never reads row h
                    for j in range(KW):
                        ow = ow_hits[w, j]
                        if ow < 0:
                            continue
                        total += col[c, i, j, n, oh, ow]
                x[n, c, h, w] = total
    return x


def im2col_numba(x, kernel_size, stride, padding, dilation):
    """im2col_reference, as compiled loops.   x: (N, C, H, W) -> col: (C*KH*KW, N*OH*OW)"""
    N, C, H, W = x.shape
    KH, KW = kernel_size
    OH, OW = conv_output_size(H, W, kernel_size, stride, padding, dilation)
    col = np.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)  # C-contiguous, so the reshape below is a view
    _im2col_jit(np.ascontiguousarray(x), col, *stride, *padding, *dilation)
    return col.reshape(C * KH * KW, N * OH * OW)


def col2im_numba(col, x_shape, kernel_size, stride, padding, dilation):
    """col2im_reference, as compiled gather loops.   col: (C*KH*KW, N*OH*OW) -> x: (N, C, H, W)"""
    N, C, H, W = x_shape
    KH, KW = kernel_size
    OH, OW = conv_output_size(H, W, kernel_size, stride, padding, dilation)
    _check_col_shape(col, x_shape, kernel_size, OH, OW)
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    oh_hits = hit_table(H, KH, SH, PH, DH, OH)  # (H, KH)
    ow_hits = hit_table(W, KW, SW, PW, DW, OW)  # (W, KW)
    x = np.empty((N, C, H, W), dtype=col.dtype)
    _col2im_jit(np.ascontiguousarray(col).reshape(C, KH, KW, N, OH, OW), x, oh_hits, ow_hits)
    return x


# ----------------------------------------------------------------------------------------
# CuPy: the same loops in CUDA C, one thread per output element (same variable names).
# ----------------------------------------------------------------------------------------

_IM2COL_CUDA = r"""
extern "C" __global__ void minires_im2col(
    const T* x, T* col, int N, int C, int H, int W, int KH, int KW,
    int SH, int SW, int PH, int PW, int DH, int DW, int OH, int OW)
{
    // one thread per entry of col, read as (c, i, j, n, oh, ow) in C order
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= (long long)C * KH * KW * N * OH * OW) return;
    long long rest = index;
    int ow = rest % OW;  rest /= OW;
    int oh = rest % OH;  rest /= OH;
    int n = rest % N;    rest /= N;
    int j = rest % KW;   rest /= KW;
    int i = rest % KH;   rest /= KH;
    int c = rest;
    int h = oh * SH - PH + i * DH;
    int w = ow * SW - PW + j * DW;
    if (0 <= h && h < H && 0 <= w && w < W)
        col[index] = x[(((long long)n * C + c) * H + h) * W + w];
    else
        col[index] = 0;  // padding
}
"""

_COL2IM_CUDA = r"""
extern "C" __global__ void minires_col2im(
    const T* col, T* x, int N, int C, int H, int W, int KH, int KW,
    int SH, int SW, int PH, int PW, int DH, int DW, int OH, int OW)
{
    // one thread per pixel of x, read as (n, c, h, w): it gathers the col entries copied from it
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= (long long)N * C * H * W) return;
    long long rest = index;
    int w = rest % W;  rest /= W;
    int h = rest % H;  rest /= H;
    int c = rest % C;  rest /= C;
    int n = rest;
    long long L = (long long)N * OH * OW;  // length of one row of col
    T total = 0;
    for (int i = 0; i < KH; i++) {
        int oh_times_SH = h + PH - i * DH;
        if (oh_times_SH < 0 || oh_times_SH % SH != 0 || oh_times_SH / SH >= OH) continue;
        int oh = oh_times_SH / SH;
        for (int j = 0; j < KW; j++) {
            int ow_times_SW = w + PW - j * DW;
            if (ow_times_SW < 0 || ow_times_SW % SW != 0 || ow_times_SW / SW >= OW) continue;
            int ow = ow_times_SW / SW;
            long long row = ((long long)c * KH + i) * KW + j;
            total += col[row * L + ((long long)n * OH + oh) * OW + ow];
        }
    }
    x[index] = total;
}
"""


def im2col_cupy(x, kernel_size, stride, padding, dilation):
    """im2col_reference on the GPU.   x: (N, C, H, W) cupy -> col: (C*KH*KW, N*OH*OW) cupy"""
    cp = _cuda.cupy()
    N, C, H, W = x.shape
    (KH, KW), (SH, SW), (PH, PW), (DH, DW) = kernel_size, stride, padding, dilation
    OH, OW = conv_output_size(H, W, kernel_size, stride, padding, dilation)
    x = cp.ascontiguousarray(x)
    col = cp.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    sizes = _cuda.int_args(N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    # one thread per entry of col
    _cuda.launch(_IM2COL_CUDA, "minires_im2col", x.dtype, col.size, x, col, *sizes)
    return col


def col2im_cupy(col, x_shape, kernel_size, stride, padding, dilation):
    """col2im_reference on the GPU, as a gather.   col: (C*KH*KW, N*OH*OW) cupy -> x: (N, C, H, W) cupy"""
    cp = _cuda.cupy()
    N, C, H, W = x_shape
    (KH, KW), (SH, SW), (PH, PW), (DH, DW) = kernel_size, stride, padding, dilation
    OH, OW = conv_output_size(H, W, kernel_size, stride, padding, dilation)
    _check_col_shape(col, x_shape, kernel_size, OH, OW)
    col = cp.ascontiguousarray(col)
    x = cp.empty((N, C, H, W), dtype=col.dtype)
    sizes = _cuda.int_args(N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    # one thread per pixel of x
    _cuda.launch(_COL2IM_CUDA, "minires_col2im", col.dtype, x.size, col, x, *sizes)
    return x


# Jit the loops last, so the plain Python functions above are what a reader (and pdb) sees.
# With NUMBA_DISABLE_JIT=1, njit returns the function unchanged. One thread and no GIL
# (serial_jit): the convolution already runs one chunk per core, side by side.
_im2col_jit = serial_jit(_im2col_loops)
_col2im_jit = serial_jit(_col2im_loops)
