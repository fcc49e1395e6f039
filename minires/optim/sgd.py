"""Stochastic gradient descent with momentum, as torch.optim.SGD."""

from __future__ import annotations

from .optimizer import Optimizer


class SGD(Optimizer):
    """For each parameter p with gradient g (PyTorch's exact order of operations):

        g   = g + weight_decay * p                       (L2 penalty, if weight_decay)
        buf = g                       at the first step  (if momentum)
        buf = momentum * buf + (1 - dampening) * g       afterwards
        g   = g + momentum * buf   if nesterov, else  g = buf
        p   = p - lr * g
    """

    _hyperparameters = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
    _buffers = ("momentum_buffer",)

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got {lr}, {momentum}, {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def step(self) -> None:
        for group, p, state in self._params_with_grad():
            g = p.grad.array
            if group["weight_decay"]:
                g = g + group["weight_decay"] * p.array
            if group["momentum"]:
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = g.copy()
                else:
                    buf = state["momentum_buffer"]
                    state["momentum_buffer"] = group["momentum"] * buf + (1 - group["dampening"]) * g
                buf = state["momentum_buffer"]
                g = g + group["momentum"] * buf if group["nesterov"] else buf
            p.array -= group["lr"] * g
