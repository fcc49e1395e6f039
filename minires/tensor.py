"""Tensor: an array that remembers how it was made, and the backward pass.

A Tensor holds
  array          the numpy (CPU) or cupy (GPU) ndarray that holds the values; ops,
                 kernels and optimizers read and write it
  grad           dL/d(this tensor) after backward, a Tensor of the same shape, or None
  requires_grad  whether backward should compute a gradient for it
  grad_fn        the ops.Function that created it (None for leaves: inputs, parameters)

As in PyTorch, `.data` is a Tensor too: the same array (no copy) with no graph.

In-place ops (`add_`, `+=`, `x[i] = v`, ...) write into `array` itself and bump the
tensor's version counter (`t._version`); an op whose backward needs a tensor notes its
version when it runs, and backward refuses to use a tensor changed since (see the
"in-place ops" section).

Every operator (`+`, `@`, `.sum()`, ...) goes through `apply`, which runs the op's
forward on the raw arrays and, when a gradient is needed, links the output to the
op. `Tensor.backward` then walks those links from the output back to the leaves.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import backend, ops, return_types
from .device import CPU, CUDA, device, device_or_dtype
from .grad_mode import is_grad_enabled
from .size import Size
from .utils.hooks import RemovableHandle, add_hook

DEFAULT_DTYPE = np.float32


class _VersionCounter:
    """How many times the array under a tensor was changed in place. Shared by a tensor
    and its detach()es (the same values); `.data` gets a fresh one, as in PyTorch, which
    is why writing through `.data` is invisible to autograd."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    array: the numpy (CPU) or cupy (GPU) ndarray that holds the values; ops, kernels
    and optimizers read and write it. `.data` and `.grad` are Tensors, as in PyTorch.

    >>> x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0, 6.0]
    """

    __array_ufunc__ = None  # numpy_array + tensor calls Tensor.__radd__, not numpy's add
    __hash__ = object.__hash__  # == is elementwise, so keep identity hashing explicit

    # The graph's bookkeeping; class-level defaults, since most tensors never change them.
    output_nr = 0  # which output of grad_fn this tensor is (an autograd.Function may make several)
    _accumulator = None  # a leaf's AccumulateGrad node, made when an op first uses it (autograd/graph.py)
    _backward_hooks = None  # register_hook's hooks, by handle id
    _post_accumulate_grad_hooks = None  # register_post_accumulate_grad_hook's, by handle id
    _retains_grad = False  # retain_grad() was called on this non-leaf

    def __init__(self, data: Any, requires_grad: bool = False):
        if isinstance(data, Tensor):
            data = data.array
        if not (isinstance(data, np.ndarray) or backend.is_cupy_array(data)):
            data = np.asarray(data)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating-point tensors can require grad, got dtype {data.dtype}")
        self.array = data
        self._grad: Tensor | None = None  # see the grad property
        self._requires_grad = bool(requires_grad)  # checked above; see the requires_grad property
        self.grad_fn: ops.Function | None = None
        self._version_counter = _VersionCounter()  # bumped by every in-place op; see _version

    # ------------------------------------------------------------------ properties
    @property
    def data(self) -> Tensor:
        """The same values as a Tensor with no graph: it shares self.array (no copy), so
        writing into it writes into self, and autograd never sees it (`p.data.numpy()`,
        `outputs.data.argmax(1)`)."""
        return Tensor(self.array)

    @data.setter
    def data(self, value: Tensor) -> None:
        """`p.data = t` makes p hold t's array (shape, dtype and device come with it),
        out of autograd's sight; p stays the same object, so optimizers keep it."""
        if not isinstance(value, Tensor):
            raise TypeError(
                f".data: expected a Tensor, got {type(value).__name__}; wrap an array first: "
                f"p.data = mr.tensor(array)"
            )
        self.array = value.array

    @property
    def grad(self) -> Tensor | None:
        """dL/d(this tensor), summed over the backward() calls since it was last None;
        a Tensor of this tensor's shape, or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"grad: assigned grad expected to be a Tensor or None, got {type(value).__name__}; "
                    f"wrap an array first: p.grad = mr.tensor(array)"
                )
            if value.shape != self.shape:
                raise ValueError(f"grad: assigned grad has shape {value.shape}, but the tensor has shape {self.shape}")
            if value.dtype != self.dtype or value.device != self.device:
                raise TypeError(
                    f"grad: assigned grad is {value.dtype} on {value.device}, but the tensor is "
                    f"{self.dtype} on {self.device}; convert it with .to(...)"
                )
        self._grad = value

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def device(self) -> device:
        """Where the array lives: mr.device('cpu') or mr.device('cuda'); a str underneath,
        so `x.device == "cpu"` holds (minires does not say which GPU: no index)."""
        return CUDA if backend.is_cupy_array(self.array) else CPU

    @property
    def _version(self) -> int:
        """How many in-place ops have changed this tensor's values (as torch's t._version)."""
        return self._version_counter.value

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def requires_grad(self) -> bool:
        """Whether backward computes a gradient for this tensor. You may set it on a leaf
        of floating dtype (`w.requires_grad = False` freezes a weight); an op's output gets it
        from its inputs."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, requires_grad: bool) -> None:
        self._set_requires_grad(requires_grad, "requires_grad")

    def _set_requires_grad(self, requires_grad: bool, where: str) -> None:
        if self.grad_fn is not None:
            raise RuntimeError(
                f"{where}: only leaf tensors can change requires_grad, this one was made by "
                f"{self.grad_fn.name()}; use .detach() to get a leaf from it"
            )
        if requires_grad and self.array.dtype.kind != "f":
            raise TypeError(
                f"{where}: only floating-point tensors can require grad, got dtype {self.array.dtype}; "
                f"convert first with .float() or .to(mr.float64)"
            )
        self._requires_grad = bool(requires_grad)

    def size(self, dim: int | None = None):
        """x.size() is the shape, as a mr.Size (a tuple); x.size(d) the length of axis d."""
        return Size(self.shape) if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self.array.size)

    def __len__(self) -> int:
        return self.shape[0]

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The values as a numpy array: self.array itself on the CPU, a copy from the GPU."""
        return self.array.get() if self.device == "cuda" else self.array

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """np.asarray(t) and np.testing accept a CPU tensor (its array; no copy unless asked)."""
        if self.device != "cpu":
            raise TypeError(
                f"can't convert a {self.device} tensor to numpy; copy it to the host first with .cpu()"
            )
        if copy:
            return np.array(self.array, dtype=dtype, copy=True)
        return np.asarray(self.array, dtype=dtype)

    def tolist(self):
        return self.numpy().tolist()

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.array.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous (shape {self.shape}); "
                f"use .any() or .all(), or compare one element"
            )
        return bool(self.item())

    def __index__(self) -> int:
        """A one-element integer (or bool) tensor used as an index: `classes[labels[j]]`, `range(n)`."""
        if self.dtype.kind not in "iub" or self.array.size != 1:
            raise TypeError(
                f"only integer tensors of a single element can be converted to an index, "
                f"got dtype {self.dtype}, shape {self.shape}"
            )
        return int(self.item())

    def detach(self) -> Tensor:
        """The same array, cut off from the graph (no grad_fn, requires_grad False).
        Unlike `.data` it shares the version counter, so an in-place change through it
        is still caught by a backward that needs these values (as in PyTorch)."""
        out = Tensor(self.array)
        out._version_counter = self._version_counter
        return out

    def to(self, *args, **kwargs) -> Tensor:
        """Move to a device or convert to a dtype, with torch's argument forms:
        x.to('cuda:0'), x.to(mr.device('cuda')), x.to(mr.float64), x.to('cuda', mr.float64),
        x.to(device=..., dtype=...), x.to(other_tensor) (its device and dtype).
        non_blocking and copy are accepted (copy=True always copies).

        A dtype conversion between floating dtypes is differentiable; a device move copies the leaf."""
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)  # every copy here is synchronous: nothing to ask for
        targets = list(args) + [kwargs.pop(k) for k in ("device", "dtype") if k in kwargs]
        if kwargs:
            raise TypeError(f"to: unexpected keyword arguments {sorted(kwargs)}")
        if len(targets) == 1 and isinstance(targets[0], Tensor):
            targets = [targets[0].device, targets[0].dtype]
        if not targets or len(targets) > 2:
            raise TypeError(f"to: expected a device and/or a dtype, got {len(targets)} arguments")
        out = self
        for target in targets:
            out = out._to(target)
        return out.clone() if copy and out is self else out

    def _to(self, target: str | Any) -> Tensor:
        """One conversion: a device ('cpu', 'cuda', 'cuda:N', mr.device) or a dtype."""
        device, index, dtype = device_or_dtype(target, "to")
        if device == "cpu":
            if self.device == "cpu":
                return self
            return Tensor(self.array.get(), requires_grad=self.requires_grad)
        if device == "cuda":
            cupy = backend.cupy_module()
            if self.device == "cuda" and index in (None, self.array.device.id):
                return self
            with cupy.cuda.Device(index):  # Device(None): the current one
                data = cupy.asarray(self.array) if self.device == "cpu" else self.array.copy()  # copy() crosses GPUs
            return Tensor(data, requires_grad=self.requires_grad)
        if dtype == self.dtype:
            return self
        if dtype.kind != "f" or self.dtype.kind != "f":
            return Tensor(self.array.astype(dtype))
        return apply(ops.Cast(dtype), self)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Tensor:
        """Copy to the GPU: the current one, or x.cuda(1) / x.cuda('cuda:1')."""
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def __repr__(self) -> str:
        prefix = "tensor("
        body = np.array2string(self.numpy(), separator=", ", prefix=prefix, precision=4)
        extras = []
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return prefix + body + "".join(", " + e for e in extras) + ")"

    # ------------------------------------------------------------------ gradients
    def register_hook(self, hook) -> RemovableHandle:
        """Call hook(grad) during backward with the gradient of this tensor, once it is complete;
        a Tensor it returns replaces the gradient (for what flows on, or, on a leaf, what is
        added into .grad). Returns a handle: handle.remove() unhooks it. As torch's."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require gradient")
        if self._backward_hooks is None:
            self._backward_hooks = OrderedDict()
        if self.grad_fn is not None:  # the walk runs them before grad_fn's backward (a leaf's: AccumulateGrad's)
            if self.grad_fn.tensor_pre_hooks is None:
                self.grad_fn.tensor_pre_hooks = {}
            self.grad_fn.tensor_pre_hooks[self.output_nr] = self._backward_hooks
        return add_hook(self._backward_hooks, hook, "register_hook")

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in .grad after backward (a leaf keeps it anyway).
        As torch's: it accumulates over backward calls like a leaf's."""
        if self.grad_fn is None:
            if not self.requires_grad:
                raise RuntimeError("retain_grad: can't retain_grad on Tensor that has requires_grad=False")
            return
        if self.grad_fn.retained_grads is None:
            self.grad_fn.retained_grads = {}
        self.grad_fn.retained_grads[self.output_nr] = weakref.ref(self)  # the graph does not keep the tensor alive
        self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        """Whether retain_grad() was called on this non-leaf tensor."""
        return self._retains_grad

    def register_post_accumulate_grad_hook(self, hook) -> RemovableHandle:
        """Call hook(self) during backward(), once this leaf's .grad holds everything that
        backward adds to it (as torch's; DistributedDataParallel starts averaging a
        gradient across processes from here, while the walk goes on to earlier layers).

        The walk runs a leaf's AccumulateGrad node once every op that uses the leaf has
        sent its part, so the hook sees the whole gradient, once per backward() that
        reaches the leaf. Returns a handle: handle.remove() unhooks it.
        """
        if self.grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors accumulate a .grad, and "
                               f"this one was made by {self.grad_fn.name()}; hook a leaf (a parameter)")
        if self._post_accumulate_grad_hooks is None:
            self._post_accumulate_grad_hooks = OrderedDict()
        return add_hook(self._post_accumulate_grad_hooks, hook, "register_post_accumulate_grad_hook")

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (set it to None, as PyTorch's default)."""
        self._grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Turn gradient tracking on or off for this leaf, in place (checked as the
        requires_grad setter checks it)."""
        self._set_requires_grad(requires_grad, "requires_grad_")
        return self

    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs: Sequence[Tensor] | None = None) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad, into leaf.grad.

        gradient: dL/d(self), same shape as self; may be omitted for a one-element
        tensor (then it is 1, i.e. we differentiate self itself). Gradients are
        *added* to leaf.grad, so call zero_grad between steps. The graph is freed
        afterwards unless retain_graph=True.

        inputs: as torch's, only these tensors (leaves or not) get their gradient added to
        .grad; every other leaf is left alone.

        The walk itself is minires.autograd.engine.backward (minires/autograd/engine.py).
        """
        engine.backward(self, gradient, retain_graph, create_graph, inputs)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return apply(ops.Add(), *_operands(self, other))

    def __radd__(self, other):
        return apply(ops.Add(), *_operands(other, self))

    def __sub__(self, other):
        return apply(ops.Sub(), *_operands(self, other))

    def __rsub__(self, other):
        return apply(ops.Sub(), *_operands(other, self))

    def __mul__(self, other):
        return apply(ops.Mul(), *_operands(self, other))

    def __rmul__(self, other):
        return apply(ops.Mul(), *_operands(other, self))

    def __truediv__(self, other):
        return apply(ops.Div(), *_operands(self, other))

    def __rtruediv__(self, other):
        return apply(ops.Div(), *_operands(other, self))

    def __neg__(self):
        return apply(ops.Neg(), self)

    # the method forms: x.div(255) is x / 255; alpha scales other first, as in torch
    def add(self, other, alpha=1) -> Tensor:
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other, alpha=1) -> Tensor:
        return self - (other if alpha == 1 else other * alpha)

    def mul(self, other) -> Tensor:
        return self * other

    def div(self, other, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is not None:
            raise NotImplementedError(f"div: rounding_mode={rounding_mode!r} is not supported in minires; "
                                      "use true division (rounding_mode=None)")
        return self / other

    def neg(self) -> Tensor:
        return -self

    def __pow__(self, exponent):
        if isinstance(exponent, (int, float)):
            return apply(ops.PowScalar(exponent), self)
        return apply(ops.Pow(), *_operands(self, exponent))

    def __rpow__(self, base):
        return apply(ops.Pow(), *_operands(base, self))

    def matmul(self, other) -> Tensor:
        """Matrix product with numpy's rules: (..., n, k) @ (..., k, m) -> (..., n, m);
        a 1-D operand is treated as a row (left) or column (right) vector and that axis dropped."""
        a, b = _operands(self, other)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
        a2 = a.unsqueeze(0) if a.ndim == 1 else a
        b2 = b.unsqueeze(-1) if b.ndim == 1 else b
        if a2.shape[-1] != b2.shape[-2]:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} do not match: "
                f"{a2.shape[-1]} columns in the first vs {b2.shape[-2]} rows in the second"
            )
        y = apply(ops.MatMul(), a2, b2)
        if a.ndim == 1:
            y = y.squeeze(-2)
        if b.ndim == 1:
            y = y.squeeze(-1)
        return y

    def __matmul__(self, other):
        return self.matmul(other)

    def __rmatmul__(self, other):
        return _as_tensor(other, like=self).matmul(self)

    # comparisons give bool tensors that carry no gradient
    def __lt__(self, other):
        return _compare(np.less, self, other)

    def __le__(self, other):
        return _compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _compare(np.greater, self, other)

    def __ge__(self, other):
        return _compare(np.greater_equal, self, other)

    def __eq__(self, other):  # type: ignore[override]
        return _compare(np.equal, self, other)

    def __ne__(self, other):  # type: ignore[override]
        return _compare(np.not_equal, self, other)

    # ------------------------------------------------------------------ elementwise
    def exp(self) -> Tensor:
        return apply(ops.Exp(), self)

    def log(self) -> Tensor:
        return apply(ops.Log(), self)

    def sqrt(self) -> Tensor:
        return apply(ops.Sqrt(), self)

    def tanh(self) -> Tensor:
        return apply(ops.Tanh(), self)

    def sigmoid(self) -> Tensor:
        return apply(ops.Sigmoid(), self)

    def relu(self) -> Tensor:
        return apply(ops.Relu(), self)

    def abs(self) -> Tensor:
        return apply(ops.Abs(), self)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Limit every entry to [min, max]; either bound may be None. The gradient passes
        where min <= x <= max (bounds included), as in PyTorch. clip is the same."""
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            raise NotImplementedError(
                "clamp: tensor bounds are not supported in minires; use mr.maximum(x, low) / mr.minimum(x, high)"
            )
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must not be None")
        return apply(ops.Clip(min, max), self)

    clip = clamp

    def maximum(self, other) -> Tensor:
        return apply(ops.Maximum(), *_operands(self, other))

    def minimum(self, other) -> Tensor:
        return -((-self).maximum(-_as_tensor(other, like=self)))  # min(a, b) = -max(-a, -b)

    def log_softmax(self, dim: int = -1) -> Tensor:
        return apply(ops.LogSoftmax(dim), self)

    def softmax(self, dim: int = -1) -> Tensor:
        return apply(ops.Softmax(dim), self)

    # ------------------------------------------------------------------ reductions
    # dim/keepdim, or numpy's axis/keepdims (torch accepts both, so unbroadcast runs on Tensors too)
    def sum(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False) -> Tensor:
        return apply(ops.Sum(axis if dim is None else dim, keepdim or keepdims), self)

    def mean(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False) -> Tensor:
        return apply(ops.Mean(axis if dim is None else dim, keepdim or keepdims), self)

    def sum_to_size(self, *size) -> Tensor:
        """Sum this tensor down to `size`, which must broadcast to its shape (undoes a broadcast)."""
        return ops.unbroadcast(self, _shape_arg(size))

    def max(self, dim=None, keepdim: bool = False):
        """As torch.max, three forms:
          x.max()          the largest entry, a 0-d tensor (tied maxima share the gradient evenly)
          x.max(dim)       a named tuple (values, indices) over one axis: `_, predicted = out.max(1)`;
                           the gradient of values goes to the entry indices names (the first of ties)
          x.max(other)     the elementwise maximum with another tensor (mr.maximum)
        For several axes at once use amax."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        if dim is None and keepdim:
            raise TypeError("max: keepdim=True needs a dim; for all axes use amax(keepdim=True)")
        if dim is None:
            return apply(ops.Max(None, False), self)
        return self._reduce_with_indices("max", dim, keepdim)

    def min(self, dim=None, keepdim: bool = False):
        """As max, for the smallest: x.min(), x.min(dim) -> (values, indices), x.min(other)."""
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        if dim is None and keepdim:
            raise TypeError("min: keepdim=True needs a dim; for all axes use amin(keepdim=True)")
        if dim is None:
            return -((-self).max())  # min(x) = -max(-x)
        return self._reduce_with_indices("min", dim, keepdim)

    def var(self, dim=None, keepdim: bool = False, correction: int = 1) -> Tensor:
        """Variance over dim; correction=1 (default, as torch.var) divides by m - 1."""
        return apply(ops.Var(dim, keepdim, correction), self)

    def std(self, dim=None, keepdim: bool = False, correction: int = 1) -> Tensor:
        return self.var(dim, keepdim, correction).sqrt()

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Indices of the largest entries (int64, no gradient)."""
        xp = backend.array_module(self.array)
        return Tensor(xp.argmax(self.array, axis=dim, keepdims=keepdim))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        xp = backend.array_module(self.array)
        return Tensor(xp.argmin(self.array, axis=dim, keepdims=keepdim))

    # ------------------------------------------------------------------ reductions that return indices
    # max(dim) and min(dim) (above), sort and topk pick entries; their values are the picked
    # entries, taken with ops.TakeAlongDim, so the gradient goes back to exactly those entries.
    def _reduce_with_indices(self, name: str, dim, keepdim: bool):
        if not isinstance(dim, (int, np.integer)):
            raise TypeError(f"{name}: dim must be one int, got {dim!r}; for several axes use a{name}(dim)")
        dim = _one_axis(dim, self.ndim, name)
        xp = backend.array_module(self.array)
        pick = xp.argmax if name == "max" else xp.argmin  # the first of tied entries, as torch
        indices = pick(self.array, axis=dim, keepdims=True)
        values = apply(ops.TakeAlongDim(indices, dim), self)
        if not keepdim:
            values, indices = values.squeeze(dim), indices.squeeze(dim)
        return getattr(return_types, name)(values, Tensor(indices))

    def amax(self, dim=None, keepdim: bool = False) -> Tensor:
        """Largest entries over dim (an int, a tuple, or None for all); values only.
        Tied maxima share the gradient evenly (as torch.amax)."""
        return apply(ops.Max(dim, keepdim), self)

    def amin(self, dim=None, keepdim: bool = False) -> Tensor:
        return -((-self).amax(dim, keepdim))  # amin(x) = -amax(-x)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """(values, indices) with the entries along dim in order; equal entries keep their
        order (always stable). values' gradient goes back to where each entry came from."""
        dim = _one_axis(dim, self.ndim, "sort")
        indices = _argsort(self.array, dim, descending)
        return return_types.sort(apply(ops.TakeAlongDim(indices, dim), self), Tensor(indices))

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        """(values, indices) of the k largest (largest=False: smallest) entries along dim,
        in sorted order (sorted=False is allowed; the order is then sorted anyway)."""
        dim = _one_axis(dim, self.ndim, "topk")
        n = self.shape[dim] if self.ndim else 1
        if not 0 <= k <= n:
            raise ValueError(f"topk: k must lie in [0, {n}] for dim {dim} of shape {self.shape}, got {k}")
        xp = backend.array_module(self.array)
        indices = xp.take(_argsort(self.array, dim, descending=largest), xp.arange(k), axis=dim)
        return return_types.topk(apply(ops.TakeAlongDim(indices, dim), self), Tensor(indices))

    # ------------------------------------------------------------------ comparison (torch's named forms)
    def eq(self, other) -> Tensor:
        return self == other

    def ne(self, other) -> Tensor:
        return self != other

    def lt(self, other) -> Tensor:
        return self < other

    def le(self, other) -> Tensor:
        return self <= other

    def gt(self, other) -> Tensor:
        return self > other

    def ge(self, other) -> Tensor:
        return self >= other

    def any(self, dim=None, keepdim: bool = False) -> Tensor:
        """Whether any entry (over dim) is nonzero / True; a bool tensor, no gradient."""
        return Tensor(self.array.any(axis=dim, keepdims=keepdim))

    def all(self, dim=None, keepdim: bool = False) -> Tensor:
        return Tensor(self.array.all(axis=dim, keepdims=keepdim))

    # ------------------------------------------------------------------ dtype casts
    # float() and double() (above) are differentiable; casts to integer and bool are not
    # (their output carries no gradient), as in PyTorch.
    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor converted to other's dtype."""
        return self.to(other.dtype)

    # ------------------------------------------------------------------ torch-named shape and math helpers
    def dim(self) -> int:
        """The number of axes (x.ndim)."""
        return self.ndim

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"

    def clone(self) -> Tensor:
        """A copy in new memory, still in the graph: the gradient flows through to self."""
        return apply(ops.Clone(), self)

    def pow(self, exponent) -> Tensor:
        return self**exponent

    def norm(self, p: float | str = "fro", dim=None, keepdim: bool = False) -> Tensor:
        """The p-norm over dim (None: all entries), p in {1, 2, inf, 'fro'} ('fro' = 2 over
        the entries, the Frobenius norm of a matrix). At a zero norm the gradient is 0."""
        if p == "fro":
            p = 2
        if p not in (1, 2, float("inf")):
            raise NotImplementedError(f"norm: p={p!r} is not supported in minires; use p = 1, 2, inf or 'fro'")
        return apply(ops.Norm(p, dim, keepdim), self)

    def t(self) -> Tensor:
        """The transpose of a matrix (0-d and 1-d tensors come back as they are)."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with <= 2 dimensions, got shape {self.shape}; use transpose(d0, d1)")
        return self.transpose(0, 1) if self.ndim == 2 else self

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    # ------------------------------------------------------------------ movement
    def reshape(self, *shape) -> Tensor:
        shape = _shape_arg(shape)
        if shape == self.shape:
            return self
        return apply(ops.Reshape(shape), self)

    def view(self, *shape) -> Tensor:
        """The same as reshape here: minires has no strides of its own, so a view is a reshape
        (it shares memory where numpy can; unlike torch it never refuses a non-contiguous input)."""
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer, tuple, list)):
            raise NotImplementedError(f"view: view(dtype) (reinterpreting the bytes) is not supported, got {shape[0]!r}")
        return self.reshape(*shape)

    def permute(self, *dims) -> Tensor:
        dims = tuple(d % max(self.ndim, 1) for d in _shape_arg(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the {self.ndim} axes of shape {self.shape}")
        return apply(ops.Permute(dims), self)

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """Swap two axes (the last two by default)."""
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(dims)

    @property
    def T(self) -> Tensor:
        """All axes reversed (a matrix's transpose)."""
        return self.permute(tuple(reversed(range(self.ndim))))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge axes start_dim..end_dim into one: (N, C, H, W).flatten(1) -> (N, C*H*W)."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        merged = int(np.prod(self.shape[start : end + 1]))
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1 :])

    def squeeze(self, dim: int | None = None) -> Tensor:
        """Drop axes of size 1 (only `dim`, if given and of size 1)."""
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dim = dim % max(self.ndim, 1)
        if self.ndim == 0 or self.shape[dim] != 1:
            return self
        return self.reshape(self.shape[:dim] + self.shape[dim + 1 :])

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert an axis of size 1 at position dim (negative counts from the end)."""
        dim = dim % (self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def expand(self, *shape) -> Tensor:
        """Broadcast to shape (-1 keeps an axis as it is)."""
        shape = _shape_arg(shape)
        lead = len(shape) - self.ndim
        shape = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
        return apply(ops.Expand(shape), self)

    def __getitem__(self, index) -> Tensor:
        return apply(ops.GetItem(_raw_index(index)), self)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # ------------------------------------------------------------------ in-place ops
    # An in-place op is its out-of-place op, run on `before` (a Tensor standing for self
    # as it was: same array, same history), whose result is then written back into
    # self.array, so every view of that array (.data, .numpy()) sees it. The result's
    # node becomes self's grad_fn (its input is self's old history: PyTorch "rebases"
    # it) and self's version goes up by one, which is how a backward that still needs
    # the old values notices. As in PyTorch:
    #   - a leaf that requires grad refuses (its .grad would be for values it no longer
    #     holds), except under no_grad, which is how optimizers update weights;
    #   - the result must keep self's shape and dtype.
    # Memory: the result is computed into a temporary and copied in; the saving is that
    # the graph keeps one array, not two (relu_ after a BN keeps only the relu output).
    # Optimizers write p.array directly without bumping the version, so a backward
    # through a graph built before optimizer.step() is not caught (PyTorch would be).

    def add_(self, other) -> Tensor:
        before = self._before_inplace("add_")
        return self._take_over(before + other, before, "add_")

    def sub_(self, other) -> Tensor:
        before = self._before_inplace("sub_")
        return self._take_over(before - other, before, "sub_")

    def mul_(self, other) -> Tensor:
        # mul's backward reads self's old values for other's gradient: keep a copy then
        before = self._before_inplace("mul_", keep_values=_needs_grad(other))
        return self._take_over(before * other, before, "mul_")

    def div_(self, other) -> Tensor:
        before = self._before_inplace("div_", keep_values=_needs_grad(other))  # as mul_
        return self._take_over(before / other, before, "div_")

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:
        # clip's backward needs the old values (y == min can come from x == min or x < min)
        before = self._before_inplace("clamp_", keep_values=_needs_grad(self))
        return self._take_over(before.clip(min, max), before, "clamp_")

    clip_ = clamp_

    def relu_(self) -> Tensor:
        # relu keeps its output for backward, which is self's array from now on: no copy
        before = self._before_inplace("relu_")
        return self._take_over(before.relu(), before, "relu_")

    def fill_(self, value) -> Tensor:
        self[...] = value
        return self

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def copy_(self, src) -> Tensor:
        """Copy src's values (broadcast to self's shape, converted to self's dtype) into self."""
        if isinstance(src, Tensor) and src.dtype != self.dtype:
            src = src.to(self.dtype)
        self[...] = src
        return self

    def __setitem__(self, index, value) -> None:
        """x[index] = value, differentiable in x (zero where overwritten) and in value."""
        before = self._before_inplace("__setitem__")
        if not (is_grad_enabled() and (self.requires_grad or _needs_grad(value))):
            # nothing to record: write straight into the array (numpy casts the dtype)
            self.array[_raw_index(index)] = value.array if isinstance(value, Tensor) else value
            self._version_counter.value += 1
            return
        before, value = _operands(before, value)
        self._take_over(apply(ops.SetItem(_raw_index(index)), before, value), before, "__setitem__")

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def _before_inplace(self, where: str, keep_values: bool = False) -> Tensor:
        """A Tensor standing for self before an in-place op: self's history, and self's array
        and version counter (or, with keep_values, a copy of the array that nothing will
        change, for a backward that needs the old values)."""
        if self.requires_grad and self.grad_fn is None and is_grad_enabled():
            raise RuntimeError(
                f"{where}: a leaf Variable that requires grad is being used in an in-place operation. "
                f"(Update weights under `with minires.no_grad():`, or do it out of place.)"
            )
        before = Tensor(self.array.copy() if keep_values and is_grad_enabled() else self.array)
        if before.array is self.array:
            before._version_counter = self._version_counter
        before.grad_fn, before._requires_grad, before.output_nr = self.grad_fn, self.requires_grad, self.output_nr
        return before

    def _take_over(self, out: Tensor, before: Tensor, where: str) -> Tensor:
        """Write out's values into self.array and make out's node self's grad_fn."""
        if out.shape != self.shape:
            raise RuntimeError(f"{where}: output with shape {list(self.shape)} doesn't match the broadcast "
                               f"shape {list(out.shape)}")
        if out.dtype != self.dtype:
            raise RuntimeError(f"{where}: result type {out.dtype} can't be cast to the desired output type "
                               f"{self.dtype}")
        self.array[...] = out.array
        self._version_counter.value += 1
        fn = out.grad_fn
        if fn is not None:
            for name, value in list(vars(fn).items()):  # fn kept its output (relu): that is self.array now
                if value is out.array:
                    setattr(fn, name, self.array)
            # fn's kept output is self's array as just written: expect self's new version.
            # An uncopied `before` it kept (mul_ by a constant keeps a, for b's gradient
            # only) is never read: the in-place op copies whatever its backward reads.
            fn.saved_versions = tuple(
                (self._version_counter, self._version, self.array, None) if t is None else entry
                for entry in fn.saved_versions
                if (t := entry[3]) is not before or before.array is not self.array
            )
            self.grad_fn, self._requires_grad, self.output_nr = fn, True, out.output_nr
        return self


# ---------------------------------------------------------------------- helpers


def _needs_grad(value: Any) -> bool:
    """Whether value is a Tensor that an op recorded now would differentiate."""
    return isinstance(value, Tensor) and value.requires_grad and is_grad_enabled()


def _as_tensor(value: Any, like: Tensor) -> Tensor:
    """Tensors pass through; Python numbers and arrays become constants on like's device.

    A Python number takes like's dtype, so `x * 2` stays float32 (as in PyTorch)."""
    if isinstance(value, Tensor):
        return value
    xp = backend.array_module(like.array)
    if isinstance(value, (bool, int, float)) and like.dtype.kind == "f":
        return Tensor(xp.asarray(value, dtype=like.dtype))
    return Tensor(xp.asarray(value))


def _operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as Tensors; a bool or integer tensor meeting a
    float tensor is converted to the float dtype (e.g. `x * mask`)."""
    like = a if isinstance(a, Tensor) else b
    a, b = _as_tensor(a, like), _as_tensor(b, like)
    if a.dtype.kind == "f" and b.dtype.kind in "biu":
        b = Tensor(b.array.astype(a.dtype))
    elif b.dtype.kind == "f" and a.dtype.kind in "biu":
        a = Tensor(a.array.astype(b.dtype))
    return a, b


def _compare(op, a: Tensor, b: Any) -> Tensor:
    a, b = _operands(a, b)
    engine.check_same_device_and_dtype(op.__name__, (a, b))
    return Tensor(op(a.array, b.array))


def _shape_arg(shape: tuple) -> tuple[int, ...]:
    """Accept f(2, 3) and f((2, 3)) alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(n) for n in shape)


def _raw_index(index):
    """An index with any Tensors in it replaced by their arrays."""
    if isinstance(index, tuple):
        return tuple(p.array if isinstance(p, Tensor) else p for p in index)
    return index.array if isinstance(index, Tensor) else index


def _one_axis(dim: int, ndim: int, where: str) -> int:
    """dim as a non-negative axis of an ndim-d tensor (a 0-d tensor accepts 0 and -1)."""
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{where}: dim {dim} is out of range for a {ndim}-d tensor")
    return dim % max(ndim, 1)


def _argsort(a: Any, axis: int, descending: bool) -> Any:
    """Indices that sort a along axis, stable (equal entries keep their order)."""
    xp = backend.array_module(a)
    if a.ndim == 0:
        return xp.zeros((), dtype=np.int64)
    if descending:  # sort -a ascending: still stable, unlike reversing an ascending sort
        a = -a.astype(np.int64) if a.dtype.kind in "bu" else -a
    return xp.argsort(a, axis=axis, kind="stable")


# The engine makes Tensors and Tensor's methods call the engine, so the two modules need each
# other. This import comes last, once Tensor exists for engine.py's `from ..tensor import Tensor`;
# minires/__init__.py imports this module before minires.autograd for the same reason.
from .autograd import engine
from .autograd.engine import apply
