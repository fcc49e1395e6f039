"""Whether ops record the graph: `no_grad()` turns recording off.

    with mr.no_grad():          # evaluation, optimizer steps
        y = model(x)            # y.requires_grad is False, no graph is kept

    @mr.no_grad()               # the same, as a decorator
    def evaluate(model, x): ...

inference_mode() is no_grad here; set_grad_enabled(False) also works as a plain call.
"""

from __future__ import annotations

import contextlib

_enabled = True


def is_grad_enabled() -> bool:
    """True while ops record the graph for backward."""
    return _enabled


class _GradMode(contextlib.ContextDecorator):
    """Turn graph recording on or off inside a `with` block (or a decorated function),
    and restore the previous setting afterwards, even when an exception escapes."""

    def __init__(self, mode: bool):
        self.mode = mode

    def __enter__(self):
        global _enabled
        self.previous = _enabled
        _enabled = self.mode

    def __exit__(self, *exc):
        global _enabled
        _enabled = self.previous
        return False


class set_grad_enabled(_GradMode):
    """As torch.set_grad_enabled: a `with` block (or decorator) like no_grad, and also a plain
    call, `mr.set_grad_enabled(False)`, which switches recording off from then on."""

    def __init__(self, mode: bool):
        global _enabled
        super().__init__(bool(mode))
        self.before_call = _enabled  # what a `with` block around this call restores
        _enabled = self.mode  # takes effect at the call, as in torch

    def __enter__(self):
        global _enabled
        self.previous, self.before_call = (_enabled if self.before_call is None else self.before_call), None
        _enabled = self.mode

    def __call__(self, func):
        """As a decorator (`@mr.set_grad_enabled(False)`) it acts only while func runs."""
        global _enabled
        if self.before_call is not None:
            _enabled, self.before_call = self.before_call, None
        return super().__call__(func)


class no_grad(_GradMode):
    """Stop recording the graph: `with mr.no_grad(): ...` or `@mr.no_grad()`."""

    def __init__(self):
        super().__init__(False)


class enable_grad(_GradMode):
    """Record the graph again inside a `no_grad` block."""

    def __init__(self):
        super().__init__(True)


class inference_mode(_GradMode):
    """torch.inference_mode: here exactly no_grad (minires has no separate inference tensors,
    so there is nothing more to switch off); inference_mode(False) records as usual."""

    def __init__(self, mode: bool = True):
        super().__init__(not mode)


# ---------------------------------------------------------------------- anomaly detection
# The switch of minires.autograd.detect_anomaly lives here, beside the grad switch, so that
# the engine (autograd/engine.py) and tensor.py can read it without importing upward. Off, it costs apply() and each step of
# the backward walk one bool check.

_anomaly_enabled = False
_anomaly_check_nan = True


def is_anomaly_enabled() -> bool:
    """True inside `minires.autograd.detect_anomaly()`: ops record where they were called."""
    return _anomaly_enabled


def is_anomaly_check_nan_enabled() -> bool:
    """True while anomaly mode also checks every op's output and gradients for nan/inf."""
    return _anomaly_check_nan


def _set_anomaly(enabled: bool, check_nan: bool) -> tuple[bool, bool]:
    """Set both anomaly switches; returns the previous (enabled, check_nan) to restore later."""
    global _anomaly_enabled, _anomaly_check_nan
    previous = (_anomaly_enabled, _anomaly_check_nan)
    _anomaly_enabled, _anomaly_check_nan = bool(enabled), bool(check_nan)
    return previous
