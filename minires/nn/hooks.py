"""Module hooks, as PyTorch's: look at (or change) what a layer receives and returns, forward
and backward, without touching its code.

    acts = {}
    model.layer1.register_forward_hook(lambda m, args, out: acts.update(layer1=out.detach()))
    model.layer1.register_full_backward_hook(lambda m, grad_in, grad_out: print(grad_out[0].norm()))

Forward hooks are plain calls around forward. Backward hooks need the gradients with
respect to the module's inputs and outputs, which exist only during the backward walk:
so, as PyTorch does, the module's tensor inputs and outputs pass through an identity
autograd.Function (`_Identity`), and a pre-hook on each identity node sees the
gradient arriving there. The output side sees grad_output (and runs the backward
pre-hooks), the input side grad_input, and calls the backward hooks with both.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ..autograd.function import Function
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from ..utils.hooks import RemovableHandle, add_hook

if TYPE_CHECKING:
    from .module import Module


def register(module: Module, table: str, hook: Any, where: str, prepend: bool = False,
             extra: dict | None = None) -> RemovableHandle:
    """Put hook into module.<table> (an OrderedDict made on first use); extra[handle.id] notes
    per-hook options (with_kwargs, always_call)."""
    hooks = module.__dict__.get(table)
    if hooks is None:
        hooks = OrderedDict()
        object.__setattr__(module, table, hooks)
    handle = add_hook(hooks, hook, f"{type(module).__name__}.{where}", prepend)
    if extra:
        options = module.__dict__.setdefault("_hook_options", {})
        options[handle.id] = extra
    return handle


def call_with_hooks(module: Module, args: tuple, kwargs: dict) -> Any:
    """module(*args, **kwargs) with its hooks, in PyTorch's order: forward pre-hooks, (inputs
    wrapped for backward hooks), forward, forward hooks, (outputs wrapped)."""
    options = module.__dict__.get("_hook_options", {})
    for key, hook in list((module._forward_pre_hooks or {}).items()):
        if options.get(key, {}).get("with_kwargs"):
            result = hook(module, args, kwargs)
            if result is not None:
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    backward_hook = None
    if (module._backward_hooks or module._backward_pre_hooks) and is_grad_enabled():
        backward_hook = _BackwardHook(module)
        args = backward_hook.wrap_inputs(args)
    try:
        output = module.forward(*args, **kwargs)
    except Exception:
        for key, hook in list((module._forward_hooks or {}).items()):
            if options.get(key, {}).get("always_call"):
                hook(module, args, None)  # as PyTorch: told the call failed, then the error goes on
        raise
    for key, hook in list((module._forward_hooks or {}).items()):
        with_kwargs = options.get(key, {}).get("with_kwargs")
        result = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
        if result is not None:
            output = result
    if backward_hook is not None:
        output = backward_hook.wrap_outputs(output)
    return output


class _Identity(Function):
    """y = x for each tensor: a node for the backward hooks to stand on."""

    @staticmethod
    def forward(ctx, *tensors: Tensor) -> tuple:
        ctx.set_materialize_grads(False)  # an output that gets no gradient stays None for the hooks
        return tensors

    @staticmethod
    def backward(ctx, *grads: Tensor | None) -> tuple:
        return grads  # d(x)/dx = 1


class _BackwardHook:
    """One call's backward hooks: grad_output is noted on the output side, the hooks run on the
    input side (or at once, with grad_input all None, when no input needs a gradient)."""

    def __init__(self, module: Module):
        self.module = module
        self.n_args = 0
        self.grad_output: tuple | None = None
        self.input_positions: list[int] = []  # which positional arguments went through the identity

    def wrap_inputs(self, args: tuple) -> tuple:
        self.n_args = len(args)
        self.input_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not self.input_positions or not self.module._backward_hooks:
            self.input_positions = []
            return args
        wrapped = _Identity.apply(*(args[i] for i in self.input_positions))
        wrapped[0].grad_fn.register_prehook(self._on_grad_input)
        args = list(args)
        for i, t in zip(self.input_positions, wrapped):
            args[i] = t
        return tuple(args)

    def wrap_outputs(self, output: Any) -> Any:
        single = isinstance(output, Tensor)
        outputs = (output,) if single else tuple(output) if isinstance(output, (tuple, list)) else ()
        positions = [i for i, o in enumerate(outputs) if isinstance(o, Tensor) and o.requires_grad]
        if not positions:
            return output
        wrapped = _Identity.apply(*(outputs[i] for i in positions))
        wrapped[0].grad_fn.register_prehook(self._on_grad_output)
        self.output_count, self.output_positions = len(outputs), positions
        new = list(outputs)
        for i, t in zip(positions, wrapped):
            new[i] = t
        return new[0] if single else type(output)(new)

    def _on_grad_output(self, grads: tuple) -> tuple | None:
        """The gradients of the module's outputs: run the backward pre-hooks, keep the result."""
        grad_output = [None] * self.output_count
        for i, g in zip(self.output_positions, grads):
            grad_output[i] = g
        grad_output, changed = tuple(grad_output), False
        for hook in list((self.module._backward_pre_hooks or {}).values()):
            result = hook(self.module, grad_output)
            if result is not None:
                grad_output, changed = _as_tuple(result), True
        self.grad_output = grad_output
        if not self.input_positions and self.module._backward_hooks:  # no input gradient will come
            self._call_backward_hooks((None,) * self.n_args)
        return tuple(grad_output[i] for i in self.output_positions) if changed else None

    def _on_grad_input(self, grads: tuple) -> tuple | None:
        """The gradients of the module's inputs: call the backward hooks; one may replace them."""
        grad_input = [None] * self.n_args
        for i, g in zip(self.input_positions, grads):
            grad_input[i] = g
        new = self._call_backward_hooks(tuple(grad_input))
        return None if new is None else tuple(new[i] for i in self.input_positions)

    def _call_backward_hooks(self, grad_input: tuple) -> tuple | None:
        changed = None
        for hook in list((self.module._backward_hooks or {}).values()):
            result = hook(self.module, grad_input, self.grad_output)
            if result is not None:
                result = _as_tuple(result)
                if len(result) != len(grad_input):
                    raise RuntimeError(f"{type(self.module).__name__} backward hook returned {len(result)} "
                                       f"gradients for {len(grad_input)} inputs")
                grad_input = changed = result
        return changed


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else tuple(value) if isinstance(value, list) else (value,)
