"""Autograd's switches and debugging tools, named as in torch.autograd.

    import minires as mr
    with mr.autograd.detect_anomaly():   # the first op that makes a nan or inf raises,
        loss = model(x).sum()            # naming the op and the line of your code
        loss.backward()                  # that created it

The engine itself (apply, the backward walk) is in minires/tensor.py.
"""

from ..grad_mode import (
    enable_grad,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .anomaly_mode import detect_anomaly, set_detect_anomaly

__all__ = [
    "detect_anomaly", "enable_grad", "is_anomaly_check_nan_enabled", "is_anomaly_enabled", "is_grad_enabled",
    "no_grad", "set_detect_anomaly", "set_grad_enabled",
]
