"""Learning-rate schedules, as torch.optim.lr_scheduler: call `scheduler.step()` once per
epoch (or per batch, for OneCycleLR) after `optimizer.step()`.

Each schedule here is a closed-form function of the step count, lr(t) = lr_at(t), so a
student can read the formula and a resumed run lands on exactly the same value.
"""

from __future__ import annotations

import math
from typing import Any

from .optimizer import Optimizer


class LRScheduler:
    """Base: keeps last_epoch (the step count) and writes lr_at(last_epoch) into every group."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, t: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        self._write_lrs()

    def _write_lrs(self) -> None:
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base_lr, self.last_epoch)

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._write_lrs()


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (t // step_size)"""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        return base_lr * self.gamma ** (t // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= t)   (the ResNet paper: x0.1 at 50% and 75%)"""

    def __init__(self, optimizer: Optimizer, milestones: list[int], gamma: float = 0.1, last_epoch: int = -1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        return base_lr * self.gamma ** sum(m <= t for m in self.milestones)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2"""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class LinearLR(LRScheduler):
    """Linear warm-up: lr = base_lr * factor, the factor going from start_factor to
    end_factor over total_iters steps, then staying at end_factor."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1], got "
                             f"{start_factor}, {end_factor}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        progress = min(t, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class WarmupCosineLR(LRScheduler):
    """Linear warm-up from base_lr * start_factor over warmup steps, then cosine annealing
    to eta_min at total steps (torch: SequentialLR(LinearLR, CosineAnnealingLR))."""

    def __init__(self, optimizer: Optimizer, warmup: int, total: int, start_factor: float = 0.1,
                 eta_min: float = 0.0, last_epoch: int = -1):
        self.warmup, self.total, self.start_factor, self.eta_min = warmup, total, start_factor, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        if t < self.warmup:
            return base_lr * (self.start_factor + (1 - self.start_factor) * t / self.warmup)
        progress = min(t - self.warmup, self.total - self.warmup) / max(self.total - self.warmup, 1)
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2018), stepped once per batch, as torch's default
    (two phases, cosine annealing, momentum cycling for SGD momentum or Adam beta1):

        lr rises from max_lr/div_factor to max_lr over the first pct_start of total_steps,
        then falls to max_lr/(div_factor*final_div_factor); momentum does the opposite
        between max_momentum and base_momentum.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float, total_steps: int, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, cycle_momentum: bool = True,
                 base_momentum: float = 0.85, max_momentum: float = 0.95, last_epoch: int = -1):
        self.max_lr, self.total_steps = max_lr, total_steps
        self.initial_lr = max_lr / div_factor
        self.min_lr = self.initial_lr / final_div_factor
        self.peak = float(pct_start * total_steps) - 1
        self.cycle_momentum = cycle_momentum
        self.base_momentum, self.max_momentum = base_momentum, max_momentum
        for group in optimizer.param_groups:
            group["initial_lr"] = self.initial_lr
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _cosine(start: float, end: float, fraction: float) -> float:
        return end + (start - end) / 2 * (math.cos(math.pi * fraction) + 1)

    def _phase(self, t: int) -> tuple[float, float]:
        """(lr, momentum) at step t: warming up until step `peak`, annealing after it."""
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {t} times, more than total_steps={self.total_steps}")
        if t <= self.peak:
            fraction = t / self.peak
            return (self._cosine(self.initial_lr, self.max_lr, fraction),
                    self._cosine(self.max_momentum, self.base_momentum, fraction))
        fraction = (t - self.peak) / (self.total_steps - 1 - self.peak)
        return (self._cosine(self.max_lr, self.min_lr, fraction),
                self._cosine(self.base_momentum, self.max_momentum, fraction))

    def lr_at(self, base_lr: float, t: int) -> float:
        return self._phase(t)[0]

    def step(self) -> None:
        super().step()
        if self.cycle_momentum:
            momentum = self._phase(self.last_epoch)[1]
            for group in self.optimizer.param_groups:
                if "betas" in group:
                    group["betas"] = (momentum, group["betas"][1])
                else:
                    group["momentum"] = momentum
