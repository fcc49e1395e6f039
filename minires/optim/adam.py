"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), as torch.optim."""

from __future__ import annotations

import math

from .. import backend
from .optimizer import Optimizer


class Adam(Optimizer):
    """For each parameter p with gradient g, at step t = 1, 2, ...:

        g = g + weight_decay * p                  (Adam's L2 penalty; see AdamW for the decoupled one)
        m = beta1 * m + (1 - beta1) * g           running mean of g
        v = beta2 * v + (1 - beta2) * g^2         running mean of g^2
        p = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
    """

    decoupled_weight_decay = False
    _hyperparameters = ("lr", "betas", "eps", "weight_decay")
    _buffers = ("step", "exp_avg", "exp_avg_sq")
    _buffers_together = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{type(self).__name__}: need lr, eps, weight_decay >= 0 and betas in [0, 1), got "
                             f"lr={lr}, eps={eps}, weight_decay={weight_decay}, betas={betas}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    def step(self) -> None:
        for group, p, state in self._params_with_grad():
            xp = backend.array_module(p.array)
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            g = p.grad.array
            if wd and self.decoupled_weight_decay:
                p.array *= 1 - lr * wd  # AdamW: shrink the weight itself
            elif wd:
                g = g + wd * p.array
            if not state:
                state["step"] = 0
                state["exp_avg"] = xp.zeros_like(p.array)
                state["exp_avg_sq"] = xp.zeros_like(p.array)
            state["step"] += 1
            t = state["step"]
            state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * g
            state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
            denominator = xp.sqrt(state["exp_avg_sq"]) / math.sqrt(1 - beta2**t) + group["eps"]
            p.array -= (lr / (1 - beta1**t)) * state["exp_avg"] / denominator


class AdamW(Adam):
    """Adam with decoupled weight decay: p = p * (1 - lr * weight_decay) before the Adam
    step, instead of adding weight_decay * p to the gradient."""

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
