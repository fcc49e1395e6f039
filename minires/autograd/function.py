"""torch.autograd.Function: your own op, its forward and backward written with Tensors.

    class LegendrePolynomial3(mr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 0.5 * (5 * x**3 - 3 * x)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * x**2 - 1)    # d/dx P3(x) = 1.5 (5x^2 - 1)

    y = LegendrePolynomial3.apply(x)      # y.grad_fn.name() == 'LegendrePolynomial3Backward'

One mechanism, two sides. minires's own ops (minires/ops/) are Functions on arrays that
`engine.apply` records as nodes of the graph. `Function.apply` records a node too, with
the same `engine.record`: the ctx your forward and backward receive, a BackwardFunction,
which is an ops.Function whose backward unpacks the arrays the walk holds into Tensors,
calls your backward, and checks what it returns. Because your backward is written with
Tensor ops, backward(create_graph=True) records it, and it can be differentiated again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .. import backend, ops
from ..grad_mode import is_grad_enabled, no_grad
from ..tensor import Tensor
from . import engine, higher_order


class BackwardFunction(ops.Function):
    """The ctx of one Function.apply call, and the graph node of its outputs.

    What forward may call on it: save_for_backward, mark_dirty, mark_non_differentiable,
    set_materialize_grads; and any attribute may be set on it (ctx.k = 3). backward reads
    saved_tensors (version-checked) and needs_input_grad (one bool per forward argument).
    """

    def __init__(self, function_cls: type[Function], args: tuple):
        self.function_cls = function_cls
        self.arg_is_tensor = tuple(isinstance(a, Tensor) for a in args)
        self.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        self.to_save: tuple = ()
        self.dirty_tensors: tuple = ()
        self.non_differentiable: tuple = ()
        self.materialize_grads = True

    def name(self) -> str:
        return f"{self.function_cls.__name__}Backward"

    def free(self) -> None:
        function_cls = self.function_cls  # the node keeps its name after its saved tensors go
        super().free()
        self.function_cls = function_cls

    # ------------------------------------------------------------------ what forward calls
    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep these tensors (inputs or outputs) for backward; read them back with saved_tensors."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save tensors (or None), but argument {i} is "
                                f"{type(t).__name__}; keep other values as attributes of ctx (ctx.k = k)")
        self.to_save = tensors

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Declare the inputs that forward changed in place (and returns): they become outputs of this node."""
        self.dirty_tensors = tensors

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Declare outputs that have no gradient (indices, masks); backward still gets a (zero) gradient for each."""
        self.non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """True (the default): an output that got no gradient is given zeros; False: None."""
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self) -> tuple:
        """The tensors save_for_backward kept, after checking none was changed in place since."""
        if self.freed:
            raise RuntimeError("Trying to backward through the graph a second time (or directly access saved "
                               "tensors after they have already been freed). Specify retain_graph=True when "
                               "calling backward the first time")
        for t, version in zip(self.to_save, self.saved_versions_at_forward):
            if t is not None and t._version != version:
                engine.raise_modified_inplace(self, t._version, version, t.array, t)
        return self.to_save

    # ------------------------------------------------------------------ what the walk calls
    def backward(self, *grad_outputs: Any) -> tuple:
        """The first-order walk: arrays in, arrays out (one per tensor input)."""
        grads = self._call_user_backward(tuple(None if g is None else Tensor(g) for g in grad_outputs))
        return tuple(None if g is None else g.array for g in grads)

    def backward_recorded(self, *grad_outputs: Tensor | None, saved: Any = None) -> tuple:
        """backward(create_graph=True): Tensors in and out, your backward recorded as a graph."""
        return self._call_user_backward(grad_outputs)

    def _call_user_backward(self, grad_outputs: tuple) -> tuple:
        if self.materialize_grads:
            grad_outputs = tuple(_zeros(meta) if g is None else g for g, meta in zip(grad_outputs, self.output_meta))
        results = self.function_cls.backward(self, *grad_outputs)
        return self._check_gradients(results if isinstance(results, tuple) else (results,))

    def _check_gradients(self, results: tuple) -> tuple:
        """One gradient per forward argument, as PyTorch checks them; returns one per tensor input,
        summed down to the input's shape where it was broadcast."""
        n_args = len(self.arg_is_tensor)
        if len(results) < n_args or any(r is not None for r in results[n_args:]):
            raise RuntimeError(f"function {self.name()} returned an incorrect number of gradients "
                               f"(expected {n_args}, got {len(results)})")
        grads, shapes = [], iter(self.input_shapes)
        for i, (g, is_tensor) in enumerate(zip(results, self.arg_is_tensor)):
            if not is_tensor:
                if g is not None:
                    raise RuntimeError(f"function {self.name()} returned a gradient different than None at "
                                       f"position {i + 1}, but the corresponding forward input was not a Variable")
                continue
            shape = next(shapes)
            if g is not None:
                if not isinstance(g, Tensor):
                    raise TypeError(f"function {self.name()} returned a {type(g).__name__} as the gradient at "
                                    f"position {i + 1}; expected a Tensor or None")
                g = _sum_to(g, shape, self.name(), i)
            grads.append(g if self.needs_input_grad[i] else None)
        return tuple(grads)


class Function:
    """Subclass it with two static methods, then call YourFunction.apply(*args):

    forward(ctx, *args, **kwargs) -> Tensor or tuple   runs with gradients off, on Tensors
    backward(ctx, *grad_outputs) -> one gradient per forward argument (None for a non-tensor
                                    argument, or an input that needs none)
    """

    @staticmethod
    def forward(ctx: BackwardFunction, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx: BackwardFunction, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"{type(self).__name__}: autograd.Function is used through its static methods: "
                           f"call {type(self).__name__}.apply(...), not {type(self).__name__}()(...)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run forward and, if an input tensor requires grad, record the call as one node of the graph."""
        ctx = BackwardFunction(cls, args)
        inputs = tuple(a for a in args if isinstance(a, Tensor))
        with no_grad():  # forward's own Tensor ops are not recorded: this node stands for all of them
            outputs = cls.forward(ctx, *args, **kwargs)
        is_tuple = isinstance(outputs, tuple)
        outputs = tuple(_output(o, inputs, ctx.dirty_tensors) for o in (outputs if is_tuple else (outputs,)))
        tensor_outputs = [o for o in outputs if isinstance(o, Tensor)]
        if is_grad_enabled() and any(t.requires_grad for t in inputs):
            for t in ctx.dirty_tensors:
                if t.grad_fn is None and t.requires_grad:
                    raise RuntimeError(f"{cls.__name__}: a leaf Variable that requires grad has been used in an "
                                       "in-place operation (mark_dirty on a leaf); change a copy instead")
            needs_input_grad = ctx.needs_input_grad  # per forward argument, as PyTorch's ctx has it
            engine.record(ctx, inputs, tensor_outputs)
            ctx.needs_input_grad, ctx.num_outputs = needs_input_grad, len(tensor_outputs)
            ctx.output_meta = [(o.shape, o.dtype, backend.array_module(o.array)) for o in tensor_outputs]
            for o in tensor_outputs:
                if any(o is n for n in ctx.non_differentiable):
                    o._requires_grad, o.grad_fn = False, None
        ctx.saved_versions_at_forward = tuple(None if t is None else t._version for t in ctx.to_save)
        return outputs if is_tuple else outputs[0]


def _output(o: Any, inputs: tuple, dirty: tuple) -> Any:
    """An input that forward returns unchanged comes back as a new tensor on the same values
    (as PyTorch's view), so its own graph stays as it was; a dirty one is the input itself."""
    if isinstance(o, Tensor) and any(o is t for t in inputs) and not any(o is t for t in dirty):
        view = Tensor(o.array)
        view._version_counter = o._version_counter
        return view
    return o


def _zeros(meta: tuple) -> Tensor:
    shape, dtype, xp = meta
    return Tensor(xp.zeros(shape, dtype=dtype))


def _sum_to(g: Tensor, shape: tuple, name: str, index: int) -> Tensor:
    """g summed down to shape, where shape broadcasts to g's shape (PyTorch does the same)."""
    lead = len(g.shape) - len(shape)
    if lead < 0 or any(n not in (1, m) for n, m in zip(shape, g.shape[lead:])):
        raise RuntimeError(f"Function {name} returned an invalid gradient at index {index} - got "
                           f"{list(g.shape)} but expected shape compatible with {list(shape)}")
    return g.sum_to_size(shape)


def once_differentiable(backward: Callable) -> Callable:
    """Decorate a Function's backward that is not written to be differentiated again: it runs
    without recording, and under create_graph its gradients raise if differentiated again."""

    @functools.wraps(backward)
    def wrapper(ctx: BackwardFunction, *grad_outputs: Any) -> Any:
        recording = is_grad_enabled()
        with no_grad():
            results = backward(ctx, *grad_outputs)
        if not recording:
            return results
        message = "trying to differentiate twice a function that was marked with @once_differentiable"
        is_tuple = isinstance(results, tuple)
        results = higher_order.not_twice_differentiable(ctx, results if is_tuple else (results,), grad_outputs, message,
                                                         through_inputs=False)
        return results if is_tuple else results[0]

    return wrapper
