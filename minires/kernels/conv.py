"""2-D convolution as im2col + one matrix product per group: the kernels under ops/conv.py.

Notation (the same letters in every kernel file):
    N batch, C input channels, H, W input size, C_out output channels, G groups,
    C_g = C / G input channels per group, KH, KW kernel size, OH, OW output size,
    K = C_g*KH*KW (one patch of one group), L = N*OH*OW (output positions)

The four equations (docs/conv.md derives them), with col = im2col(x): (G, K, L):
    y    = w @ col              w: (G, C_out/G, K)  ->  y: (G, C_out/G, L)
    gw   = gy @ col^T                                   gw: (G, C_out/G, K)
    gcol = w^T @ gy,  gx = col2im(gcol)                 gx: (N, C, H, W), col2im the adjoint of im2col

Three implementations with one signature each (kernels/__init__.py):
    conv2d_forward_<impl>(x, w, stride, padding, dilation, groups) -> y            (N, C_out, OH, OW)
    conv2d_weight_grad_<impl>(x, gy, w_shape, stride, padding, dilation, groups) -> gw   (C_out, C_g, KH, KW)
    conv2d_input_grad_<impl>(gy, w, x_shape, stride, padding, dilation, groups) -> gx    (N, C, H, W)
stride, padding, dilation are (int, int) pairs. The public `conv2d_forward` and `conv2d_backward`
(both gradients in one call) pick the implementation.

- `_reference`: the equations as written, on the whole batch at once (NumPy).
- `_numba`: the same products, made fast. The column buffer is KH*KW times bigger than x,
  so it is built for a few images at a time (a chunk, at most `_chunks.workspace_bytes()`):
  a chunk's columns are still in the CPU's cache when the matrix product reads them, and
  the weight gradient rebuilds them chunk by chunk instead of keeping them from the
  forward. Measured on a 2-core machine, that was faster than one whole-batch buffer
  (fresh memory costs page faults and cache misses; rebuilding a chunk in cache is
  cheap), and a convolution's memory stays bounded whatever the batch size. The chunks
  run side by side, one per worker thread (kernels/_chunks.py). With stride 1 the input
  gradient is itself a convolution (docs/conv.md): gx = conv2d(gy, w flipped in KH and
  KW with C and C_out swapped, padding D*(K-1) - P), faster than gcol + col2im.
- `_cupy`: the equations on the whole batch, with the CUDA im2col/col2im and cuBLAS.

For 3x3 stride-1 convolutions with 16 or more channels the numba path is Winograd
F(4x4, 3x3) instead (kernels/winograd.py, `winograd_pays`), tested against the reference
like the rest.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from . import _chunks, winograd
from .im2col import (
    _col2im_jit,
    _im2col_jit,
    col2im_cupy,
    col2im_reference,
    conv_output_size,
    hit_table,
    im2col_cupy,
    im2col_reference,
)


def conv2d_forward(x, w, stride, padding, dilation, groups):
    """y = conv2d(x, w), no bias.   x: (N, C, H, W)  w: (C_out, C/G, KH, KW) -> y: (N, C_out, OH, OW)"""
    implementation = backend.choose(x, conv2d_forward_reference, conv2d_forward_numba, conv2d_forward_cupy)
    out_hw = conv_output_size(*x.shape[2:], w.shape[2:], stride, padding, dilation)
    if implementation is conv2d_forward_numba and winograd_pays(w.shape, stride, dilation, groups, out_hw):
        return winograd.winograd_conv3x3_forward_numba(x, w, padding)
    return implementation(x, w, stride, padding, dilation, groups)


def conv2d_backward(x, gy, w, stride, padding, dilation, groups, need_gx=True, need_gw=True):
    """(gx, gw), None for a gradient not needed:
        gx = col2im(w^T @ gy)    gx: (N, C, H, W)
        gw = gy @ col^T          gw: (C_out, C/G, KH, KW)
    x: (N, C, H, W)  gy: (N, C_out, OH, OW)  w: (C_out, C/G, KH, KW)

    One call for both, because Winograd computes both from the same transform of gy."""
    input_grad = backend.choose(gy, conv2d_input_grad_reference, conv2d_input_grad_numba, conv2d_input_grad_cupy)
    weight_grad = backend.choose(x, conv2d_weight_grad_reference, conv2d_weight_grad_numba,
                                 conv2d_weight_grad_cupy)
    if input_grad is conv2d_input_grad_numba and winograd_pays(w.shape, stride, dilation, groups, gy.shape[2:]):
        return winograd.winograd_conv3x3_backward_numba(x if need_gw else None, gy, w if need_gx else None,
                                                        padding, x.shape)
    gx = input_grad(gy, w, x.shape, stride, padding, dilation, groups) if need_gx else None
    gw = weight_grad(x, gy, w.shape, stride, padding, dilation, groups) if need_gw else None
    return gx, gw


def winograd_pays(w_shape, stride, dilation, groups, out_hw) -> bool:
    """Whether the fast CPU path of this convolution is Winograd F(4x4, 3x3) (kernels/winograd.py:
    4x fewer multiplications) instead of im2col: 3x3, stride 1, no dilation, one group, at least
    16 input and output channels, and, above 128 channels, outputs of at least 8x8 (64 per
    image). Measured on 2 cores, forward and both gradients at batch 64 (benchmarks/bench_winograd.py
    for the channel bound): 0.5-0.85x im2col's time from 16 channels on, but at 256 channels
    1.31x at 4x4 outputs and 1.09x at 6x6 (0.81x at 8x8), at 512 channels 1.57x at 4x4 and 4.2x
    at 2x2: with few outputs per image, a 6x6 tile makes 4 outputs or fewer it could have
    made 16 of, and the transformed kernels (C_out x C x 36) are no longer small beside the
    tiles. The reference is always the four equations; on the GPU, im2col and cuBLAS stay the
    path until the CUDA Winograd kernels (F(2x2), checked on the CPU only) are measured there.
    """
    enough_outputs = max(w_shape[:2]) <= 128 or out_hw[0] * out_hw[1] >= 64
    return winograd.winograd_applies(w_shape, stride, dilation, groups) and min(w_shape[:2]) >= 16 and enough_outputs


def _groups_of(gy, groups):
    """gy: (N, C_out, OH, OW) -> (G, C_out/G, N*OH*OW), the layout of y = w @ col."""
    return gy.transpose(1, 0, 2, 3).reshape(groups, gy.shape[1] // groups, -1)


def _ungroup(y_g, n, oh, ow):
    """y_g: (G, C_out/G, N*OH*OW) -> y: (N, C_out, OH, OW)."""
    return y_g.reshape(-1, n, oh, ow).transpose(1, 0, 2, 3)


# ----------------------------------------------------------------------------------------
# NumPy reference: the four equations, whole batch.
# ----------------------------------------------------------------------------------------


def conv2d_forward_reference(x, w, stride, padding, dilation, groups):
    """y = w @ im2col(x).   x: (N, C, H, W)  w: (C_out, C/G, KH, KW) -> y: (N, C_out, OH, OW)"""
    n, _, h, wd = x.shape
    c_out, c_g, kh, kw = w.shape
    oh, ow = conv_output_size(h, wd, (kh, kw), stride, padding, dilation)
    col = im2col_reference(x, (kh, kw), stride, padding, dilation).reshape(groups, c_g * kh * kw, -1)  # (G, K, L)
    y_g = w.reshape(groups, c_out // groups, c_g * kh * kw) @ col  # (G, C_out/G, L)
    return np.ascontiguousarray(_ungroup(y_g, n, oh, ow))


def conv2d_weight_grad_reference(x, gy, w_shape, stride, padding, dilation, groups):
    """gw = gy @ col^T.   x: (N, C, H, W)  gy: (N, C_out, OH, OW) -> gw: (C_out, C/G, KH, KW)"""
    _, c_g, kh, kw = w_shape
    col = im2col_reference(x, (kh, kw), stride, padding, dilation).reshape(groups, c_g * kh * kw, -1)  # (G, K, L)
    gw_g = _groups_of(gy, groups) @ col.transpose(0, 2, 1)  # (G, C_out/G, K)
    return gw_g.reshape(w_shape)


def conv2d_input_grad_reference(gy, w, x_shape, stride, padding, dilation, groups):
    """gx = col2im(w^T @ gy).   gy: (N, C_out, OH, OW)  w: (C_out, C/G, KH, KW) -> gx: (N, C, H, W)"""
    c_out, c_g, kh, kw = w.shape
    w_g = w.reshape(groups, c_out // groups, c_g * kh * kw)
    gcol = w_g.transpose(0, 2, 1) @ _groups_of(gy, groups)  # (G, K, L)
    return col2im_reference(gcol.reshape(groups * c_g * kh * kw, -1), x_shape, (kh, kw), stride, padding, dilation)


# ----------------------------------------------------------------------------------------
# Numba: the same products chunk by chunk, the chunks side by side (see the module docstring).
# ----------------------------------------------------------------------------------------


def _column_buffer(n, c, kh, kw, oh, ow, dtype):
    """An empty column buffer for n images, laid out (C, KH, KW, n, OH, OW) as the im2col loops write it."""
    return np.empty((c, kh, kw, n, oh, ow), dtype=dtype)


def conv2d_forward_numba(x, w, stride, padding, dilation, groups):
    """conv2d_forward_reference, chunk by chunk.   x: (N, C, H, W) -> y: (N, C_out, OH, OW)"""
    x = np.ascontiguousarray(x)
    n, c, h, wd = x.shape
    c_out, c_g, kh, kw = w.shape
    oh, ow = conv_output_size(h, wd, (kh, kw), stride, padding, dilation)
    w_g = np.ascontiguousarray(w).reshape(groups, c_out // groups, c_g * kh * kw)
    y = np.empty((n, c_out, oh, ow), dtype=x.dtype)

    def one_chunk(start, stop):
        col = _column_buffer(stop - start, c, kh, kw, oh, ow, x.dtype)
        _im2col_jit(x[start:stop], col, *stride, *padding, *dilation)
        y_g = w_g @ col.reshape(groups, c_g * kh * kw, -1)  # y = w @ col: (G, C_out/G, chunk's L)
        y[start:stop] = _ungroup(y_g, stop - start, oh, ow)

    _chunks.map_chunks(one_chunk, _chunks.image_chunks(n, c * kh * kw * oh * ow * x.itemsize))
    return y


def conv2d_weight_grad_numba(x, gy, w_shape, stride, padding, dilation, groups):
    """conv2d_weight_grad_reference, summed over chunks.   x: (N, C, H, W) -> gw: (C_out, C/G, KH, KW)"""
    x = np.ascontiguousarray(x)
    n, c = x.shape[:2]
    c_out, c_g, kh, kw = w_shape
    oh, ow = gy.shape[2:]

    def one_chunk(start, stop):
        col = _column_buffer(stop - start, c, kh, kw, oh, ow, x.dtype)
        _im2col_jit(x[start:stop], col, *stride, *padding, *dilation)
        # computed transposed, gw^T = col @ gy^T (G, K, C_out/G): BLAS is ~2x faster this way
        # round than gy @ col^T when C_out is small (measured, ResNet-20 shapes)
        return col.reshape(groups, c_g * kh * kw, -1) @ _groups_of(gy[start:stop], groups).transpose(0, 2, 1)

    gw_t = np.zeros((groups, c_g * kh * kw, c_out // groups), dtype=gy.dtype)
    for part in _chunks.map_chunks(one_chunk, _chunks.image_chunks(n, c * kh * kw * oh * ow * x.itemsize)):
        gw_t += part  # summed in chunk order: the same every run
    return np.ascontiguousarray(gw_t.transpose(0, 2, 1)).reshape(w_shape)


def flip_and_swap_channels(w, groups):
    """w: (C_out, C/G, KH, KW) -> (C, C_out/G, KH, KW), flipped in KH and KW, within each group:
    the kernel of the convolution that gives the input gradient at stride 1."""
    c_out, c_g, kh, kw = w.shape
    w_groups = w.reshape(groups, c_out // groups, c_g, kh, kw)
    return w_groups.transpose(0, 2, 1, 3, 4)[:, :, :, ::-1, ::-1].reshape(groups * c_g, c_out // groups, kh, kw)


def conv2d_input_grad_numba(gy, w, x_shape, stride, padding, dilation, groups):
    """conv2d_input_grad_reference, chunk by chunk.   gy: (N, C_out, OH, OW) -> gx: (N, C, H, W)

    At stride 1, gx is the convolution of gy with the flipped kernel (the module docstring);
    otherwise gcol = w^T @ gy and the col2im gather loops."""
    gy = np.ascontiguousarray(gy)
    n, c, h, wd = x_shape
    c_out, c_g, kh, kw = w.shape
    oh, ow = gy.shape[2:]
    gx = np.empty(x_shape, dtype=gy.dtype)
    chunks = _chunks.image_chunks(n, c * kh * kw * oh * ow * gy.itemsize)
    transposed_padding = tuple(d * (k - 1) - p for d, k, p in zip(dilation, (kh, kw), padding))
    if tuple(stride) == (1, 1) and min(transposed_padding) >= 0:
        w_flipped = np.ascontiguousarray(flip_and_swap_channels(w, groups)).reshape(groups, c_g, c_out // groups * kh * kw)

        def as_convolution(start, stop):  # gx = conv2d(gy, w flipped): im2col of gy, one product
            col = _column_buffer(stop - start, c_out, kh, kw, h, wd, gy.dtype)
            _im2col_jit(gy[start:stop], col, 1, 1, *transposed_padding, *dilation)
            gx[start:stop] = _ungroup(w_flipped @ col.reshape(groups, c_out // groups * kh * kw, -1), stop - start, h, wd)

        _chunks.map_chunks(as_convolution, chunks)
        return gx

    w_g = np.ascontiguousarray(w).reshape(groups, c_out // groups, c_g * kh * kw)
    oh_hits = hit_table(h, kh, stride[0], padding[0], dilation[0], oh)  # (H, KH): which oh reads row h
    ow_hits = hit_table(wd, kw, stride[1], padding[1], dilation[1], ow)

    def through_col2im(start, stop):
        gcol = w_g.transpose(0, 2, 1) @ _groups_of(gy[start:stop], groups)  # gcol = w^T @ gy: (G, K, chunk's L)
        _col2im_jit(gcol.reshape(c, kh, kw, stop - start, oh, ow), gx[start:stop], oh_hits, ow_hits)

    _chunks.map_chunks(through_col2im, chunks)
    return gx


# ----------------------------------------------------------------------------------------
# CuPy: the equations on the whole batch, with the CUDA im2col and col2im (kernels/im2col.py).
# ----------------------------------------------------------------------------------------


def conv2d_forward_cupy(x, w, stride, padding, dilation, groups):
    """conv2d_forward_reference on the GPU.   x: (N, C, H, W) cupy -> y: (N, C_out, OH, OW) cupy"""
    n, _, h, wd = x.shape
    c_out, c_g, kh, kw = w.shape
    oh, ow = conv_output_size(h, wd, (kh, kw), stride, padding, dilation)
    col = im2col_cupy(x, (kh, kw), stride, padding, dilation).reshape(groups, c_g * kh * kw, -1)  # (G, K, L)
    y_g = w.reshape(groups, c_out // groups, c_g * kh * kw) @ col  # y = w @ col: (G, C_out/G, L)
    return _ungroup(y_g, n, oh, ow).copy()  # C-contiguous (cupy's copy keeps C order)


def conv2d_weight_grad_cupy(x, gy, w_shape, stride, padding, dilation, groups):
    """conv2d_weight_grad_reference on the GPU.   x: (N, C, H, W) cupy -> gw: (C_out, C/G, KH, KW) cupy"""
    _, c_g, kh, kw = w_shape
    col = im2col_cupy(x, (kh, kw), stride, padding, dilation).reshape(groups, c_g * kh * kw, -1)  # (G, K, L)
    return (_groups_of(gy, groups) @ col.transpose(0, 2, 1)).reshape(w_shape)  # gw = gy @ col^T


def conv2d_input_grad_cupy(gy, w, x_shape, stride, padding, dilation, groups):
    """conv2d_input_grad_reference on the GPU.   gy: (N, C_out, OH, OW) cupy -> gx: (N, C, H, W) cupy"""
    c_out, c_g, kh, kw = w.shape
    w_g = w.reshape(groups, c_out // groups, c_g * kh * kw)
    gcol = w_g.transpose(0, 2, 1) @ _groups_of(gy, groups)  # gcol = w^T @ gy: (G, K, L)
    return col2im_cupy(gcol.reshape(groups * c_g * kh * kw, -1), x_shape, (kh, kw), stride, padding, dilation)
