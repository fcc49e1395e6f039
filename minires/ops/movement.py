"""Movement ops: they move entries around without arithmetic, so each backward
moves gy back the other way (its adjoint):

    Reshape   <->  reshape back         Permute  <->  the inverse permutation
    Expand    <->  sum over the copies  Concatenate <-> split
    Pad       <->  slice the middle     GetItem  <->  add gy into zeros at the index
    TakeAlongDim  <->  put gy into zeros at the indices (max(dim), sort, topk)
    Clone     <->  gy itself (a copy is the identity)
"""

from __future__ import annotations

from .. import backend
from .function import Array, Function, unbroadcast


class Reshape(Function):
    """y = x with a new shape (same entries, same order)."""

    linear = True

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

    linear = True

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

    linear = True

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

    linear = True

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
    """y = x with `value` added around it.   pad_width: ((before, after), ...) one pair per axis."""

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

    def backward_recorded(self, gy, saved):
        # the same slice, of a Tensor (create_graph). Padding with value != 0 is affine, not
        # linear, so the generic Adjoint (linear = True) would not do
        return self.backward(gy)


def is_advanced_index(index) -> bool:
    """True when `index` uses integer or boolean arrays (numpy's 'advanced' indexing)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "shape") or isinstance(p, list) for p in parts)


class GetItem(Function):
    """y = x[index]: slices, ints, None, Ellipsis, boolean masks and integer arrays."""

    linear = True

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


class TakeAlongDim(Function):
    """y = x's entries at `indices` along `axis` (numpy's take_along_axis, torch.gather):
    y[..., j, ...] = x[..., indices[..., j, ...], ...].

    indices: an integer array with x's number of axes, and x's shape except along axis.
    They must not repeat along axis: that holds for the indices that max(dim), sort and
    topk return, and it lets backward put gy back with a plain assignment.
    """

    linear = True

    def __init__(self, indices: Array, axis: int):
        self.indices, self.axis = indices, axis

    def forward(self, x: Array) -> Array:
        self.x_shape, self.x_dtype = x.shape, x.dtype
        return backend.array_module(x).take_along_axis(x, self.indices, axis=self.axis)

    def backward(self, gy: Array):
        xp = backend.array_module(gy)
        # gx = gy put back where each entry was taken from, 0 elsewhere
        where = list(xp.ix_(*[xp.arange(n) for n in self.indices.shape]))  # every position of y ...
        where[self.axis] = self.indices  # ... with the axis coordinate replaced by the index taken
        gx = xp.zeros(self.x_shape, dtype=self.x_dtype)
        gx[tuple(where)] = gy
        return gx


class Clone(Function):
    """y = a copy of x (new memory, same values)."""

    linear = True

    def forward(self, x: Array) -> Array:
        return x.copy()

    def backward(self, gy: Array):
        # gx = gy: a copy is the identity
        return gy


class SetItem(Function):
    """y = x with y[index] = v (v broadcast to x[index]'s shape): `x[index] = v` as an op.

    Tensor.__setitem__, fill_, zero_ and copy_ write y back into x's array.
    (With an integer index that repeats an entry, numpy keeps the last write; the
    gradient then goes to every write, so avoid repeats where v needs a gradient.)
    """

    linear = True

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
