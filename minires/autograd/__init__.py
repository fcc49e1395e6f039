"""torch.autograd: the engine, your own Functions, and autograd's switches and debugging tools.

    import minires as mr
    class Cube(mr.autograd.Function): ...  # forward(ctx, x) and backward(ctx, gy) on Tensors
    y.grad_fn.next_functions              # the graph, as PyTorch's: (node, output index) pairs
    with mr.autograd.detect_anomaly():   # the first op that makes a nan or inf raises,
        loss = model(x).sum()            # naming the op and the line of your code
        loss.backward()                  # that created it

    (gx,) = mr.autograd.grad(loss, x)    # a gradient returned, not added to x.grad
    x = mr.autograd.Variable(t)          # PyTorch's old name: simply a Tensor

The engine itself is in this package, to be read in this order: engine.py (apply records
the graph as the forward pass runs; the backward walk), graph.py (AccumulateGrad, where a
leaf's gradient ends), function.py (autograd.Function and its ctx), gradients.py
(autograd.grad), anomaly_mode.py (detect_anomaly).
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
from . import functional
from .anomaly_mode import detect_anomaly, set_detect_anomaly
from .draw import make_dot
from .engine import backward
from .function import Function, once_differentiable
from .gradients import grad
from .variable import Variable

__all__ = [
    "Function", "Variable", "backward", "detect_anomaly", "enable_grad", "functional", "grad", "inference_mode", "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled", "is_grad_enabled", "make_dot", "no_grad", "once_differentiable", "set_detect_anomaly", "set_grad_enabled",
]
