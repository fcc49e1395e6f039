"""torch.utils.hooks.RemovableHandle: what every register_*_hook returns.

    handle = x.register_hook(lambda grad: grad * 2)
    ...
    handle.remove()          # the hook is off again (also: `with handle: ...` removes it on exit)

Hooks are kept in a dict keyed by their handle's id, so they run in the order they were
registered and removing one never removes another that happens to be the same function.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any


class RemovableHandle:
    """Takes one hook out of the dict it was registered in: handle.remove()."""

    _ids = itertools.count()

    def __init__(self, hooks_dict: OrderedDict) -> None:
        self.hooks_dict = hooks_dict
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self.hooks_dict.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def add_hook(hooks_dict: OrderedDict, hook: Any, where: str, prepend: bool = False) -> RemovableHandle:
    """Put hook into hooks_dict (at the end, or first with prepend) and return its handle."""
    if not callable(hook):
        raise TypeError(f"{where}: hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(hooks_dict)
    hooks_dict[handle.id] = hook
    if prepend:
        hooks_dict.move_to_end(handle.id, last=False)
    return handle
