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

Memory and speed. The column buffer is KH*KW times bigger than x, so it is built for a
few images at a time: each chunk's columns (at most `backend.workspace_bytes()`,
default 8 MiB) are still in the CPU's cache when the matrix product reads them, and
backward rebuilds them chunk by chunk instead of keeping them. Measured on a 2-core
machine, this was faster than one whole-batch buffer kept for backward (fresh
memory costs page faults and cache misses; rebuilding a chunk in cache is cheap), and
the memory a convolution needs stays bounded whatever the batch size.
"""

from __future__ import annotations

from .. import backend
from ..kernels import im2col as im2col_kernels
from .function import Array, Function


def batch_chunks(n_images: int, bytes_per_image: int, limit: int) -> list[tuple[int, int]]:
    """[(start, stop), ...] covering range(n_images), each chunk under `limit` bytes
    (but never less than one image).

    >>> batch_chunks(10, 100, 350)
    [(0, 3), (3, 6), (6, 9), (9, 10)]
    """
    per_chunk = max(1, limit // max(bytes_per_image, 1))
    return [(start, min(start + per_chunk, n_images)) for start in range(0, n_images, per_chunk)]


class Conv2d(Function):
    """y = conv2d(x, w) + b (cross-correlation, as in PyTorch).

    x: (N, C, H, W)   w: (C_out, C/G, KH, KW)   b: (C_out,) or absent
    y: (N, C_out, OH, OW),  OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1, OW likewise
    stride, padding, dilation: (int, int) pairs.
    """

    def __init__(self, stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int], groups: int):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x: Array, w: Array, b: Array | None = None) -> Array:
        xp = backend.array_module(x)
        n, c, h, wd = x.shape
        c_out, c_g, kh, kw = w.shape
        g = self.groups
        oh, ow = im2col_kernels.conv_output_size(h, wd, (kh, kw), self.stride, self.padding, self.dilation)
        self.x, self.w, self.has_bias = x, w, b is not None
        self.chunks = batch_chunks(n, c * kh * kw * oh * ow * x.itemsize, backend.workspace_bytes())
        w_g = w.reshape(g, c_out // g, c_g * kh * kw)

        y = xp.empty((n, c_out, oh, ow), dtype=x.dtype)
        for start, stop in self.chunks:
            col = self._im2col(x[start:stop])  # (G, K, L)
            y_g = w_g @ col  # (G, C_out/G, L)
            y[start:stop] = y_g.reshape(c_out, stop - start, oh, ow).transpose(1, 0, 2, 3)
        if b is not None:
            y += b.reshape(1, c_out, 1, 1)
        return y

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        _, c, h, wd = self.x.shape
        c_out, c_g, kh, kw = self.w.shape
        g = self.groups
        need_gx, need_gw = self.needs_input_grad[0], self.needs_input_grad[1]
        w_g = self.w.reshape(g, c_out // g, c_g * kh * kw)
        col2im = backend.kernel(im2col_kernels, "col2im", gy)

        gx = xp.empty(self.x.shape, dtype=gy.dtype) if need_gx else None
        # gw is accumulated transposed, (G, K, C_out/G): BLAS is ~2x faster computing
        # col @ gy^T than gy @ col^T when C_out is small (measured, ResNet-20 shapes)
        gw_t = xp.zeros((g, c_g * kh * kw, c_out // g), dtype=gy.dtype) if need_gw else None
        for start, stop in self.chunks:
            # gy chunk (n, C_out, OH, OW) -> (C_out, n*OH*OW) -> (G, C_out/G, L)
            gy_g = gy[start:stop].transpose(1, 0, 2, 3).reshape(g, c_out // g, -1)
            if need_gw:
                col = self._im2col(self.x[start:stop])  # rebuilt: cheaper than keeping it (see above)
                gw_t += col @ gy_g.transpose(0, 2, 1)  # gw^T = col @ gy^T
            if need_gx:
                gcol = (w_g.transpose(0, 2, 1) @ gy_g).reshape(c * kh * kw, -1)  # gcol = w^T @ gy
                gx[start:stop] = col2im(gcol, (stop - start, c, h, wd), (kh, kw), self.stride, self.padding,
                                        self.dilation)
        gw = gw_t.transpose(0, 2, 1).reshape(self.w.shape) if need_gw else None
        if not self.has_bias:
            return gx, gw
        gb = gy.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None  # gb = sum of gy per channel
        return gx, gw, gb

    def _im2col(self, x: Array) -> Array:
        """The chunk's columns, grouped: (G, C_g*KH*KW, n*OH*OW)."""
        kh, kw = self.w.shape[2:]
        im2col = backend.kernel(im2col_kernels, "im2col", x)
        col = im2col(x, (kh, kw), self.stride, self.padding, self.dilation)
        return col.reshape(self.groups, -1, col.shape[1])
