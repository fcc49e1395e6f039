"""Find the op that first made a nan or an inf, as torch.autograd.detect_anomaly does.

A nan in the loss says only that something, somewhere, went wrong. Under
`detect_anomaly()` every op checks what it computes, and the first one whose forward
output, or whose backward gradient, holds a nan or an inf raises a RuntimeError that
names the op and prints the lines of your code that called it:

    with mr.autograd.detect_anomaly():
        y = x.sqrt()             # x holds a 0: the forward is fine (sqrt(0) = 0) ...
        y.sum().backward()       # ... but dy/dx = 1 / (2 sqrt(0)) = inf:
    RuntimeError: Function 'SqrtBackward' returned inf values in its 0th output.
    Traceback of the forward call that created it (most recent call last):
      File "train.py", line 12, in <module>
        y = x.sqrt()

What it costs: each op records the Python stack (traceback.extract_stack) and reads
its output once more to look for nan/inf. That is slow (and, on the GPU, waits for
every kernel), so use it to find a bug, not to train. Switched off it costs one bool
check per op. The checks themselves are in minires/tensor.py (apply, Tensor.backward).

Differences from PyTorch: PyTorch checks only the backward gradients, for nan only, and
prints the forward traceback as a warning; minires checks the forward outputs too, for
nan and inf, and puts the traceback into the error message.
"""

from __future__ import annotations

import contextlib
import warnings

from .. import grad_mode


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
    RuntimeError: Function 'SqrtBackward' returned inf values in its 0th output.
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
