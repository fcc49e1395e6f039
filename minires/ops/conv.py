"""2-D convolution as im2col + one matrix product per group.

Notation
  N batch, C input channels, H, W input height/width, C_out output channels,
  G groups, C_g = C / G input channels per group, KH, KW kernel size,
  OH, OW output size, K = C_g*KH*KW (one patch of one group), L = n*OH*OW (output positions of a chunk)

Forward, for each chunk of n images:
  col = im2col(x)                            (C*KH*KW, L)   each column one patch
  col -> (G, K, L); w -> (G, C_out/G, K)
  y_g = w_g @ col_g                          (G, C_out/G, L)
  y   = y_g -> (C_out, n, OH, OW) -> (n, C_out, OH, OW)

Backward, with gy reshaped the same way to (G, C_out/G, L):
  gw_g  = gy_g @ col_g^T                     (G, C_out/G, K)     summed over chunks (computed as
                                                                 its transpose col_g @ gy_g^T, faster)
  gcol_g = w_g^T @ gy_g                      (G, K, L)
  gx    = col2im(gcol)                       (n, C, H, W)        the adjoint of im2col
  gb    = sum of gy over n, OH, OW           (C_out,)

With stride 1 the input gradient is itself a convolution ("transposed convolution"):
  gx = conv2d(gy, w flipped in KH and KW with C and C_out swapped, padding = D*(K-1) - P)
since y[o, h] = sum_{c,i} w[o, c, i] x[c, h + D*i - P] makes every x[c, h'] meet
w[o, c, i] at y[o, h' - D*i + P]. That path (im2col of gy + one product) is faster than
gcol + col2im, so backward takes it whenever the stride is 1; col2im covers the rest.

Memory and speed. The column buffer is KH*KW times bigger than x, so it is built for a
few images at a time: each chunk's columns (at most `backend.workspace_bytes()`,
default 4 MiB) are still in the CPU's cache when the matrix product reads them, and
backward rebuilds them chunk by chunk instead of keeping them. Measured on a 2-core
machine, this was faster than one whole-batch buffer kept for backward (fresh
memory costs page faults and cache misses; rebuilding a chunk in cache is cheap), and
the memory a convolution needs stays bounded whatever the batch size. On the CPU the
chunks run side by side, one per core (minires/threads.py), each with its own im2col
and its own one-thread matrix product.
"""

from __future__ import annotations

from .. import backend, threads
from ..kernels import im2col as im2col_kernels
from .function import Array, Function


def column_chunks(n: int, patch_size: int, out_positions: int, itemsize: int) -> list[tuple[int, int]]:
    """Chunks of images whose columns, patch_size (C*KH*KW) x out_positions (OH*OW) each,
    fit in the workspace; as many as a multiple of the CPU threads, so each thread gets
    an equal share (never less than one image per chunk)."""
    images_per_chunk = backend.workspace_bytes() // max(1, patch_size * out_positions * itemsize)
    return threads.balanced_chunks(n, images_per_chunk)


def conv2d_forward(x: Array, w: Array, stride: tuple[int, int], padding: tuple[int, int],
                   dilation: tuple[int, int], groups: int) -> Array:
    """y = conv2d(x, w) without bias, chunk by chunk.   x: (N, C, H, W)  w: (C_out, C/G, KH, KW)"""
    xp = backend.array_module(x)
    n, c, h, wd = x.shape
    c_out, c_g, kh, kw = w.shape
    oh, ow = im2col_kernels.conv_output_size(h, wd, (kh, kw), stride, padding, dilation)
    im2col = backend.kernel(im2col_kernels, "im2col", x)
    w_g = w.reshape(groups, c_out // groups, c_g * kh * kw)
    y = xp.empty((n, c_out, oh, ow), dtype=x.dtype)

    def one_chunk(start: int, stop: int) -> None:
        col = im2col(x[start:stop], (kh, kw), stride, padding, dilation).reshape(groups, c_g * kh * kw, -1)
        y_g = w_g @ col  # (G, C_out/G, L)
        y[start:stop] = y_g.reshape(c_out, stop - start, oh, ow).transpose(1, 0, 2, 3)

    threads.map_chunks(one_chunk, column_chunks(n, c * kh * kw, oh * ow, x.itemsize), x)
    return y


def flip_and_swap_channels(w: Array, groups: int) -> Array:
    """w: (C_out, C/G, KH, KW) -> (C, C_out/G, KH, KW), flipped in KH and KW, within each group."""
    c_out, c_g, kh, kw = w.shape
    w_groups = w.reshape(groups, c_out // groups, c_g, kh, kw)
    return w_groups.transpose(0, 2, 1, 3, 4)[:, :, :, ::-1, ::-1].reshape(groups * c_g, c_out // groups, kh, kw)


class Conv2d(Function):
    """y = conv2d(x, w) + b (cross-correlation, as in PyTorch).

    x: (N, C, H, W)   w: (C_out, C/G, KH, KW)   b: (C_out,) or absent
    y: (N, C_out, OH, OW),  OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1, OW likewise
    stride, padding, dilation: (int, int) pairs.
    """

    def __init__(self, stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int], groups: int):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x: Array, w: Array, b: Array | None = None) -> Array:
        self.x, self.w, self.has_bias = x, w, b is not None
        y = conv2d_forward(x, w, self.stride, self.padding, self.dilation, self.groups)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y

    def backward(self, gy: Array):
        need_gx, need_gw = self.needs_input_grad[0], self.needs_input_grad[1]
        gx = self._input_gradient(gy) if need_gx else None
        gw = self._weight_gradient(gy) if need_gw else None
        if not self.has_bias:
            return gx, gw
        gb = gy.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None  # gb = sum of gy per channel
        return gx, gw, gb

    def _weight_gradient(self, gy: Array) -> Array:
        """gw = gy @ col^T summed over chunks, with col rebuilt per chunk (see the module docstring)."""
        n, c = self.x.shape[:2]
        c_out, c_g, kh, kw = self.w.shape
        g = self.groups
        im2col = backend.kernel(im2col_kernels, "im2col", self.x)

        def one_chunk(start: int, stop: int) -> Array:
            col = im2col(self.x[start:stop], (kh, kw), self.stride, self.padding, self.dilation)
            col = col.reshape(g, c_g * kh * kw, -1)  # (G, K, L)
            # gy chunk (n, C_out, OH, OW) -> (C_out, n*OH*OW) -> (G, C_out/G, L)
            gy_g = gy[start:stop].transpose(1, 0, 2, 3).reshape(g, c_out // g, -1)
            # transposed, (G, K, C_out/G): BLAS is ~2x faster computing col @ gy^T than
            # gy @ col^T when C_out is small (measured, ResNet-20 shapes)
            return col @ gy_g.transpose(0, 2, 1)  # gw^T = col @ gy^T

        chunks = column_chunks(n, c * kh * kw, gy.shape[2] * gy.shape[3], gy.itemsize)
        gw_t = backend.array_module(gy).zeros((g, c_g * kh * kw, c_out // g), dtype=gy.dtype)
        for part in threads.map_chunks(one_chunk, chunks, gy):
            gw_t += part  # summed in chunk order: the same every run
        return gw_t.transpose(0, 2, 1).reshape(self.w.shape)

    def _input_gradient(self, gy: Array) -> Array:
        kh, kw = self.w.shape[2:]
        transposed_padding = tuple(d * (k - 1) - p for d, k, p in zip(self.dilation, (kh, kw), self.padding))
        if self.stride == (1, 1) and min(transposed_padding) >= 0:
            # gx = conv2d(gy, flipped w with channels swapped): see the module docstring
            return conv2d_forward(gy, flip_and_swap_channels(self.w, self.groups), (1, 1), transposed_padding,
                                  self.dilation, self.groups)
        return self._input_gradient_col2im(gy)

    def _input_gradient_col2im(self, gy: Array) -> Array:
        """gx = col2im(w^T @ gy), chunk by chunk: the adjoint of the forward, for any stride."""
        xp = backend.array_module(gy)
        n, c, h, wd = self.x.shape
        c_out, c_g, kh, kw = self.w.shape
        g = self.groups
        col2im = backend.kernel(im2col_kernels, "col2im", gy)
        w_g = self.w.reshape(g, c_out // g, c_g * kh * kw)
        gx = xp.empty(self.x.shape, dtype=gy.dtype)

        def one_chunk(start: int, stop: int) -> None:
            gy_g = gy[start:stop].transpose(1, 0, 2, 3).reshape(g, c_out // g, -1)
            gcol = (w_g.transpose(0, 2, 1) @ gy_g).reshape(c * kh * kw, -1)  # gcol = w^T @ gy
            gx[start:stop] = col2im(gcol, (stop - start, c, h, wd), (kh, kw), self.stride, self.padding,
                                    self.dilation)

        threads.map_chunks(one_chunk, column_chunks(n, c * kh * kw, gy.shape[2] * gy.shape[3], gy.itemsize), gy)
        return gx
