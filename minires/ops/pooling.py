"""Pooling: max, average and global average over windows of each channel plane.

x: (N, C, H, W)   y: (N, C, OH, OW),  OH = (H + 2*PH - KH) // SH + 1, OW likewise
kernel_size, stride, padding: (int, int) pairs. The loops live in kernels/pooling.py.
"""

from __future__ import annotations

from .. import backend
from ..kernels import pooling as pooling_kernels
from .function import Array, Function, apply_op


class MaxPool2d(Function):
    """y = the largest entry of each window (padding counts as -inf)."""

    def __init__(self, kernel_size: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Array) -> Array:
        y, self.argmax = pooling_kernels.max_pool2d_forward(x, self.kernel_size, self.stride, self.padding)
        self.x_shape = x.shape
        return y

    def backward(self, gy: Array):
        # gx = gy routed to the entry that won each window (summed where windows overlap)
        return pooling_kernels.max_pool2d_backward(gy, self.argmax, self.x_shape, self.kernel_size, self.stride,
                                                   self.padding)

    def backward_recorded(self, gy, saved):
        # the same routing as a recorded op (create_graph): linear in gy, and with the winners
        # fixed its derivative in x is 0 (almost everywhere), so the graph goes to gy only
        return apply_op(MaxPool2dInputGrad(self.argmax, self.x_shape, self.kernel_size, self.stride, self.padding), gy)


class MaxPool2dInputGrad(Function):
    """gx = gy routed to each window's winner (MaxPool2d's backward, the winners fixed), as an op.

    gy: (N, C, OH, OW) -> gx: (N, C, H, W). Linear in gy; its adjoint gathers: ggy = gg at each
    window's winner. Being linear, every higher order is generic (autograd/higher_order.py)."""

    linear = True

    def __init__(self, argmax: Array, x_shape: tuple, kernel_size: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int]):
        self.argmax, self.x_shape = argmax, x_shape
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, gy: Array) -> Array:
        return pooling_kernels.max_pool2d_backward(gy, self.argmax, self.x_shape, self.kernel_size, self.stride,
                                                   self.padding)

    def backward(self, gg: Array):
        xp = backend.array_module(gg)
        n, c = self.argmax.shape[:2]
        # ggy[n, c, oh, ow] = gg[n, c] at the flat index h*W + w of the window's winner
        winners = xp.take_along_axis(gg.reshape(n, c, -1), self.argmax.reshape(n, c, -1), axis=2)
        return winners.reshape(self.argmax.shape)


class AvgPool2d(Function):
    """y = the mean of each window; padded zeros count in the divisor (count_include_pad)."""

    linear = True

    def __init__(self, kernel_size: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Array) -> Array:
        self.x_shape = x.shape
        return pooling_kernels.avg_pool2d_forward(x, self.kernel_size, self.stride, self.padding)

    def backward(self, gy: Array):
        # gx = gy / (KH*KW) spread over each window (summed where windows overlap)
        return pooling_kernels.avg_pool2d_backward(gy, self.x_shape, self.kernel_size, self.stride, self.padding)


class GlobalAvgPool2d(Function):
    """y = the mean of each channel plane.   x: (N, C, H, W)   y: (N, C)"""

    linear = True

    def forward(self, x: Array) -> Array:
        self.x_shape = x.shape
        return pooling_kernels.global_avg_pool2d_forward(x)

    def backward(self, gy: Array):
        # gx = gy / (H*W) at every position of the plane
        return pooling_kernels.global_avg_pool2d_backward(gy, self.x_shape)
