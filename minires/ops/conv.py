"""2-D convolution as im2col + one matrix product (per group). Taught in docs/conv.md.

x: (N, C, H, W)   w: (C_out, C/G, KH, KW)   b: (C_out,)   y: (N, C_out, OH, OW)
K = C/G*KH*KW (one patch of one group), L = N*OH*OW (output positions), G groups.

    col  = im2col(x)            (G, K, L)         each column one patch of x
    y    = w @ col              (G, C_out/G, L)   then + b per channel
    gw   = gy @ col^T           (G, C_out/G, K)
    gx   = col2im(w^T @ gy)     (N, C, H, W)      col2im is the adjoint of im2col
    gb   = sum of gy over N, OH, OW

Twice (create_graph=True): gx and gw are bilinear, in (gy, w) and (x, gy). Conv2dInputGrad and
Conv2dWeightGrad make them ops, and the three ops' gradients are each other (PyTorch's way):
    <conv2d(x, w), gy> = <input_grad(gy, w), x> = <weight_grad(x, gy), w>
so for an incoming gradient G: input_grad's is (conv2d(G, w), weight_grad(G, gy)), weight_grad's
is (input_grad(gy, G), conv2d(x, G)).

The kernels in kernels/conv.py compute these equations: the NumPy reference exactly as
written, the fast ones in chunks (and with their own tricks) but to the same result.
"""

from __future__ import annotations

from .. import backend
from ..kernels import conv as conv_kernels
from .function import Array, Function, apply_op


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

    def backward_recorded(self, gy, saved):
        # the same gradients as recorded ops (create_graph): both are bilinear, so the ops
        # below differentiate each other (PyTorch's conv double backward)
        x, w = saved(self.x), saved(self.w)
        need = self.needs_input_grad
        gx = apply_op(Conv2dInputGrad(self.x.shape, self.geometry), gy, w) if need[0] else None
        gw = apply_op(Conv2dWeightGrad(self.w.shape, self.geometry), x, gy) if need[1] else None
        if not self.has_bias:
            return gx, gw
        return gx, gw, gy.sum(axis=(0, 2, 3)) if need[2] else None


def _shaped_like(shape: tuple, like: Array) -> Array:
    """A stand-in array of `shape` (zeros, a broadcast view: no memory) for the conv2d_backward
    argument whose gradient is not asked for; the kernel reads only its shape."""
    xp = backend.array_module(like)
    return xp.broadcast_to(xp.zeros((), dtype=like.dtype), shape)


class Conv2dInputGrad(Function):
    """gx = conv2d's input gradient, as an op of (gy, w): gx = col2im(w^T @ gy), of shape x_shape.

    Conv2d's backward under create_graph=True. Bilinear in (gy, w), with <gx, G> = <conv2d(G, w), gy>
    = <weight_grad(G, gy), w> for any G shaped like x, so its gradients are convolutions again."""

    def __init__(self, x_shape: tuple, geometry: tuple):
        self.x_shape, self.geometry = tuple(x_shape), geometry

    def forward(self, gy: Array, w: Array) -> Array:
        self.gy, self.w = gy, w
        gx, _ = conv_kernels.conv2d_backward(_shaped_like(self.x_shape, gy), gy, w, *self.geometry, True, False)
        return gx

    def backward(self, gg: Array):
        need_ggy, need_gw = self.needs_input_grad
        # ggy = conv2d(gg, w),  gw = weight_grad(gg, gy) = gy @ im2col(gg)^T
        ggy = conv_kernels.conv2d_forward(gg, self.w, *self.geometry) if need_ggy else None
        gw = conv_kernels.conv2d_backward(gg, self.gy, self.w, *self.geometry, False, True)[1] if need_gw else None
        return ggy, gw

    def backward_recorded(self, gg, saved):
        gy, w = saved(self.gy), saved(self.w)
        need_ggy, need_gw = self.needs_input_grad
        ggy = apply_op(Conv2d(*self.geometry), gg, w) if need_ggy else None
        gw = apply_op(Conv2dWeightGrad(self.w.shape, self.geometry), gg, gy) if need_gw else None
        return ggy, gw


class Conv2dWeightGrad(Function):
    """gw = conv2d's weight gradient, as an op of (x, gy): gw = gy @ im2col(x)^T, of shape w_shape.

    Conv2d's backward under create_graph=True. Bilinear in (x, gy), with <gw, G> = <conv2d(x, G), gy>
    = <input_grad(gy, G), x> for any G shaped like w."""

    def __init__(self, w_shape: tuple, geometry: tuple):
        self.w_shape, self.geometry = tuple(w_shape), geometry

    def forward(self, x: Array, gy: Array) -> Array:
        self.x, self.gy = x, gy
        _, gw = conv_kernels.conv2d_backward(x, gy, _shaped_like(self.w_shape, x), *self.geometry, False, True)
        return gw

    def backward(self, gg: Array):
        need_gx, need_ggy = self.needs_input_grad
        # gx = input_grad(gy, gg) = col2im(gg^T @ gy),  ggy = conv2d(x, gg)
        gx = conv_kernels.conv2d_backward(self.x, self.gy, gg, *self.geometry, True, False)[0] if need_gx else None
        ggy = conv_kernels.conv2d_forward(self.x, gg, *self.geometry) if need_ggy else None
        return gx, ggy

    def backward_recorded(self, gg, saved):
        x, gy = saved(self.x), saved(self.gy)
        need_gx, need_ggy = self.needs_input_grad
        gx = apply_op(Conv2dInputGrad(self.x.shape, self.geometry), gy, gg) if need_gx else None
        ggy = apply_op(Conv2d(*self.geometry), x, gg) if need_ggy else None
        return gx, ggy
