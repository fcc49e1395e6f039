"""Autograd's switches and debugging tools, named as in torch.autograd.

    import minires as mr
    with mr.autograd.detect_anomaly():   # the first op that makes a nan or inf raises,
        loss = model(x).sum()            # naming the op and the line of your code
        loss.backward()                  # that created it

    (gx,) = mr.autograd.grad(loss, x)    # a gradient returned, not added to x.grad
    x = mr.autograd.Variable(t)          # PyTorch's old name: simply a Tensor

The engine itself is in this package: apply (the forward pass records the graph) and the
backward walk in engine.py, the hook bookkeeping in hooks.py, the anomaly checks in
anomaly_mode.py.
"""

from ..grad_mode import (
    enable_grad,
    inference_mode,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .anomaly_mode import detect_anomaly, set_detect_anomaly
from .engine import backward
from .gradients import grad
from .variable import Variable

__all__ = [
    "Variable", "backward", "detect_anomaly", "enable_grad", "grad", "inference_mode", "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled", "is_grad_enabled", "no_grad", "set_detect_anomaly", "set_grad_enabled",
]
