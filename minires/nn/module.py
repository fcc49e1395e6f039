"""Module and Parameter: the PyTorch-shaped way to hold a model's weights.

A Module finds its parameters, buffers and sub-modules by looking at what you assign
to it in __init__:

    class TwoLayer(Module):
        def __init__(self):
            super().__init__()
            self.fc1 = Linear(4, 8)          # a sub-module, named "fc1"
            self.scale = Parameter(ones(8))  # a parameter, named "scale"
            self.register_buffer("steps", zeros(1))   # saved in state_dict, never trained

        def forward(self, x):
            return self.fc1(x) * self.scale

so `model.parameters()`, `model.state_dict()`, `model.to("cuda")` and `model.eval()` all
work by walking that tree.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import backend
from ..device import device_or_dtype
from ..tensor import Tensor
from ..utils.hooks import RemovableHandle
from . import hooks


class Parameter(Tensor):
    """A Tensor that is a trainable weight of a Module (requires_grad=True by default)."""

    def __init__(self, data: Any, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)  # a Tensor gives its array

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model. Subclasses set attributes in __init__ and
    implement forward; calling the module calls forward."""

    training: bool
    # hooks, by handle id (minires/nn/hooks.py); None until one is registered, as for most modules
    _forward_pre_hooks: OrderedDict | None = None
    _forward_hooks: OrderedDict | None = None
    _backward_pre_hooks: OrderedDict | None = None
    _backward_hooks: OrderedDict | None = None

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning {name!r}")
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif isinstance(value, Tensor) and name in self.__dict__.get("_buffer_names", ()):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:  # only called when normal lookup fails
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table, {})
            if name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        """A tensor that belongs to the module's state (saved, moved with .to) but is not
        trained, such as BatchNorm's running mean."""
        names = self.__dict__.setdefault("_buffer_names", set())
        names.add(name)
        if tensor is None:
            self._buffers[name] = None
        else:
            setattr(self, name, tensor)

    # ---------------------------------------------------------------- registration by name, as torch
    def add_module(self, name: str, module: Module | None) -> None:
        """Register a sub-module (or None) under name: the same as setattr(self, name, module)."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"add_module: a module name must be a non-empty string without '.', got {name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, got {type(module).__name__}")
        if module is None:
            for table in (self._parameters, self._buffers):
                table.pop(name, None)
            self.__dict__.pop(name, None)
            self._modules[name] = None
        else:
            setattr(self, name, module)

    register_module = add_module

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register a Parameter (or None, as Linear's bias=False) under name."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        if param is None:
            for table in (self._buffers, self._modules):
                table.pop(name, None)
            self.__dict__.pop(name, None)
            self._parameters[name] = None
        else:
            setattr(self, name, param)

    def apply(self, fn) -> Module:
        """Call fn on every sub-module (children first, depth first) and then on self;
        returns self. The usual use is initialisation: model.apply(init_weights)."""
        order, stack = [], [(self, False)]
        while stack:  # iterative post-order: each module after all of its children
            module, children_done = stack.pop()
            if children_done:
                order.append(module)
                continue
            stack.append((module, True))
            stack.extend((child, False) for child in reversed(list(module.children())))
        for module in order:
            fn(module)
        return self

    def get_submodule(self, target: str) -> Module:
        """The sub-module at a dotted path ("layer1.0.conv1"); "" is self."""
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules or module._modules[part] is None:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} (in {target!r})")
            module = module._modules[part]
        return module

    # ---------------------------------------------------------------- calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks or self._backward_pre_hooks or self._backward_hooks:
            return hooks.call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # ---------------------------------------------------------------- hooks (PyTorch's; minires/nn/hooks.py)
    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False) -> RemovableHandle:
        """hook(module, args) before forward; a returned value replaces args (a non-tuple is
        wrapped). with_kwargs: hook(module, args, kwargs) -> None or (args, kwargs)."""
        return hooks.register(self, "_forward_pre_hooks", hook, "register_forward_pre_hook", prepend,
                              {"with_kwargs": True} if with_kwargs else None)

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """hook(module, args, output) after forward; a returned value replaces output.
        with_kwargs: hook(module, args, kwargs, output); always_call: also when forward raises."""
        options = {"with_kwargs": with_kwargs, "always_call": always_call} if with_kwargs or always_call else None
        return hooks.register(self, "_forward_hooks", hook, "register_forward_hook", prepend, options)

    def register_full_backward_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """hook(module, grad_output) when the gradients of the outputs are known; a returned
        tuple replaces grad_output."""
        return hooks.register(self, "_backward_pre_hooks", hook, "register_full_backward_pre_hook", prepend)

    def register_full_backward_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """hook(module, grad_input, grad_output) once the gradients of the inputs are known
        (one entry per positional argument, None for non-tensors); a returned tuple
        replaces grad_input."""
        return hooks.register(self, "_backward_hooks", hook, "register_full_backward_hook", prepend)

    def register_backward_hook(self, hook) -> RemovableHandle:
        raise NotImplementedError(f"{type(self).__name__}.register_backward_hook: PyTorch's old, deprecated "
                                  "form is not supported in minires; use register_full_backward_hook")

    # ---------------------------------------------------------------- walking the tree
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(name, module) for this module and every module below it, depth first; a module
        reached twice (shared) is given once, unless remove_duplicate=False."""
        memo = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:  # iterative, like backward: a ResNet-1202 is deep
            name, module = stack.pop()
            if remove_duplicate:
                if module in memo:
                    continue
                memo.add(module)
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter), each parameter once even if shared."""
        yield from self._named_tensors("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_tensors("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        return (b for _, b in self.named_buffers(recurse=recurse))

    def _named_tensors(self, table: str, prefix: str, recurse: bool):
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, t in getattr(module, table).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{module_name}.{name}" if module_name else name), t

    # ---------------------------------------------------------------- modes and gradients
    def train(self, mode: bool = True) -> Module:
        """Training mode (BatchNorm uses batch statistics, Dropout drops); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: the same as train(False)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: set it to None (PyTorch 2's default), or with
        set_to_none=False fill the gradient arrays with zeros in place."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.array[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) every parameter of this module."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    # ---------------------------------------------------------------- devices and dtypes
    def to(self, target: Any) -> Module:
        """Move every parameter and buffer to a device ('cpu', 'cuda') or convert floating
        ones to a dtype (np.float64 for gradcheck), in place; returns self."""
        device, _, dtype = device_or_dtype(target, "Module.to")  # a bad target raises before anything moves
        for t in list(self.parameters()) + list(self.buffers()):
            if device is not None:
                t.array = t.to(target).array
            elif t.dtype.kind == "f":
                t.array = t.array.astype(dtype)
            if t.grad is not None:  # the gradient follows its tensor
                t.grad = t.grad.to(target) if device is not None else t.grad.to(t.dtype)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    def cuda(self) -> Module:
        return self.to("cuda")

    def cpu(self) -> Module:
        return self.to("cpu")

    # ---------------------------------------------------------------- state
    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Every parameter and buffer by dotted name, as detached tensors sharing the data."""
        return OrderedDict((name, t.detach()) for name, t in self._state_tensors())

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy values (Tensors or arrays) into this module's parameters and buffers.

        strict=True raises when keys are missing or unexpected (a missing BatchNorm
        num_batches_tracked, as in old PyTorch checkpoints, is set to 0); a shape mismatch always
        raises. Values keep this module's dtype and device. Returns (missing, unexpected)."""
        own = self.state_dict()
        # Checkpoints from before PyTorch 0.4.1 (akamaster's ResNet-20, say) have no BatchNorm
        # num_batches_tracked; PyTorch sets it to 0 and loads them strictly, and so do we.
        untracked = [k for k in own if k not in state_dict and k.rpartition(".")[2] == "num_batches_tracked"]
        missing = [k for k in own if k not in state_dict and k not in untracked]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict: missing keys {missing}, unexpected keys {unexpected} "
                f"(pass strict=False to load the matching ones)"
            )
        targets = dict(self._state_tensors())
        for name in untracked:
            targets[name].array = targets[name].array * 0
        for name, value in state_dict.items():
            if name not in targets:
                continue
            array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
            target = targets[name]
            if tuple(array.shape) != target.shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {tuple(array.shape)} in the state dict, "
                    f"but {target.shape} in the model"
                )
            array = array.astype(target.dtype, copy=True)
            target.array = backend.cupy_module().asarray(array) if target.device == "cuda" else array
        return missing, unexpected

    def _state_tensors(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) for every parameter and buffer, in registration order."""
        for name, module in self.named_modules(remove_duplicate=False):  # a shared module under each name, as torch
            for table in (module._parameters, module._buffers):
                for key, t in table.items():
                    if t is not None:
                        yield (f"{name}.{key}" if name else key), t

    # ---------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        """The layer's settings, shown inside its parentheses by repr."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self.named_children():
            child_lines = repr(child).split("\n")
            lines.append(f"  ({name}): " + "\n  ".join(child_lines))
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"
