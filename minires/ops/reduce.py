"""Reductions over axes: sum, mean, max, var, norm (min is -max(-x), built in Tensor).

x: any shape; axis: None (all axes), an int, or a tuple of ints; keepdims as in numpy.
Every backward first puts gy back into keepdims shape (size 1 on each reduced
axis) so it broadcasts against x.
"""

from __future__ import annotations

from .. import backend
from .function import Array, Function


def normalize_axis(axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    """The reduced axes as a sorted tuple of non-negative ints.

    >>> normalize_axis(-1, 3), normalize_axis(None, 2)
    ((2,), (0, 1))
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"reduce: axis {a} is out of range for a {ndim}-d tensor")
        out.append(a % max(ndim, 1))
    return tuple(sorted(out))


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """shape with each reduced axis set to 1: the shape gy must take to broadcast over x."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def reduced_count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    """How many entries of x are combined into each entry of y."""
    count = 1
    for a in axes:
        count *= shape[a]
    return count


class Sum(Function):
    """y = sum of x over `axis`."""

    linear = True

    def __init__(self, axis=None, keepdims: bool = False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x: Array) -> Array:
        self.x_shape = x.shape
        self.axes = normalize_axis(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        # gx = gy copied to every entry that was summed
        return xp.broadcast_to(gy.reshape(keepdims_shape(self.x_shape, self.axes)), self.x_shape)


class Mean(Function):
    """y = mean of x over `axis`."""

    linear = True

    def __init__(self, axis=None, keepdims: bool = False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x: Array) -> Array:
        self.x_shape = x.shape
        self.axes = normalize_axis(self.axis, x.ndim)
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        m = reduced_count(self.x_shape, self.axes)
        # gx = gy / m, copied to every entry that was averaged
        return xp.broadcast_to(gy.reshape(keepdims_shape(self.x_shape, self.axes)) / m, self.x_shape)


class Max(Function):
    """y = max of x over `axis`. Ties share the gradient evenly (like torch.amax)."""

    def __init__(self, axis=None, keepdims: bool = False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x: Array) -> Array:
        self.x = x
        self.axes = normalize_axis(self.axis, x.ndim)
        self.y_keep = x.max(axis=self.axes, keepdims=True)
        return self.y_keep if self.keepdims else self.y_keep.reshape(
            [n for i, n in enumerate(x.shape) if i not in self.axes]
        )

    def backward(self, gy: Array):
        # gx = gy at the entries equal to the max (divided among ties), 0 elsewhere
        is_max = self.x == self.y_keep
        ties = is_max.sum(axis=self.axes, keepdims=True)
        return is_max * (gy.reshape(self.y_keep.shape) / ties).astype(gy.dtype)

    def backward_recorded(self, gy, saved):
        # the same on Tensors (create_graph): the max mask and the tie counts are constants
        is_max = self.x == self.y_keep
        ties = is_max.sum(axis=self.axes, keepdims=True)
        return gy.reshape(self.y_keep.shape) / ties * is_max


class Var(Function):
    """y = sum((x - mean)^2) / (m - correction) over `axis`; correction=1 is the unbiased
    estimate (torch.var's default), correction=0 the biased one."""

    def __init__(self, axis=None, keepdims: bool = False, correction: int = 1):
        self.axis, self.keepdims, self.correction = axis, keepdims, correction

    def forward(self, x: Array) -> Array:
        self.axes = normalize_axis(self.axis, x.ndim)
        self.x_shape = x.shape
        self.x = x  # no copy: backward_recorded reaches x through it (and, as torch.var, x may not change in place)
        self.centered = x - x.mean(axis=self.axes, keepdims=True)
        self.dof = reduced_count(x.shape, self.axes) - self.correction
        return (self.centered * self.centered).sum(axis=self.axes, keepdims=self.keepdims) / self.dof

    def backward(self, gy: Array):
        # gx = gy * 2 (x - mean) / (m - correction)   (the mean's own term sums to zero)
        return gy.reshape(keepdims_shape(self.x_shape, self.axes)) * (2 / self.dof) * self.centered

    def backward_recorded(self, gy, saved):
        # the same formula on Tensors, x - mean recomputed from x so that the graph reaches x
        x = saved(self.x)
        centered = x - x.mean(axis=self.axes, keepdims=True)
        return gy.reshape(keepdims_shape(self.x_shape, self.axes)) * (2 / self.dof) * centered


class Norm(Function):
    """y = the p-norm of x over `axis`, p in {1, 2, inf}:
        p = 1:   sum |x|        p = 2:   sqrt(sum x^2)        p = inf:   max |x|
    At a zero norm the gradient is 0 (as in PyTorch), not 0/0."""

    def __init__(self, p: float, axis=None, keepdims: bool = False):
        self.p, self.axis, self.keepdims = p, axis, keepdims

    def forward(self, x: Array) -> Array:
        xp = backend.array_module(x)
        self.x = x
        self.axes = normalize_axis(self.axis, x.ndim)
        if self.p == 1:
            self.y_keep = abs(x).sum(axis=self.axes, keepdims=True)
        elif self.p == 2:
            self.y_keep = xp.sqrt((x * x).sum(axis=self.axes, keepdims=True))
        else:
            self.y_keep = abs(x).max(axis=self.axes, keepdims=True)
        return self.y_keep if self.keepdims else self.y_keep.reshape(
            [n for i, n in enumerate(x.shape) if i not in self.axes]
        )

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        gy = gy.reshape(self.y_keep.shape)
        if self.p == 1:
            # gx = gy * sign(x)
            return gy * xp.sign(self.x)
        if self.p == 2:
            # gx = gy * x / ||x||   (0 where ||x|| = 0)
            safe = xp.where(self.y_keep == 0, 1, self.y_keep)
            return xp.where(self.y_keep == 0, 0, gy * self.x / safe).astype(gy.dtype)
        # gx = gy * sign(x) at the entries with |x| = max |x| (divided among ties), 0 elsewhere
        is_max = (abs(self.x) == self.y_keep) & (self.y_keep != 0)
        ties = xp.maximum(is_max.sum(axis=self.axes, keepdims=True), 1)
        return (is_max * xp.sign(self.x) * (gy / ties)).astype(gy.dtype)

    def backward_recorded(self, gy, saved):
        # the same formulas on Tensors; sign(x), the max mask and the tie counts are constants
        xp = backend.array_module(self.x)
        gy = gy.reshape(self.y_keep.shape)
        if self.p == 1:
            return gy * xp.sign(self.x)
        if self.p == 2:
            # ||x|| recomputed from x so that the graph reaches x through it too; at a zero norm
            # the divisor is 1 and the mask makes every order 0 (torch's second derivative is NaN there)
            x, zero = saved(self.x), self.y_keep == 0
            return gy * x / (x.norm(2, self.axes, True) + zero) * ~zero
        is_max = (abs(self.x) == self.y_keep) & (self.y_keep != 0)
        ties = xp.maximum(is_max.sum(axis=self.axes, keepdims=True), 1)
        return gy / ties * (is_max * xp.sign(self.x))
