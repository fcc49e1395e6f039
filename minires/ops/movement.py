"""Movement ops: they move entries around without arithmetic, so each backward
moves gy back the other way (its adjoint):

    Reshape   <->  reshape back         Permute  <->  the inverse permutation
    Expand    <->  sum over the copies  Concatenate <-> split
    Pad       <->  slice the middle     GetItem  <->  add gy into zeros at the index
"""

from __future__ import annotations

from .. import backend
from .function import Array, Function, unbroadcast


class Reshape(Function):
    """y = x with a new shape (same entries, same order)."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x: Array) -> Array:
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy: Array):
        # gx = gy reshaped back
        return gy.reshape(self.x_shape)


class Permute(Function):
    """y = x with its axes reordered: y.shape[i] = x.shape[dims[i]]."""

    def __init__(self, dims: tuple[int, ...]):
        self.dims = dims

    def forward(self, x: Array) -> Array:
        return x.transpose(self.dims)

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        # gx = gy with the inverse permutation (argsort undoes a permutation)
        return gy.transpose(tuple(int(i) for i in xp.argsort(xp.asarray(self.dims)).tolist()))


class Expand(Function):
    """y = x broadcast to `shape` (a view: entries are shared, not copied)."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x: Array) -> Array:
        self.x_shape = x.shape
        return backend.array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy: Array):
        # gx = sum of gy over the copies
        return unbroadcast(gy, self.x_shape)


class Concatenate(Function):
    """y = the inputs joined along `axis`; all other axes must agree."""

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, *xs: Array) -> Array:
        xp = backend.array_module(xs[0])
        self.sizes = [x.shape[self.axis] for x in xs]
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        # gx_k = the slice of gy that input k filled
        edges = [sum(self.sizes[: k + 1]) for k in range(len(self.sizes) - 1)]
        return tuple(xp.split(gy, edges, axis=self.axis))


class Pad(Function):
    """y = x with zeros added around it.   pad_width: ((before, after), ...) one pair per axis."""

    def __init__(self, pad_width: tuple[tuple[int, int], ...], value: float = 0.0):
        self.pad_width, self.value = pad_width, value

    def forward(self, x: Array) -> Array:
        self.x_shape = x.shape
        xp = backend.array_module(x)
        return xp.pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, gy: Array):
        # gx = the middle of gy (the padding has no input behind it)
        middle = tuple(slice(before, before + n) for (before, _), n in zip(self.pad_width, self.x_shape))
        return gy[middle]


def is_advanced_index(index) -> bool:
    """True when `index` uses integer or boolean arrays (numpy's 'advanced' indexing)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "shape") or isinstance(p, list) for p in parts)


class GetItem(Function):
    """y = x[index]: slices, ints, None, Ellipsis, boolean masks and integer arrays."""

    def __init__(self, index):
        self.index = index

    def forward(self, x: Array) -> Array:
        self.x_shape, self.x_dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        gx = xp.zeros(self.x_shape, dtype=self.x_dtype)
        # gx = gy added back where it was read from; an integer index may repeat
        # an entry, and then each read adds its own gradient, so we need add.at
        if is_advanced_index(self.index):
            add_at = xp.add.at if xp.__name__ == "numpy" else _cupy_scatter_add()
            add_at(gx, self.index, gy)
        else:
            gx[self.index] = gy  # slices and ints never repeat an entry
        return gx


class SetItem(Function):
    """y = x with y[index] = v (v broadcast to x[index]'s shape): `x[index] = v` as an op.

    Tensor.__setitem__, fill_, zero_ and copy_ write y back into x's array.
    (With an integer index that repeats an entry, numpy keeps the last write; the
    gradient then goes to every write, so avoid repeats where v needs a gradient.)
    """

    def __init__(self, index):
        self.index = index

    def forward(self, x: Array, v: Array) -> Array:
        self.v_shape = v.shape
        y = x.copy()
        y[self.index] = v
        return y

    def backward(self, gy: Array):
        # gx = gy except where v overwrote x (those entries no longer depend on x)
        gx = gy.copy()
        gx[self.index] = 0
        # gv = gy read back from where v was written, summed over v's broadcast
        return gx, unbroadcast(gy[self.index], self.v_shape)


def _cupy_scatter_add():
    import cupyx  # only reached with cupy arrays, so cupy is present

    return cupyx.scatter_add
