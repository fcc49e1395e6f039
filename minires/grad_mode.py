"""Whether ops record the graph: `no_grad()` turns recording off.

    with mr.no_grad():          # evaluation, optimizer steps
        y = model(x)            # y.requires_grad is False, no graph is kept

    @mr.no_grad()               # the same, as a decorator
    def evaluate(model, x): ...
"""

from __future__ import annotations

import contextlib

_enabled = True


def is_grad_enabled() -> bool:
    """True while ops record the graph for backward."""
    return _enabled


class set_grad_enabled(contextlib.ContextDecorator):
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


class no_grad(set_grad_enabled):
    """Stop recording the graph: `with mr.no_grad(): ...` or `@mr.no_grad()`."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record the graph again inside a `no_grad` block."""

    def __init__(self):
        super().__init__(True)


# ---------------------------------------------------------------------- anomaly detection
# The switch of minires.autograd.detect_anomaly lives here, beside the grad switch, so that
# tensor.py can read it without importing upward. Off, it costs apply() and each step of
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
