"""Find the op that first made a nan or an inf, as torch.autograd.detect_anomaly does.

A nan in the loss says only that something, somewhere, went wrong. Under
`detect_anomaly()` every op checks what it computes, and the first one whose forward
output, or whose backward gradient, holds a nan or an inf raises a RuntimeError that
names the op and prints the lines of your code that called it:

    with mr.autograd.detect_anomaly():
        y = x.sqrt()             # x holds a 0: the forward is fine (sqrt(0) = 0) ...
        y.sum().backward()       # ... but dy/dx = 1 / (2 sqrt(0)) = inf:
    RuntimeError: Function 'SqrtBackward0' returned inf values in its 0th output.
    Traceback of the forward call that created it (most recent call last):
      File "train.py", line 12, in <module>
        y = x.sqrt()

What it costs: each op records the Python stack (traceback.extract_stack) and reads
its output once more to look for nan/inf. That is slow (and, on the GPU, waits for
every kernel), so use it to find a bug, not to train. Switched off it costs one bool
check per op. The engine (minires/autograd/engine.py: apply and the walk) calls the checks below.

Differences from PyTorch: PyTorch checks only the backward gradients, for nan only, and
prints the forward traceback as a warning; minires checks the forward outputs too, for
nan and inf, and puts the traceback into the error message.
"""

from __future__ import annotations

import contextlib
import os
import traceback
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import backend, grad_mode

if TYPE_CHECKING:
    from ..ops import Function
    from ..tensor import Tensor


class detect_anomaly(contextlib.ContextDecorator):
    """Inside this block (or decorated function), the first op whose forward output or
    backward gradient is not finite raises, naming the op and where your code created it.

    check_nan=False only records where each op was created (no nan/inf checks), as in PyTorch.
    The previous setting comes back on exit, even when an exception escapes.

    >>> import minires as mr
    >>> x = mr.tensor([0.0, 1.0], requires_grad=True)
    >>> with mr.autograd.detect_anomaly():  # doctest: +ELLIPSIS
    ...     x.sqrt().sum().backward()
    Traceback (most recent call last):
    RuntimeError: Function 'SqrtBackward0' returned inf values in its 0th output.
    ...
    """

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self):
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
            "enabled for debugging.",
            stacklevel=2,
        )
        self.previous = grad_mode._set_anomaly(True, self.check_nan)

    def __exit__(self, *exc):
        grad_mode._set_anomaly(*self.previous)
        return False


class set_detect_anomaly:
    """Turn anomaly detection on or off: as a call, `set_detect_anomaly(True)` (until you turn
    it off again), or as `with set_detect_anomaly(False): ...` (restored on exit)."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self.previous = grad_mode._set_anomaly(mode, check_nan)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        grad_mode._set_anomaly(*self.previous)
        return False


# ---------------------------------------------------------------------- the checks
# apply() and the backward walk (engine.py) call these, only under detect_anomaly().

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # minires/
_STACK_FRAMES_SHOWN = 10


def check_forward(fn: Function, inputs: Sequence[Tensor], out: Tensor) -> None:
    """Remember where the user's code called fn (for a bad gradient later), and raise
    now if fn's output holds a nan or an inf."""
    stack = _user_stack()
    if out.grad_fn is fn:
        fn.forward_stack = stack
    if not grad_mode.is_anomaly_check_nan_enabled():
        return
    bad = _non_finite(out.array)
    if bad:
        already = [f"input {i} already held {b} values" for i, t in enumerate(inputs) if (b := _non_finite(t.array))]
        shapes = ", ".join(str(t.shape) for t in inputs)
        cause = "; ".join(already) + " (made outside detect_anomaly?)" if already else "all were finite"
        raise RuntimeError(
            f"Function '{type(fn).__name__}' returned {bad} values in its forward output; its inputs (shapes {shapes}): "
            f"{cause}.\n{format_stack(stack)}"
        )


def check_backward(fn: Function, gxs: tuple) -> None:
    """Raise if one of the gradients fn.backward returned holds a nan or an inf
    (PyTorch's wording: its i-th output is the gradient for its i-th input)."""
    if not grad_mode.is_anomaly_check_nan_enabled():
        return
    for i, gx in enumerate(gxs):
        bad = _non_finite(gx) if gx is not None else None
        if bad:
            raise RuntimeError(
                f"Function '{fn.name()}' returned {bad} values in its {i}th output.\n"
                f"{format_stack(fn.forward_stack)}"
            )


def _non_finite(a: Any) -> str | None:
    """'nan' or 'inf' if the floating array a holds one (nan first), else None."""
    if a.dtype.kind not in "fc":
        return None
    xp = backend.array_module(a)
    if xp.isnan(a).any():
        return "nan"
    return "inf" if xp.isinf(a).any() else None


def _user_stack() -> traceback.StackSummary:
    """The Python stack of the current call, ending at the last frame outside minires
    (the user's line that called the op); its lines are read only when printed."""
    frames = traceback.StackSummary.extract(traceback.walk_stack(None), lookup_lines=False)
    frames.reverse()  # walk_stack goes from the innermost frame outwards
    user_end = len(frames)
    while user_end and frames[user_end - 1].filename.startswith(_PACKAGE_DIR):
        user_end -= 1
    return traceback.StackSummary.from_list(frames[: user_end or len(frames)])


def format_stack(stack: traceback.StackSummary | None) -> str:
    if stack is None:
        return ("(no forward traceback: the graph was built outside detect_anomaly(); build it inside "
                "to see which line created the op)")
    left_out = len(stack) - _STACK_FRAMES_SHOWN
    text = "Traceback of the forward call that created it (most recent call last):\n"
    if left_out > 0:
        text += f"  ... {left_out} outer frames left out ...\n"
    return text + "".join(traceback.format_list(stack[-_STACK_FRAMES_SHOWN:])).rstrip("\n")
