"""2-D convolution as im2col + one matrix product (per group). Taught in docs/conv.md.

x: (N, C, H, W)   w: (C_out, C/G, KH, KW)   b: (C_out,)   y: (N, C_out, OH, OW)
K = C/G*KH*KW (one patch of one group), L = N*OH*OW (output positions), G groups.

    col  = im2col(x)            (G, K, L)         each column one patch of x
    y    = w @ col              (G, C_out/G, L)   then + b per channel
    gw   = gy @ col^T           (G, C_out/G, K)
    gx   = col2im(w^T @ gy)     (N, C, H, W)      col2im is the adjoint of im2col
    gb   = sum of gy over N, OH, OW

The kernels in kernels/conv.py compute these equations: the NumPy reference exactly as
written, the fast ones in chunks (and with their own tricks) but to the same result.
"""

from __future__ import annotations

from ..kernels import conv as conv_kernels
from .function import Array, Function


class Conv2d(Function):
    """y = conv2d(x, w) + b (cross-correlation, as in PyTorch); stride, padding, dilation: (int, int)."""

    def __init__(self, stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int], groups: int):
        self.geometry = stride, padding, dilation, groups

    def forward(self, x: Array, w: Array, b: Array | None = None) -> Array:
        self.x, self.w, self.has_bias = x, w, b is not None
        y = conv_kernels.conv2d_forward(x, w, *self.geometry)  # y = w @ im2col(x)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y

    def backward(self, gy: Array):
        need_gx, need_gw = self.needs_input_grad[0], self.needs_input_grad[1]
        # gx = col2im(w^T @ gy),  gw = gy @ im2col(x)^T   (one kernel call makes both)
        gx, gw = conv_kernels.conv2d_backward(self.x, gy, self.w, *self.geometry, need_gx, need_gw)
        if not self.has_bias:
            return gx, gw
        gb = gy.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None  # gb = sum of gy per channel
        return gx, gw, gb
