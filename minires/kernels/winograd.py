"""Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution (Lavin & Gray 2015): 3x3 kernels, stride 1,
dilation 1, groups 1, any zero padding. Fewer multiplications than im2col + GEMM, and no 9x column buffer.

Notation as in im2col.py: N batch, C input channels, C_out output channels, H, W input
size, PH, PW zero padding, OH = H + 2*PH - 2, OW = W + 2*PW - 2 (a 3x3 kernel, stride 1).

The 1-D idea, F(2, 3): two outputs of a 3-tap filter g over four inputs d,
    y0 = g0*d0 + g1*d1 + g2*d2,   y1 = g0*d1 + g1*d2 + g2*d3,
cost 6 multiplications directly but only 4 as
    y = A^T [ (G g) * (B^T d) ]          (* elementwise, 4 products)
with the standard matrices

    B^T = [[1,  0, -1,  0],      G = [[1,    0,   0  ],      A^T = [[1, 1,  1,  0],
           [0,  1,  1,  0],           [1/2,  1/2, 1/2],             [0, 1, -1, -1]]
           [0, -1,  1,  0],           [1/2, -1/2, 1/2],
           [0,  1,  0, -1]]           [0,    0,   1  ]]

(B^T d and A^T m are additions and subtractions only). In 2-D the same matrices act on
both axes of a 4x4 input tile d and a 3x3 kernel g, giving a 2x2 output tile:

    Y = A^T [ (G g G^T) * (B^T d B) ] A

Tiles. The padded input is cut into overlapping 4x4 windows, 2 apart: tile (th, tw)
reads padded rows 2*th .. 2*th+3 and columns 2*tw .. 2*tw+3 and makes outputs rows
2*th, 2*th+1, columns 2*tw, 2*tw+1. There are TH = ceil(OH/2) by TW = ceil(OW/2) tiles
per image, T = N*TH*TW in all, numbered t = (n, th, tw) in C order. When OH or OW is
odd the last tile sticks out by one: the input is padded with one more row (column)
of zeros at the bottom (right), and that tile's extra output row (column) is dropped.
Summed over channels, with xi = (i, j) one of the 16 positions of a 4x4 tile:

    U = G g G^T       per (c_out, c)            U: (16, C_out, C)     (the weight transform)
    V = B^T d B       per (c, tile)             V: (16, C, T)         (the input transform)
    M[xi] = U[xi] @ V[xi]    16 GEMMs (C_out, C) @ (C, T)  ->     M: (16, C_out, T)
    Y = A^T M A       per (c_out, tile)         Y: (2, 2) per tile -> y: (N, C_out, OH, OW)

Backward. The map x -> y is linear, and so is each step, so the gradients are the same
steps transposed, in reverse order (exact, up to rounding):

    gM = A gY A^T     per (c_out, tile)         gM: (16, C_out, T)  (gY = 0 where a tile is cropped)
    gU[xi] = gM[xi] @ V[xi]^T                   gU: (16, C_out, C)  (the sum over tiles is the GEMM's)
    gw = G^T gU G     per (c_out, c)            gw: (C_out, C, 3, 3)
    gV[xi] = U[xi]^T @ gM[xi]                   gV: (16, C, T)
    gx = the adjoint of "cut into tiles, V = B^T d B": each tile's B gV B^T (4x4) belongs
         to the pixels of its window; a pixel sums the entries of the (up to 4) tiles
         whose windows cover it, then the padding is cropped off.

On the GPU the last step is a gather (each pixel adds up its own entries), not a
scatter (each tile adding into its window): one writer per element, no races, the same
result every run. The numba loops scatter, tile by tile in a fixed order: one thread
owns each chunk of images, so there is no race there either. The input gradient could
also be computed as a Winograd convolution of gy with the flipped, channel-swapped
kernel and padding 2 - P (docs/conv.md explains that identity); measured on 2 cores
with F(2x2), that was 7-19% faster than the adjoint's gather, but every implementation
here computes the chain rule as written above, so that the input gradient is its own
kernel, one call away from the op.

F(4x4, 3x3), the numba path. The same three formulas with bigger tiles: 6x6 windows, 4
apart, make 4x4 outputs, with the 6x6, 6x3 and 4x6 matrices B_T4, G4, A_T4 below (and
TH = ceil(OH/4)). The GEMMs are 36 per tile for 16 outputs instead of 16 for 4, so 0.56x
the multiplications; the transforms do more arithmetic per tile but write fewer numbers per
output. Measured per layer on 2 cores, batch 128, forward + backward: 12% less time than
F(2x2) at 16 channels (32x32), 17% at 32 (16x16), 20% at 64 (8x8) (docs/fast.md). The
reference computes either (m=2, the default, or m=4), so each fast version has its twin.

NaN and infinity. Winograd mixes the pixels of a tile before it multiplies, so an
infinite input can turn into inf - inf = NaN where the direct convolution gives +-inf.
What holds for F(2x2): the CUDA loops only add the terms whose coefficient is nonzero,
so an output is non-finite exactly when the direct convolution's is (NaN or inf, it
may differ), and a NaN input gives NaN in exactly the outputs whose 3x3 window covers
it. The NumPy reference multiplies by the whole matrices, and 0 * NaN = NaN, so there
a non-finite input reaches every output of every tile whose window covers it. So does
F(4x4) in the numba loops, although they too add only the nonzero terms: its B^T spreads
a pixel over more of the tile. In every implementation the direct convolution's
non-finite outputs stay non-finite, and the tiles no non-finite input reaches are exact.
Finite inputs of moderate size always give finite outputs. Rounding: F(2, 3)'s matrices
hold only 0, +-1 and 1/2, so float32 stays as accurate as im2col + GEMM (measured at
16-256 channels: max error 2e-7 to 6e-7 of the largest output, im2col 2e-7 to 6e-7);
F(4, 3)'s hold 4, 5, 8 and 1/6, and float32 is off by 4e-6 to 8e-6 (16-64 channels).

Three implementations with one signature each (see kernels/__init__.py):
    winograd_conv3x3_forward_<impl>(x, w, padding) -> y
    winograd_conv3x3_input_grad_<impl>(gy, w, x_shape, padding) -> gx
    winograd_conv3x3_weight_grad_<impl>(x, gy, padding) -> gw
x: (N, C, H, W), w: (C_out, C, 3, 3), gy: (N, C_out, OH, OW), padding: (PH, PW).
The references take m (2 or 4) as well; numba computes F(4x4), cupy F(2x2).
The numba versions work through the batch a few images at a time, the chunks side by
side on the worker threads (kernels/_chunks.py); the cupy versions take the whole batch.
Both gradients start from the same gM = A gY A^T, so the numba path makes them in one
call, winograd_conv3x3_backward_numba (the two single-gradient functions are that call
asked for one), each chunk's gM made once and used twice while it is in cache.
Step into the numba loops with NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import numpy as np

from . import _chunks, _cuda
from ._jit import inline_jit, serial_jit

B_T = np.array([[1, 0, -1, 0],
                [0, 1, 1, 0],
                [0, -1, 1, 0],
                [0, 1, 0, -1]], dtype=np.float64)  # (4, 4) input transform: V = B^T d B
G = np.array([[1, 0, 0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0, 0, 1]], dtype=np.float64)  # (4, 3) kernel transform: U = G g G^T
A_T = np.array([[1, 1, 1, 0],
                [0, 1, -1, -1]], dtype=np.float64)  # (2, 4) output transform: Y = A^T M A

# F(4x4, 3x3), the numba path's: 4x4 outputs from 6x6 tiles (the points 0, 1, -1, 2, -2 and
# infinity, Lavin & Gray's choice), 36 products for 16 outputs instead of F(2x2)'s 16 for 4.
B_T4 = np.array([[4, 0, -5, 0, 1, 0],
                 [0, -4, -4, 1, 1, 0],
                 [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0],
                 [0, 2, -1, -2, 1, 0],
                 [0, 4, 0, -5, 0, 1]], dtype=np.float64)  # (6, 6)
G4 = np.array([[1 / 4, 0, 0],
               [-1 / 6, -1 / 6, -1 / 6],
               [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6],
               [1 / 24, -1 / 12, 1 / 6],
               [0, 0, 1]], dtype=np.float64)  # (6, 3)
A_T4 = np.array([[1, 1, 1, 1, 1, 0],
                 [0, 1, -1, 2, -2, 0],
                 [0, 1, 1, 4, 4, 0],
                 [0, 1, -1, 8, -8, 1]], dtype=np.float64)  # (4, 6)

MATRICES = {2: (B_T, G, A_T), 4: (B_T4, G4, A_T4)}  # output tile size m -> (B^T, G, A^T); tiles are (m+2)x(m+2)


def winograd_applies(w_shape, stride, dilation, groups) -> bool:
    """Whether these kernels compute this convolution: a 3x3 kernel, stride 1, dilation 1,
    one group (any padding).

    >>> winograd_applies((64, 64, 3, 3), (1, 1), (1, 1), 1)
    True
    >>> winograd_applies((64, 64, 3, 3), (2, 2), (1, 1), 1)
    False
    """
    return tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and groups == 1


def winograd_sizes(H, W, padding, m: int = 2) -> tuple[int, int, int, int]:
    """(OH, OW, TH, TW): output size and tiles per image of a 3x3 stride-1 convolution.

    OH = H + 2*PH - 2, TH = ceil(OH / m) for m x m output tiles, and likewise for W.

    >>> winograd_sizes(32, 32, (1, 1))
    (32, 32, 16, 16)
    >>> winograd_sizes(7, 5, (0, 1))
    (5, 5, 3, 3)
    """
    PH, PW = padding
    OH, OW = H + 2 * PH - 2, W + 2 * PW - 2
    if OH < 1 or OW < 1 or PH < 0 or PW < 0:
        raise ValueError(f"winograd: a 3x3 kernel does not fit input {H}x{W} padded by ({PH}, {PW})")
    return OH, OW, -(-OH // m), -(-OW // m)


def _check_shapes(x_shape, w_shape, y_shape=None, padding=(0, 0)) -> None:
    if len(w_shape) != 4 or tuple(w_shape[2:]) != (3, 3) or x_shape[1] != w_shape[1]:
        raise ValueError(f"winograd: need w (C_out, C, 3, 3) for x {tuple(x_shape)}, got w {tuple(w_shape)}")
    if y_shape is not None:
        OH, OW = winograd_sizes(x_shape[2], x_shape[3], padding)[:2]
        want = (x_shape[0], w_shape[0], OH, OW)
        if tuple(y_shape) != want:
            raise ValueError(f"winograd: gy must be {want} for x {tuple(x_shape)}, padding {padding}, "
                             f"got {tuple(y_shape)}")


# ----------------------------------------------------------------------------------------
# NumPy reference: whole batch, the transforms as products with the named matrices.
# ----------------------------------------------------------------------------------------


def _tiles_reference(x, padding, TH, TW, m=2):
    """The input windows of every tile, (m+2)x(m+2), m apart.   x: (N, C, H, W) -> d: (m+2, m+2, C, N, TH, TW)

    d[a, b, c, n, th, tw] = x padded, at row m*th + a, column m*tw + b."""
    N, C, H, W = x.shape
    PH, PW = padding
    k = m + 2  # the window size
    # pad by P, plus zeros at the bottom/right so that the last tile's window exists
    extra_h, extra_w = m * TH + 2 - (H + 2 * PH), m * TW + 2 - (W + 2 * PW)
    x_padded = np.pad(x, ((0, 0), (0, 0), (PH, PH + extra_h), (PW, PW + extra_w)))  # (N, C, m*TH+2, m*TW+2)
    d = np.empty((k, k, C, N, TH, TW), dtype=x.dtype)
    for a in range(k):
        for b in range(k):
            # window offset (a, b) of every tile: padded rows a, a+m, ..., columns b, b+m, ...
            d[a, b] = x_padded[:, :, a : a + m * TH : m, b : b + m * TW : m].transpose(1, 0, 2, 3)
    return d


def _untile_reference(gd, x_shape, padding, TH, TW, m=2):
    """The adjoint of _tiles_reference: add every window entry back to its pixel, crop the padding.
    gd: (m+2, m+2, C, N, TH, TW) -> gx: (N, C, H, W)"""
    N, C, H, W = x_shape
    PH, PW = padding
    gx_padded = np.zeros((N, C, m * TH + 2, m * TW + 2), dtype=gd.dtype)
    for a in range(m + 2):
        for b in range(m + 2):
            # += : windows overlap, a pixel gets the entries of up to 4 tiles
            gx_padded[:, :, a : a + m * TH : m, b : b + m * TW : m] += gd[a, b].transpose(1, 0, 2, 3)
    return np.ascontiguousarray(gx_padded[:, :, PH : PH + H, PW : PW + W])


def _input_transform_reference(x, padding, m=2):
    """V = B^T d B for every tile.   x: (N, C, H, W) -> V: ((m+2)^2, C, T)"""
    N, C, H, W = x.shape
    _, _, TH, TW = winograd_sizes(H, W, padding, m)
    d = _tiles_reference(x, padding, TH, TW, m)  # (m+2, m+2, C, N, TH, TW)
    B_t = MATRICES[m][0].astype(x.dtype)
    V = np.einsum("ia,jb,abcnhw->ijcnhw", B_t, B_t, d, optimize=True)  # V[i, j] = sum_ab B^T[i, a] d[a, b] B[b, j]
    return V.reshape((m + 2) ** 2, C, N * TH * TW)


def _weight_transform_reference(w, m=2):
    """U = G g G^T for every (c_out, c).   w: (C_out, C, 3, 3) -> U: ((m+2)^2, C_out, C)"""
    C_out, C = w.shape[:2]
    G_ = MATRICES[m][1].astype(w.dtype)
    return np.einsum("ia,jb,ocab->ijoc", G_, G_, w, optimize=True).reshape((m + 2) ** 2, C_out, C)  # U = G g G^T


def _output_grad_transform_reference(gy, TH, TW, m=2):
    """gM = A gY A^T for every tile, gY = 0 where the last tile is cropped.   gy: (N, C_out, OH, OW) -> ((m+2)^2, C_out, T)"""
    N, C_out, OH, OW = gy.shape
    gy_padded = np.zeros((N, C_out, m * TH, m * TW), dtype=gy.dtype)
    gy_padded[:, :, :OH, :OW] = gy
    gY = gy_padded.reshape(N, C_out, TH, m, TW, m).transpose(3, 5, 1, 0, 2, 4)  # (m, m, C_out, N, TH, TW)
    A_t = MATRICES[m][2].astype(gy.dtype)
    gM = np.einsum("ki,lj,klonhw->ijonhw", A_t, A_t, gY, optimize=True)  # gM = A gY A^T
    return gM.reshape((m + 2) ** 2, C_out, N * TH * TW)


def winograd_conv3x3_forward_reference(x, w, padding, m=2):
    """y = conv2d(x, w), 3x3, stride 1, zero padding (PH, PW), with F(m x m, 3x3) (m = 2 or 4).

    x: (N, C, H, W)   w: (C_out, C, 3, 3)   returns y: (N, C_out, OH, OW)

    >>> x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3))
    >>> winograd_conv3x3_forward_reference(x, w, (0, 0))[0, 0]   # each output sums 9 ones
    array([[9., 9.],
           [9., 9.]])
    """
    N, _, H, W = x.shape
    _check_shapes(x.shape, w.shape)
    C_out = w.shape[0]
    OH, OW, TH, TW = winograd_sizes(H, W, padding, m)
    V = _input_transform_reference(x, padding, m)  # V = B^T d B           ((m+2)^2, C, T)
    U = _weight_transform_reference(w.astype(x.dtype), m)  # U = G g G^T   ((m+2)^2, C_out, C)
    M = U @ V  # M[xi] = U[xi] @ V[xi], one GEMM per tile position xi    ((m+2)^2, C_out, T)
    M = M.reshape(m + 2, m + 2, C_out, N, TH, TW)
    A_t = MATRICES[m][2].astype(x.dtype)
    Y = np.einsum("ki,lj,ijonhw->klonhw", A_t, A_t, M, optimize=True)  # Y = A^T M A   (m, m, C_out, N, TH, TW)
    y = Y.transpose(3, 2, 4, 0, 5, 1).reshape(N, C_out, m * TH, m * TW)  # output (m*th + k, m*tw + l)
    return np.ascontiguousarray(y[:, :, :OH, :OW])  # drop what the last tiles stick out


def winograd_conv3x3_input_grad_reference(gy, w, x_shape, padding, m=2):
    """gx, the gradient of sum(gy * conv2d(x, w)) with respect to x.

    gy: (N, C_out, OH, OW)   w: (C_out, C, 3, 3)   x_shape: (N, C, H, W)   returns gx: x_shape"""
    N, C, H, W = x_shape
    _check_shapes(x_shape, w.shape, gy.shape, padding)
    _, _, TH, TW = winograd_sizes(H, W, padding, m)
    gM = _output_grad_transform_reference(gy, TH, TW, m)  # gM = A gY A^T          ((m+2)^2, C_out, T)
    U = _weight_transform_reference(w.astype(gy.dtype), m)  # U = G g G^T          ((m+2)^2, C_out, C)
    gV = U.transpose(0, 2, 1) @ gM  # gV[xi] = U[xi]^T @ gM[xi]                     ((m+2)^2, C, T)
    B_t = MATRICES[m][0].astype(gy.dtype)
    gd = np.einsum("ia,jb,ijct->abct", B_t, B_t, gV.reshape(m + 2, m + 2, C, -1), optimize=True)  # gd = B gV B^T
    return _untile_reference(gd.reshape(m + 2, m + 2, C, N, TH, TW), x_shape, padding, TH, TW, m)


def winograd_conv3x3_weight_grad_reference(x, gy, padding, m=2):
    """gw, the gradient of sum(gy * conv2d(x, w)) with respect to w.

    x: (N, C, H, W)   gy: (N, C_out, OH, OW)   returns gw: (C_out, C, 3, 3)"""
    _, C, H, W = x.shape
    C_out = gy.shape[1]
    _check_shapes(x.shape, (C_out, C, 3, 3), gy.shape, padding)
    _, _, TH, TW = winograd_sizes(H, W, padding, m)
    V = _input_transform_reference(x, padding, m)  # V = B^T d B                    ((m+2)^2, C, T)
    gM = _output_grad_transform_reference(gy.astype(x.dtype), TH, TW, m)  # gM = A gY A^T   ((m+2)^2, C_out, T)
    gU = gM @ V.transpose(0, 2, 1)  # gU[xi] = gM[xi] @ V[xi]^T, summed over tiles     ((m+2)^2, C_out, C)
    G_ = MATRICES[m][1].astype(x.dtype)
    return np.einsum("ia,jb,ijoc->ocab", G_, G_, gU.reshape(m + 2, m + 2, C_out, C), optimize=True)  # gw = G^T gU G


# ----------------------------------------------------------------------------------------
# Numba: F(4x4, 3x3) -- each 6x6 tile makes 4x4 outputs, so 36 GEMMs make 16 outputs a tile
# where F(2x2)'s 16 make 4: measured 20-30% less time per layer at 16-64 channels (docs/fast.md),
# most of it in the GEMMs, which do 0.56x the work. The price is rounding: F(4x4)'s matrices
# hold 4, 5, 8 and 1/6, and float32 results are off by 4e-6 to 8e-6 of the largest output
# (F(2x2): 2e-7 to 6e-7), far below what training notices. The numba versions compute
# winograd_conv3x3_*_reference(..., m=4), chunk by chunk; the transforms are explicit loops
# (jitted at the bottom of this file), the GEMMs one stacked numpy matmul.
#
# Each 2-D transform is a 1-D one applied down every column of the tile, then along every
# row. The 1-D transforms are the small functions below, written out with only the nonzero
# terms (d, v, m: 6 entries; g, y: 3 and 4); the constants are float32, so that float32 data
# stays float32 (a Python 4 or 0.5 would make numba compute in float64).
# ----------------------------------------------------------------------------------------

_2, _4, _5, _8 = np.float32(2), np.float32(4), np.float32(5), np.float32(8)


def _bt_1d(d0, d1, d2, d3, d4, d5):
    """B^T d (6 -> 6), the input transform."""
    return (_4 * d0 - _5 * d2 + d4, (d3 + d4) - _4 * (d1 + d2), (d4 - d3) + _4 * (d1 - d2),
            (d4 - d2) + _2 * (d3 - d1), (d4 - d2) - _2 * (d3 - d1), _4 * d1 - _5 * d3 + d5)


def _b_1d(v0, v1, v2, v3, v4, v5):
    """B v (6 -> 6), its transpose, for the input gradient."""
    return (_4 * v0, _4 * (v2 - v1) + _2 * (v4 - v3) + _4 * v5, -_5 * v0 - _4 * (v1 + v2) - (v3 + v4),
            (v1 - v2) + _2 * (v3 - v4) - _5 * v5, v0 + v1 + v2 + v3 + v4, v5)


def _at_1d(m0, m1, m2, m3, m4, m5):
    """A^T m (6 -> 4), the output transform."""
    return (m0 + (m1 + m2) + (m3 + m4), (m1 - m2) + _2 * (m3 - m4), (m1 + m2) + _4 * (m3 + m4),
            (m1 - m2) + _8 * (m3 - m4) + m5)


def _a_1d(y0, y1, y2, y3):
    """A y (4 -> 6), its transpose, for the output gradient."""
    return (y0, y0 + y1 + y2 + y3, y0 - y1 + y2 - y3, y0 + _2 * y1 + _4 * y2 + _8 * y3,
            y0 - _2 * y1 + _4 * y2 - _8 * y3, y3)


def _g_1d(g0, g1, g2):
    """G g (3 -> 6), the weight transform (in float64: w is small, and 1/6 is not a float32)."""
    return (g0 / 4, -(g0 + g1 + g2) / 6, -(g0 - g1 + g2) / 6, g0 / 24 + g1 / 12 + g2 / 6,
            g0 / 24 - g1 / 12 + g2 / 6, g2)


def _gt_1d(u0, u1, u2, u3, u4, u5):
    """G^T u (6 -> 3), its transpose, for the weight gradient (in float64 too)."""
    return (u0 / 4 - (u1 + u2) / 6 + (u3 + u4) / 24, (u2 - u1) / 6 + (u3 - u4) / 12,
            (u3 + u4 - u1 - u2) / 6 + u5)


def _weight_transform_loops(w, U):
    """w: (C_out, C, 3, 3) float64; U: (36, C_out, C), written in full: U[6*i + j, o, c] = (G g G^T)[i, j]."""
    C_out, C = w.shape[0], w.shape[1]
    for o in range(C_out):
        for c in range(C):
            g = w[o, c]  # one 3x3 kernel (a view)
            # G g, down each column b: e_b[i] = (G g)[i, b]
            e0, e1, e2 = _g_1d(g[0, 0], g[1, 0], g[2, 0]), _g_1d(g[0, 1], g[1, 1], g[2, 1]), _g_1d(g[0, 2], g[1, 2], g[2, 2])
            for i in range(6):  # (G g) G^T, along each row i
                row = _g_1d(e0[i], e1[i], e2[i])
                for j in range(6):
                    U[6 * i + j, o, c] = row[j]
    return U


def _weight_grad_transform_loops(gU, gw):
    """gU: (36, C_out, C) float64; gw: (C_out, C, 3, 3), written in full: gw[o, c] = G^T gU[:, o, c] G."""
    C_out, C = gw.shape[0], gw.shape[1]
    for o in range(C_out):
        for c in range(C):
            # G^T gU, down each column j: e_j[a] = (G^T gU)[a, j]
            e0 = _gt_1d(gU[0, o, c], gU[6, o, c], gU[12, o, c], gU[18, o, c], gU[24, o, c], gU[30, o, c])
            e1 = _gt_1d(gU[1, o, c], gU[7, o, c], gU[13, o, c], gU[19, o, c], gU[25, o, c], gU[31, o, c])
            e2 = _gt_1d(gU[2, o, c], gU[8, o, c], gU[14, o, c], gU[20, o, c], gU[26, o, c], gU[32, o, c])
            e3 = _gt_1d(gU[3, o, c], gU[9, o, c], gU[15, o, c], gU[21, o, c], gU[27, o, c], gU[33, o, c])
            e4 = _gt_1d(gU[4, o, c], gU[10, o, c], gU[16, o, c], gU[22, o, c], gU[28, o, c], gU[34, o, c])
            e5 = _gt_1d(gU[5, o, c], gU[11, o, c], gU[17, o, c], gU[23, o, c], gU[29, o, c], gU[35, o, c])
            for a in range(3):  # (G^T gU) G, along each row a
                row = _gt_1d(e0[a], e1[a], e2[a], e3[a], e4[a], e5[a])
                for b in range(3):
                    gw[o, c, a, b] = row[b]
    return gw


def _input_transform_loops(x, V, PH, PW, TH, TW):
    """x: (n, C, H, W) contiguous; V: (36, C, n*TH*TW), written in full:
    V[6*i + j, c, t] = (B^T d B)[i, j], d the 6x6 window of tile t in plane c
    (padded rows 4*th .. 4*th+5, columns 4*tw .. 4*tw+5).

    Each plane is first copied into a zero-padded scratch plane, so that the tile loop
    reads its windows with no bounds checks; the innermost loop walks the tiles of a row,
    so each of the 36 rows of V is written in order."""
    n_images, C, H, W = x.shape
    plane = np.zeros((4 * TH + 2, 4 * TW + 2), dtype=x.dtype)  # the padding stays 0 from plane to plane
    for n in range(n_images):
        for c in range(C):
            plane[PH : PH + H, PW : PW + W] = x[n, c]
            for th in range(TH):
                for tw in range(TW):
                    t = (n * TH + th) * TW + tw
                    d = plane[4 * th : 4 * th + 6, 4 * tw : 4 * tw + 6]  # the tile's window (a view)
                    # B^T d, down each column b: e_b[i] = (B^T d)[i, b]
                    e0 = _bt_1d(d[0, 0], d[1, 0], d[2, 0], d[3, 0], d[4, 0], d[5, 0])
                    e1 = _bt_1d(d[0, 1], d[1, 1], d[2, 1], d[3, 1], d[4, 1], d[5, 1])
                    e2 = _bt_1d(d[0, 2], d[1, 2], d[2, 2], d[3, 2], d[4, 2], d[5, 2])
                    e3 = _bt_1d(d[0, 3], d[1, 3], d[2, 3], d[3, 3], d[4, 3], d[5, 3])
                    e4 = _bt_1d(d[0, 4], d[1, 4], d[2, 4], d[3, 4], d[4, 4], d[5, 4])
                    e5 = _bt_1d(d[0, 5], d[1, 5], d[2, 5], d[3, 5], d[4, 5], d[5, 5])
                    for i in range(6):  # (B^T d) B, along each row i
                        row = _bt_1d(e0[i], e1[i], e2[i], e3[i], e4[i], e5[i])
                        for j in range(6):
                            V[6 * i + j, c, t] = row[j]
    return V


def _output_transform_loops(M, y, TH, TW):
    """M: (36, C_out, n*TH*TW); y: (n, C_out, OH, OW), written in full: tile t's
    A^T M A (4x4) at rows 4*th .. 4*th+3 and columns 4*tw .. 4*tw+3, cropped to OH x OW."""
    n_images, C_out, OH, OW = y.shape
    for n in range(n_images):
        for o in range(C_out):
            for th in range(TH):
                for tw in range(TW):
                    t = (n * TH + th) * TW + tw
                    # A^T M, down each column j: e_j[k] = (A^T M)[k, j]
                    e0 = _at_1d(M[0, o, t], M[6, o, t], M[12, o, t], M[18, o, t], M[24, o, t], M[30, o, t])
                    e1 = _at_1d(M[1, o, t], M[7, o, t], M[13, o, t], M[19, o, t], M[25, o, t], M[31, o, t])
                    e2 = _at_1d(M[2, o, t], M[8, o, t], M[14, o, t], M[20, o, t], M[26, o, t], M[32, o, t])
                    e3 = _at_1d(M[3, o, t], M[9, o, t], M[15, o, t], M[21, o, t], M[27, o, t], M[33, o, t])
                    e4 = _at_1d(M[4, o, t], M[10, o, t], M[16, o, t], M[22, o, t], M[28, o, t], M[34, o, t])
                    e5 = _at_1d(M[5, o, t], M[11, o, t], M[17, o, t], M[23, o, t], M[29, o, t], M[35, o, t])
                    for k in range(4):  # (A^T M) A, along each row k; the last tiles may stick out
                        oh = 4 * th + k
                        if oh < OH:
                            row = _at_1d(e0[k], e1[k], e2[k], e3[k], e4[k], e5[k])
                            for l in range(4):
                                if 4 * tw + l < OW:
                                    y[n, o, oh, 4 * tw + l] = row[l]
    return y


def _output_grad_transform_loops(gy, gM, TH, TW):
    """gy: (n, C_out, OH, OW) contiguous; gM: (36, C_out, n*TH*TW), written in full:
    gM[6*i + j, o, t] = (A gY A^T)[i, j], gY tile t's 4x4 gradient (0 where cropped)."""
    n_images, C_out, OH, OW = gy.shape
    plane = np.zeros((4 * TH, 4 * TW), dtype=gy.dtype)  # gy of one plane; the cropped rows/columns stay 0
    for n in range(n_images):
        for o in range(C_out):
            plane[:OH, :OW] = gy[n, o]
            for th in range(TH):
                for tw in range(TW):
                    t = (n * TH + th) * TW + tw
                    g = plane[4 * th : 4 * th + 4, 4 * tw : 4 * tw + 4]  # the tile's gY (a view)
                    # A gY, down each column b: e_b[i] = (A gY)[i, b]
                    e0, e1 = _a_1d(g[0, 0], g[1, 0], g[2, 0], g[3, 0]), _a_1d(g[0, 1], g[1, 1], g[2, 1], g[3, 1])
                    e2, e3 = _a_1d(g[0, 2], g[1, 2], g[2, 2], g[3, 2]), _a_1d(g[0, 3], g[1, 3], g[2, 3], g[3, 3])
                    for i in range(6):  # (A gY) A^T, along each row i
                        row = _a_1d(e0[i], e1[i], e2[i], e3[i])
                        for j in range(6):
                            gM[6 * i + j, o, t] = row[j]
    return gM


def _input_grad_scatter_loops(gV, gx, PH, PW, TH, TW):
    """gV: (36, C, n*TH*TW); gx: (n, C, H, W), written in full.

    Per plane: each tile's B gV B^T (6x6, the gradient of its window) is added into a
    zeroed padded plane over the tile's window (windows overlap by 2 rows and columns, so
    a pixel gets the entries of up to 4 tiles); gx is that plane without its padding. A
    scatter, where the CUDA kernel gathers: here one thread owns a whole chunk of planes,
    so there are no races, and the tiles' fixed order gives the same sum every run."""
    n_images, C, H, W = gx.shape
    plane = np.empty((4 * TH + 2, 4 * TW + 2), dtype=gx.dtype)  # gx of one plane, padded
    for n in range(n_images):
        for c in range(C):
            plane[:, :] = 0
            for th in range(TH):
                for tw in range(TW):
                    t = (n * TH + th) * TW + tw
                    # B gV, down each column j: e_j[a] = (B gV)[a, j]
                    e0 = _b_1d(gV[0, c, t], gV[6, c, t], gV[12, c, t], gV[18, c, t], gV[24, c, t], gV[30, c, t])
                    e1 = _b_1d(gV[1, c, t], gV[7, c, t], gV[13, c, t], gV[19, c, t], gV[25, c, t], gV[31, c, t])
                    e2 = _b_1d(gV[2, c, t], gV[8, c, t], gV[14, c, t], gV[20, c, t], gV[26, c, t], gV[32, c, t])
                    e3 = _b_1d(gV[3, c, t], gV[9, c, t], gV[15, c, t], gV[21, c, t], gV[27, c, t], gV[33, c, t])
                    e4 = _b_1d(gV[4, c, t], gV[10, c, t], gV[16, c, t], gV[22, c, t], gV[28, c, t], gV[34, c, t])
                    e5 = _b_1d(gV[5, c, t], gV[11, c, t], gV[17, c, t], gV[23, c, t], gV[29, c, t], gV[35, c, t])
                    window = plane[4 * th : 4 * th + 6, 4 * tw : 4 * tw + 6]
                    for a in range(6):  # (B gV) B^T, along each row a, added into the window
                        row = _b_1d(e0[a], e1[a], e2[a], e3[a], e4[a], e5[a])
                        for b in range(6):
                            window[a, b] += row[b]
            gx[n, c] = plane[PH : PH + H, PW : PW + W]
    return gx


def winograd_chunks(n: int, C: int, C_out: int, TH: int, TW: int, itemsize: int) -> list[tuple[int, int]]:
    """Chunks of the batch for the numba versions, as many as a multiple of the CPU threads
    (see kernels/conv.py and kernels/_chunks.py), each of the most images such that

    - its two tile stacks (V and M, or gM and gV: 36*(C + C_out)*TH*TW entries an image)
      take at most half of `_chunks.workspace_bytes()`, so that the GEMMs find them in
      cache: measured 5-20% faster than the whole workspace at 16-64 channels (1 MiB of
      L2 cache per core on the test machine), the same at 128-256;
    - but it has at least max(C, C_out) tiles, so that the GEMMs' third matrix stack (U,
      or the gU each chunk of the weight gradient makes: 36*C_out*C entries) is no bigger
      than the tile stacks: with 512 channels at 4x4 the workspace alone made chunks of 32
      tiles, and reading U then took longer than the multiplications.
    """
    floats_per_image = 36 * (C + C_out) * TH * TW
    images_per_chunk = _chunks.workspace_bytes() // 2 // (floats_per_image * itemsize)
    enough_tiles = -(-max(C, C_out) // (TH * TW))  # ceil
    return _chunks.balanced_chunks(n, max(images_per_chunk, enough_tiles))


def tile_stack(rows: int, T: int, dtype) -> np.ndarray:
    """An empty (36, rows, T) array for V, M, gM or gV: 36 C-contiguous matrices (so the
    GEMMs read and write them in place) with one cache line of slack between them.

    Why the slack: a transform reads or writes one tile's 36 entries, one in each matrix.
    Back to back, those addresses are rows*T*itemsize apart -- usually a multiple of
    4 KiB (powers of two) -- so they fall in the same cache set and evict each other:
    the input transform ran 5x slower that way (measured, F(2x2), 16 channels at 32x32)."""
    size = rows * T
    storage = np.empty((36, size + 64 // np.dtype(dtype).itemsize), dtype=dtype)
    return storage[:, :size].reshape(36, rows, T)


def winograd_conv3x3_forward_numba(x, w, padding):
    """winograd_conv3x3_forward_reference(x, w, padding, m=4), chunk by chunk.   x: (N, C, H, W) -> y: (N, C_out, OH, OW)"""
    N, C, H, W = x.shape
    _check_shapes(x.shape, w.shape)
    C_out = w.shape[0]
    OH, OW, TH, TW = winograd_sizes(H, W, padding, 4)
    PH, PW = padding
    U = tile_stack(C_out, C, x.dtype)  # 36 matrices: the same cache trap as V's (tile_stack)
    _weight_transform_jit(w.astype(np.float64), U)  # U = G g G^T: (36, C_out, C)
    y = np.empty((N, C_out, OH, OW), dtype=x.dtype)

    def one_chunk(start: int, stop: int) -> None:
        V = tile_stack(C, (stop - start) * TH * TW, x.dtype)
        _input_transform_jit(np.ascontiguousarray(x[start:stop]), V, PH, PW, TH, TW)  # V = B^T d B
        M = np.matmul(U, V, out=tile_stack(C_out, V.shape[2], x.dtype))  # M[xi] = U[xi] @ V[xi]  (36, C_out, T_chunk)
        _output_transform_jit(M, y[start:stop], TH, TW)  # Y = A^T M A

    _chunks.map_chunks(one_chunk, winograd_chunks(N, C, C_out, TH, TW, x.itemsize))
    return y


def winograd_conv3x3_backward_numba(x, gy, w, padding, x_shape=None):
    """Both gradients at once, chunk by chunk: (gx, gw) of winograd_conv3x3_input_grad_reference
    and winograd_conv3x3_weight_grad_reference (m=4). Both start from gM = A gY A^T of the same
    chunk of gy, so it is made once, and is still in the cache when the second one reads it
    (measured on 2 cores, batch 128, 16-64 channels: 15-30% less time than one call each, benchmarks/bench_winograd.py).

    x: (N, C, H, W), or None for no gw (then x_shape gives gx's shape)   gy: (N, C_out, OH, OW)
    w: (C_out, C, 3, 3), or None for no gx.   Returns (gx, gw), None for the one not asked for."""
    N, C, H, W = x.shape if x is not None else x_shape
    C_out = gy.shape[1]
    _check_shapes((N, C, H, W), (C_out, C, 3, 3), gy.shape, padding)
    _, _, TH, TW = winograd_sizes(H, W, padding, 4)
    PH, PW = padding
    dtype = x.dtype if x is not None else gy.dtype  # the references' dtypes (the same two in a network)
    if w is not None:
        # U^T: (36, C, C_out), as the transform of w with its channel axes swapped, C-contiguous for the GEMM
        U_t = tile_stack(C, C_out, dtype)
        _weight_transform_jit(w.transpose(1, 0, 2, 3).astype(np.float64), U_t)
        gx = np.empty((N, C, H, W), dtype=dtype)

    def one_chunk(start: int, stop: int):
        T = (stop - start) * TH * TW
        gM = tile_stack(C_out, T, dtype)
        _output_grad_transform_jit(np.ascontiguousarray(gy[start:stop], dtype=dtype), gM, TH, TW)  # gM = A gY A^T
        tiles = tile_stack(C, T, dtype)  # gV, then V: one buffer for both
        if w is not None:
            np.matmul(U_t, gM, out=tiles)  # gV[xi] = U[xi]^T @ gM[xi]
            _input_grad_scatter_jit(tiles, gx[start:stop], PH, PW, TH, TW)  # gx = sum of B gV B^T over the windows
        if x is not None:
            _input_transform_jit(np.ascontiguousarray(x[start:stop]), tiles, PH, PW, TH, TW)  # V = B^T d B
            return gM @ tiles.transpose(0, 2, 1)  # gU[xi] = gM[xi] @ V[xi]^T over this chunk's tiles
        return None

    parts = _chunks.map_chunks(one_chunk, winograd_chunks(N, C, C_out, TH, TW, np.dtype(dtype).itemsize))
    if x is None:
        return gx, None
    gU_sum = parts[0]  # each chunk made a whole gU: added up in chunk order, the same every run
    for part in parts[1:]:
        gU_sum += part  # contiguous: a sum into a tile stack took NumPy's slow strided path (measured)
    gU = tile_stack(C_out, C, np.float64)  # the transform reads 36 entries at once (tile_stack)
    gU[...] = gU_sum
    gw = _weight_grad_transform_jit(gU, np.empty((C_out, C, 3, 3), dtype=dtype))  # gw = G^T gU G
    return (gx if w is not None else None), gw


def winograd_conv3x3_input_grad_numba(gy, w, x_shape, padding):
    """winograd_conv3x3_input_grad_reference (m=4), chunk by chunk (winograd_conv3x3_backward_numba, gx only).
    gy: (N, C_out, OH, OW) -> gx: x_shape"""
    return winograd_conv3x3_backward_numba(None, gy, w, padding, x_shape)[0]


def winograd_conv3x3_weight_grad_numba(x, gy, padding):
    """winograd_conv3x3_weight_grad_reference (m=4), chunk by chunk (winograd_conv3x3_backward_numba, gw only).
    x, gy -> gw: (C_out, C, 3, 3)"""
    return winograd_conv3x3_backward_numba(x, gy, None, padding)[1]


# ----------------------------------------------------------------------------------------
# CuPy: the transforms in CUDA C (one thread per tile, or per pixel for the gather), the
# 16 GEMMs as one cupy matmul, the whole batch at once: F(2x2), with the names of the
# numba loops (whose input-gradient scatter is a gather here).
# ----------------------------------------------------------------------------------------

_WEIGHT_TRANSFORM_CUDA = r"""
extern "C" __global__ void minires_winograd_weight_transform(const T* w, T* U, int C_out, int C)
{
    // one thread per kernel (o, c): U[4*i + j, o, c] = (G g G^T)[i, j]
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= (long long)C_out * C) return;
    const T* g = w + index * 9;  // w[o, c] (3x3); index = o*C + c
    long long plane = (long long)C_out * C;  // distance between U[xi] and U[xi + 1]
    T Gg[4][3];
    for (int b = 0; b < 3; b++) {  // G g: down each column b
        T g0 = g[b], g1 = g[3 + b], g2 = g[6 + b];
        Gg[0][b] = g0;
        Gg[1][b] = (g0 + g1 + g2) * (T)0.5;
        Gg[2][b] = (g0 - g1 + g2) * (T)0.5;
        Gg[3][b] = g2;
    }
    for (int i = 0; i < 4; i++) {  // (G g) G^T: along each row i
        T r0 = Gg[i][0], r1 = Gg[i][1], r2 = Gg[i][2];
        U[(4 * i + 0) * plane + index] = r0;
        U[(4 * i + 1) * plane + index] = (r0 + r1 + r2) * (T)0.5;
        U[(4 * i + 2) * plane + index] = (r0 - r1 + r2) * (T)0.5;
        U[(4 * i + 3) * plane + index] = r2;
    }
}
"""

_WEIGHT_GRAD_TRANSFORM_CUDA = r"""
extern "C" __global__ void minires_winograd_weight_grad_transform(const T* gU, T* gw, int C_out, int C)
{
    // one thread per kernel (o, c): gw[o, c] = G^T gU[:, o, c] G
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= (long long)C_out * C) return;
    long long plane = (long long)C_out * C;
    T Gt_gU[3][4];
    for (int j = 0; j < 4; j++) {  // G^T gU: down each column j
        T u0 = gU[j * plane + index], u1 = gU[(4 + j) * plane + index];
        T u2 = gU[(8 + j) * plane + index], u3 = gU[(12 + j) * plane + index];
        Gt_gU[0][j] = u0 + (u1 + u2) * (T)0.5;
        Gt_gU[1][j] = (u1 - u2) * (T)0.5;
        Gt_gU[2][j] = (u1 + u2) * (T)0.5 + u3;
    }
    T* g = gw + index * 9;
    for (int a = 0; a < 3; a++) {  // (G^T gU) G: along each row a
        T u0 = Gt_gU[a][0], u1 = Gt_gU[a][1], u2 = Gt_gU[a][2], u3 = Gt_gU[a][3];
        g[3 * a + 0] = u0 + (u1 + u2) * (T)0.5;
        g[3 * a + 1] = (u1 - u2) * (T)0.5;
        g[3 * a + 2] = (u1 + u2) * (T)0.5 + u3;
    }
}
"""

_INPUT_TRANSFORM_CUDA = r"""
extern "C" __global__ void minires_winograd_input_transform(
    const T* x, T* V, int N, int C, int H, int W, int PH, int PW, int TH, int TW)
{
    // one thread per (c, tile t), read as (c, n, th, tw): V[4*i + j, c, t] = (B^T d B)[i, j]
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long T_all = (long long)N * TH * TW;
    if (index >= (long long)C * T_all) return;
    long long t = index % T_all;
    int c = index / T_all;
    int tw = t % TW, th = (t / TW) % TH, n = t / ((long long)TH * TW);
    T d[4][4];  // the tile's window, zero in the padding
    for (int a = 0; a < 4; a++) {
        int h = 2 * th - PH + a;
        for (int b = 0; b < 4; b++) {
            int w = 2 * tw - PW + b;
            d[a][b] = (0 <= h && h < H && 0 <= w && w < W) ? x[(((long long)n * C + c) * H + h) * W + w] : (T)0;
        }
    }
    T Bt_d[4][4];
    for (int b = 0; b < 4; b++) {  // B^T d: down each column b
        Bt_d[0][b] = d[0][b] - d[2][b];
        Bt_d[1][b] = d[1][b] + d[2][b];
        Bt_d[2][b] = d[2][b] - d[1][b];
        Bt_d[3][b] = d[1][b] - d[3][b];
    }
    long long stride = (long long)C * T_all;  // distance between V[xi] and V[xi + 1]
    for (int i = 0; i < 4; i++) {  // (B^T d) B: along each row i
        T r0 = Bt_d[i][0], r1 = Bt_d[i][1], r2 = Bt_d[i][2], r3 = Bt_d[i][3];
        V[(4 * i + 0) * stride + index] = r0 - r2;
        V[(4 * i + 1) * stride + index] = r1 + r2;
        V[(4 * i + 2) * stride + index] = r2 - r1;
        V[(4 * i + 3) * stride + index] = r1 - r3;
    }
}
"""

_OUTPUT_TRANSFORM_CUDA = r"""
extern "C" __global__ void minires_winograd_output_transform(
    const T* M, T* y, int N, int C_out, int OH, int OW, int TH, int TW)
{
    // one thread per (n, o, th, tw): tile t's A^T M A (2x2), cropped to OH x OW
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= (long long)N * C_out * TH * TW) return;
    int tw = index % TW, th = (index / TW) % TH;
    int o = (index / ((long long)TH * TW)) % C_out;
    int n = index / ((long long)C_out * TH * TW);
    long long T_all = (long long)N * TH * TW;
    long long t = ((long long)n * TH + th) * TW + tw;
    long long stride = (long long)C_out * T_all;  // distance between M[xi] and M[xi + 1]
    const T* m = M + (long long)o * T_all + t;
    T At_M[2][4];
    for (int j = 0; j < 4; j++) {  // A^T M: down each column j
        T m0 = m[j * stride], m1 = m[(4 + j) * stride], m2 = m[(8 + j) * stride], m3 = m[(12 + j) * stride];
        At_M[0][j] = m0 + m1 + m2;
        At_M[1][j] = m1 - m2 - m3;
    }
    for (int k = 0; k < 2; k++) {  // (A^T M) A: along each row k
        int oh = 2 * th + k;
        if (oh >= OH) continue;  // the last tile row may stick out by one
        T* y_row = y + (((long long)n * C_out + o) * OH + oh) * OW;
        y_row[2 * tw] = At_M[k][0] + At_M[k][1] + At_M[k][2];
        if (2 * tw + 1 < OW) y_row[2 * tw + 1] = At_M[k][1] - At_M[k][2] - At_M[k][3];
    }
}
"""

_OUTPUT_GRAD_TRANSFORM_CUDA = r"""
extern "C" __global__ void minires_winograd_output_grad_transform(
    const T* gy, T* gM, int N, int C_out, int OH, int OW, int TH, int TW)
{
    // one thread per (o, tile t), read as (o, n, th, tw): gM[4*i + j, o, t] = (A gY A^T)[i, j]
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long T_all = (long long)N * TH * TW;
    if (index >= (long long)C_out * T_all) return;
    long long t = index % T_all;
    int o = index / T_all;
    int tw = t % TW, th = (t / TW) % TH, n = t / ((long long)TH * TW);
    T gY[2][2];  // the tile's output gradient, 0 where the tile is cropped
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < 2; l++) {
            int oh = 2 * th + k, ow = 2 * tw + l;
            gY[k][l] = (oh < OH && ow < OW) ? gy[(((long long)n * C_out + o) * OH + oh) * OW + ow] : (T)0;
        }
    T A_gY[4][2];
    for (int b = 0; b < 2; b++) {  // A gY: down each column b
        A_gY[0][b] = gY[0][b];
        A_gY[1][b] = gY[0][b] + gY[1][b];
        A_gY[2][b] = gY[0][b] - gY[1][b];
        A_gY[3][b] = -gY[1][b];
    }
    long long stride = (long long)C_out * T_all;
    for (int i = 0; i < 4; i++) {  // (A gY) A^T: along each row i
        T r0 = A_gY[i][0], r1 = A_gY[i][1];
        gM[(4 * i + 0) * stride + index] = r0;
        gM[(4 * i + 1) * stride + index] = r0 + r1;
        gM[(4 * i + 2) * stride + index] = r0 - r1;
        gM[(4 * i + 3) * stride + index] = -r1;
    }
}
"""

_INPUT_GRAD_GATHER_CUDA = r"""
__device__ T apply_B_row(int a, T v0, T v1, T v2, T v3)
{
    // (B v)[a], B = (B^T)^T: only the nonzero terms, so NaN and inf go where they should
    if (a == 0) return v0;
    if (a == 1) return v1 - v2 + v3;
    if (a == 2) return v1 + v2 - v0;
    return -v3;
}

extern "C" __global__ void minires_winograd_input_grad_gather(
    const T* gV, T* gx, int N, int C, int H, int W, int PH, int PW, int TH, int TW)
{
    // one thread per pixel (n, c, h, w): it sums (B gV B^T)[a, b] of the tiles whose window covers it
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= (long long)N * C * H * W) return;
    int w = index % W, h = (index / W) % H;
    int c = (index / ((long long)H * W)) % C;
    int n = index / ((long long)C * H * W);
    int r = h + PH, q = w + PW;  // the padded row and column
    long long T_all = (long long)N * TH * TW;
    long long stride = (long long)C * T_all;  // distance between gV[xi] and gV[xi + 1]
    T total = 0;
    for (int row_step = 0; row_step < 2; row_step++) {  // tile r/2 (window row r%2), tile r/2 - 1 (row r%2 + 2)
        int th = r / 2 - row_step, a = r % 2 + 2 * row_step;
        if (th < 0 || th >= TH) continue;
        for (int column_step = 0; column_step < 2; column_step++) {
            int tw = q / 2 - column_step, b = q % 2 + 2 * column_step;
            if (tw < 0 || tw >= TW) continue;
            const T* v = gV + (long long)c * T_all + ((long long)n * TH + th) * TW + tw;
            T B_gV[4];  // row a of B gV
            for (int j = 0; j < 4; j++)
                B_gV[j] = apply_B_row(a, v[j * stride], v[(4 + j) * stride], v[(8 + j) * stride], v[(12 + j) * stride]);
            total += apply_B_row(b, B_gV[0], B_gV[1], B_gV[2], B_gV[3]);  // (B gV B^T)[a, b]
        }
    }
    gx[index] = total;
}
"""


def _weight_transform_cupy(cp, w, dtype):
    C_out, C = w.shape[:2]
    U = cp.empty((16, C_out, C), dtype=dtype)
    _cuda.launch(_WEIGHT_TRANSFORM_CUDA, "minires_winograd_weight_transform", dtype, C_out * C,
            cp.ascontiguousarray(w, dtype=dtype), U, *_cuda.int_args(C_out, C))
    return U  # U = G g G^T   (16, C_out, C)


def winograd_conv3x3_forward_cupy(x, w, padding):
    """winograd_conv3x3_forward_reference on the GPU.   x: (N, C, H, W) cupy -> y: (N, C_out, OH, OW) cupy"""
    cp = _cuda.cupy()
    N, C, H, W = x.shape
    _check_shapes(x.shape, w.shape)
    C_out = w.shape[0]
    OH, OW, TH, TW = winograd_sizes(H, W, padding)
    PH, PW = padding
    U = _weight_transform_cupy(cp, w, x.dtype)
    V = cp.empty((16, C, N * TH * TW), dtype=x.dtype)
    _cuda.launch(_INPUT_TRANSFORM_CUDA, "minires_winograd_input_transform", x.dtype, V.size // 16,
            cp.ascontiguousarray(x), V, *_cuda.int_args(N, C, H, W, PH, PW, TH, TW))  # V = B^T d B
    M = cp.ascontiguousarray(cp.matmul(U, V))  # M[xi] = U[xi] @ V[xi]   (16, C_out, T)
    y = cp.empty((N, C_out, OH, OW), dtype=x.dtype)
    _cuda.launch(_OUTPUT_TRANSFORM_CUDA, "minires_winograd_output_transform", x.dtype, M.size // 16,
            M, y, *_cuda.int_args(N, C_out, OH, OW, TH, TW))  # Y = A^T M A
    return y


def _output_grad_transform_cupy(cp, gy, TH, TW):
    N, C_out, OH, OW = gy.shape
    gM = cp.empty((16, C_out, N * TH * TW), dtype=gy.dtype)
    _cuda.launch(_OUTPUT_GRAD_TRANSFORM_CUDA, "minires_winograd_output_grad_transform", gy.dtype, gM.size // 16,
            cp.ascontiguousarray(gy), gM, *_cuda.int_args(N, C_out, OH, OW, TH, TW))
    return gM  # gM = A gY A^T   (16, C_out, T)


def winograd_conv3x3_input_grad_cupy(gy, w, x_shape, padding):
    """winograd_conv3x3_input_grad_reference on the GPU.   gy cupy -> gx: x_shape cupy"""
    cp = _cuda.cupy()
    N, C, H, W = x_shape
    _check_shapes(x_shape, w.shape, gy.shape, padding)
    _, _, TH, TW = winograd_sizes(H, W, padding)
    PH, PW = padding
    U = _weight_transform_cupy(cp, w, gy.dtype)
    gM = _output_grad_transform_cupy(cp, gy, TH, TW)
    gV = cp.ascontiguousarray(cp.matmul(U.transpose(0, 2, 1), gM))  # gV[xi] = U[xi]^T @ gM[xi]   (16, C, T)
    gx = cp.empty((N, C, H, W), dtype=gy.dtype)
    _cuda.launch(_INPUT_GRAD_GATHER_CUDA, "minires_winograd_input_grad_gather", gy.dtype, gx.size,
            gV, gx, *_cuda.int_args(N, C, H, W, PH, PW, TH, TW))  # gx = sum of B gV B^T over covering tiles
    return gx


def winograd_conv3x3_weight_grad_cupy(x, gy, padding):
    """winograd_conv3x3_weight_grad_reference on the GPU.   x, gy cupy -> gw: (C_out, C, 3, 3) cupy"""
    cp = _cuda.cupy()
    N, C, H, W = x.shape
    C_out = gy.shape[1]
    _check_shapes(x.shape, (C_out, C, 3, 3), gy.shape, padding)
    _, _, TH, TW = winograd_sizes(H, W, padding)
    PH, PW = padding
    V = cp.empty((16, C, N * TH * TW), dtype=x.dtype)
    _cuda.launch(_INPUT_TRANSFORM_CUDA, "minires_winograd_input_transform", x.dtype, V.size // 16,
            cp.ascontiguousarray(x), V, *_cuda.int_args(N, C, H, W, PH, PW, TH, TW))  # V = B^T d B
    gM = _output_grad_transform_cupy(cp, gy.astype(x.dtype, copy=False), TH, TW)
    gU = cp.ascontiguousarray(cp.matmul(gM, V.transpose(0, 2, 1)))  # gU[xi] = gM[xi] @ V[xi]^T   (16, C_out, C)
    gw = cp.empty((C_out, C, 3, 3), dtype=x.dtype)
    _cuda.launch(_WEIGHT_GRAD_TRANSFORM_CUDA, "minires_winograd_weight_grad_transform", x.dtype, C_out * C,
            gU, gw, *_cuda.int_args(C_out, C))  # gw = G^T gU G
    return gw


# Jit the loops last, so the plain Python functions above are what a reader (and pdb) sees.
# The 1-D transforms are inlined into the loops that call them; the loops run on one
# thread with no GIL (serial_jit): the chunks already run side by side, one per core.
# The tile transforms may fuse a * k + b into one FMA (serial_jit's fused_multiply_add).
_bt_1d, _b_1d, _at_1d, _a_1d, _g_1d, _gt_1d = (inline_jit(f) for f in (_bt_1d, _b_1d, _at_1d, _a_1d, _g_1d, _gt_1d))
_weight_transform_jit = serial_jit(_weight_transform_loops)
_weight_grad_transform_jit = serial_jit(_weight_grad_transform_loops)
_input_transform_jit = serial_jit(_input_transform_loops, fused_multiply_add=True)
_output_transform_jit = serial_jit(_output_transform_loops, fused_multiply_add=True)
_output_grad_transform_jit = serial_jit(_output_grad_transform_loops, fused_multiply_add=True)
_input_grad_scatter_jit = serial_jit(_input_grad_scatter_loops, fused_multiply_add=True)
