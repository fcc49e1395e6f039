"""Autograd's switches and debugging tools, named as in torch.autograd.

    import minires as mr
    with mr.autograd.detect_anomaly():   # the first op that makes a nan or inf raises,
        loss = model(x).sum()            # naming the op and the line of your code
        loss.backward()                  # that created it

    (gx,) = mr.autograd.grad(loss, x)    # a gradient returned, not added to x.grad
    x = mr.autograd.Variable(t)          # PyTorch's old name: simply a Tensor

The engine itself (apply, the backward walk) is in minires/tensor.py.
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
from .gradients import grad
from .variable import Variable

__all__ = [
    "Variable", "detect_anomaly", "enable_grad", "grad", "inference_mode", "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled", "is_grad_enabled", "no_grad", "set_detect_anomaly", "set_grad_enabled",
]
