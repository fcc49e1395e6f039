"""The hook bookkeeping of the backward walk: post-accumulate-grad hooks on leaves, and the
handle every register_*_hook returns.

`leaf.register_post_accumulate_grad_hook(hook)` asks for hook(leaf) once the walk has put
everything it will add into leaf.grad (DistributedDataParallel starts averaging a
gradient across processes from there, while the walk goes on to earlier layers). A leaf
used by several ops gets its gradient in several parts, so before the walk starts,
`count_leaf_parts` counts how many parts each hooked leaf will receive; the walk calls
`one_part_in` as each part is added, and the hooks run after the last one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..ops import Function
    from ..tensor import Tensor


class RemovableHandle:
    """What register_post_accumulate_grad_hook returns: handle.remove() takes the hook off again."""

    def __init__(self, tensor: Tensor, hook: Any):
        self.tensor, self.hook = tensor, hook

    def remove(self) -> None:
        self.tensor._post_accumulate_grad_hooks = tuple(h for h in self.tensor._post_accumulate_grad_hooks
                                                        if h is not self.hook)


def count_leaf_parts(roots: Iterable[Function], only: set[int] | None) -> dict[int, int]:
    """For each leaf with post-accumulate-grad hooks that this backward reaches (and may
    write: `only`), how many gradient parts it will receive, by id(leaf); a leaf used by
    two ops gets two. One pass over the graph before the walk, as torch's engine counts
    its dependencies first."""
    parts: dict[int, int] = {}
    stack = list(roots)
    seen = set(stack)
    while stack:
        fn = stack.pop()
        if fn.freed:  # the walk itself raises about it
            continue
        for x, creator, needed in zip(fn.inputs, fn.input_creators, fn.needs_input_grad):
            if not needed:
                continue
            if creator is None:
                if x._post_accumulate_grad_hooks and (only is None or id(x) in only):
                    parts[id(x)] = parts.get(id(x), 0) + 1
            elif creator not in seen:
                seen.add(creator)
                stack.append(creator)
    return parts


def one_part_in(x: Tensor, parts_left: dict[int, int]) -> None:
    """Count one gradient part of leaf x as added; after its last, run its hooks."""
    if id(x) in parts_left:
        parts_left[id(x)] -= 1
        if parts_left[id(x)] == 0:
            run_post_accumulate_grad_hooks(x)


def run_post_accumulate_grad_hooks(x: Tensor) -> None:
    for hook in x._post_accumulate_grad_hooks:
        hook(x)
