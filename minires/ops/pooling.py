"""Pooling: max, average and global average over windows of each channel plane.

x: (N, C, H, W)   y: (N, C, OH, OW),  OH = (H + 2*PH - KH) // SH + 1, OW likewise
kernel_size, stride, padding: (int, int) pairs. The loops live in kernels/pooling.py.
"""

from __future__ import annotations

from ..kernels import pooling as pooling_kernels
from .function import Array, Function


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


class AvgPool2d(Function):
    """y = the mean of each window; padded zeros count in the divisor (count_include_pad)."""

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

    def forward(self, x: Array) -> Array:
        self.x_shape = x.shape
        return pooling_kernels.global_avg_pool2d_forward(x)

    def backward(self, gy: Array):
        # gx = gy / (H*W) at every position of the plane
        return pooling_kernels.global_avg_pool2d_backward(gy, self.x_shape)
