"""The Optimizer base class: parameter groups, per-parameter state, zero_grad, state_dict.

    opt = SGD([{"params": decay, "weight_decay": 5e-4},
               {"params": no_decay, "weight_decay": 0.0}], lr=0.1, momentum=0.9)

Each group is a dict of hyper-parameters plus its "params"; a setting missing from a
group takes the optimizer's default. Schedulers change group["lr"] between steps.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor


class Optimizer:
    """Base class: subclasses implement `step()` with the update of each parameter."""

    # What a state_dict of each kind of optimizer holds, to recognise one written by another
    # kind: the hyper-parameters of its groups, and the buffers it may keep per parameter
    # (all of them at once if _buffers_together). Subclasses set these; None skips the check.
    _hyperparameters: tuple[str, ...] | None = None
    _buffers: tuple[str, ...] | None = None
    _buffers_together = False

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        self.defaults = defaults
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.param_groups: list[dict[str, Any]] = []
        for group in groups:
            self.add_param_group(group)
        self.state: dict[int, dict[str, Any]] = {}  # id(param) -> its running buffers

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group (a dict with "params" and any settings), as PyTorch: settings it lacks
        take the optimizer's defaults; a parameter already in another group is refused.
        Useful to unfreeze layers while fine-tuning: opt.add_param_group({"params": head, "lr": 1e-3})."""
        name = type(self).__name__
        if not isinstance(group, dict):
            raise TypeError(f"{name}.add_param_group: param_group must be a dict, but got {type(group).__name__}")
        group = dict(group)
        params = group["params"]
        if isinstance(params, set):
            raise TypeError(f"{name}: optimizer parameters need to be organized in ordered collections, but the "
                            f"ordering of tensors in sets will change between runs. Please use a list instead.")
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor) or not p.is_leaf:
                raise TypeError(f"{name}: can only optimize leaf Tensors, got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError(f"{name}: a parameter appears in more than one group")
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          UserWarning, stacklevel=2)  # PyTorch's warning
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: set it to None (PyTorch 2's default), or with
        set_to_none=False fill the gradient arrays with zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.array[...] = 0

    def step(self) -> None:
        raise NotImplementedError

    def _params_with_grad(self):
        """(group, parameter, its state dict) for every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    yield group, p, self.state.setdefault(id(p), {})

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {name: array or number}}, "param_groups": [settings + param indices]},
        parameters numbered in group order, as in PyTorch."""
        index = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[pid]: {k: _host_copy(v) for k, v in s.items()} for pid, s in self.state.items() if pid in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume from state_dict(), this class's or PyTorch's. A state written by another
        kind of optimizer (Adam's into SGD, say) is refused, recognised by the keys both
        libraries use: the groups' hyper-parameter names and the per-parameter buffer names."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        self._check_written_by_this_kind(groups, state_dict["state"])
        if len(groups) != len(self.param_groups) or any(
            len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)
        ):
            raise ValueError(
                f"{name}.load_state_dict: the saved groups hold "
                f"{[len(g['params']) for g in groups]} parameters, this optimizer's "
                f"{[len(g['params']) for g in self.param_groups]}"
            )
        params = [p for group in self.param_groups for p in group["params"]]
        state = {}
        for i, s in state_dict["state"].items():
            if not 0 <= int(i) < len(params):
                raise ValueError(f"{name}.load_state_dict: the state names parameter {i}, "
                                 f"but this optimizer has {len(params)}")
            p = params[int(i)]
            state[id(p)] = {k: _like(v, p) for k, v in s.items()}
        for own, saved in zip(self.param_groups, groups):
            own.update({k: v for k, v in saved.items() if k != "params"})
        self.state = state

    def _check_written_by_this_kind(self, groups: list[dict[str, Any]], state: dict[Any, dict[str, Any]]) -> None:
        name = type(self).__name__
        own = [k for k in self.defaults if k != "params"]
        for group in groups:
            saved = [k for k in group if k != "params"]
            missing = [k for k in own if k not in group]
            if not missing:
                continue
            writers, signature = _kinds_with(lambda cls, saved=saved: set(cls._hyperparameters or ()) <= set(saved),
                                             lambda cls: len(cls._hyperparameters))
            theirs = [k for k in (signature or saved) if k not in own]
            by = f"was saved by {writers}" if writers else f"does not fit {name}"
            raise ValueError(f"{name}.load_state_dict: this state {by} (its groups have "
                             f"{', '.join(theirs) or 'only ' + ', '.join(saved)}; {name}'s have "
                             f"{', '.join(missing)})")
        if self._buffers is None:
            return
        for i, s in state.items():
            foreign = [k for k in s if k not in self._buffers]
            incomplete = self._buffers_together and s and len(s) < len(self._buffers)
            if not foreign and not incomplete:
                continue
            writers, _ = _kinds_with(lambda cls, s=s: cls._buffers is not None and set(s) <= set(cls._buffers),
                                     lambda cls: -len(cls._buffers))
            by = f"was saved by {writers}" if writers and not incomplete else f"does not fit {name}"
            raise ValueError(f"{name}.load_state_dict: this state {by} (parameter {i} has buffers "
                             f"{', '.join(s)}; {name} keeps {', '.join(self._buffers)})")


def _kinds_with(fits, rank) -> tuple[str, tuple[str, ...] | None]:
    """The minires optimizers c with fits(c) and the highest rank(c), named as in "Adam or
    AdamW", and their hyper-parameters."""
    kinds, todo = [], list(Optimizer.__subclasses__())
    while todo:
        cls = todo.pop(0)
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("minires.") and cls._hyperparameters is not None and fits(cls):
            kinds.append(cls)
    if not kinds:
        return "", None
    best = max(rank(c) for c in kinds)
    kinds = [c for c in kinds if rank(c) == best]
    return " or ".join(c.__name__ for c in kinds), kinds[0]._hyperparameters


def _host_copy(value: Any) -> Any:
    if isinstance(value, Tensor):
        value = value.array
    if hasattr(value, "get"):  # a cupy array
        return value.get()
    return value.copy() if isinstance(value, np.ndarray) else value


def _like(value: Any, p: Tensor) -> Any:
    """value (a saved buffer: an array, or a Tensor from minires.load) on p's device and in
    p's dtype; numbers pass through."""
    if isinstance(value, Tensor):
        value = value.numpy()
    if not isinstance(value, np.ndarray) or value.ndim == 0 and value.dtype.kind in "iu":
        return value
    array = value.astype(p.dtype)
    if p.device == "cuda":
        array = backend.cupy_module().asarray(array)
    return array
