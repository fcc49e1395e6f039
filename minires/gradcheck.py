"""Check a backward against central differences, with a random cotangent.

For y = f(x) and a fixed random cotangent r (shaped like y), the scalar
L(x) = <f(x), r> = sum(f(x) * r) has the gradient dL/dx = J^T r, which is exactly
what backward computes when it is seeded with grad=r. Its numerical estimate is

    dL/dx[j] ~ (L(x + eps e_j) - L(x - eps e_j)) / (2 eps)      (error O(eps^2))

Why random r and not r = 1 (i.e. checking sum(f(x)))? With r = 1 whole terms of a
backward can vanish: in batch norm, the variance term is multiplied by
sum(x_hat) = 0, so a backward that forgets it still passes a sum check. A random
r weights every output differently and catches it (tests/test_gradcheck.py shows both).

Non-differentiable points: relu at 0, abs at 0, and ties in max are kinks, where
the central difference averages the two one-sided slopes and disagrees with the
convention backward uses (relu'(0) = 0, ties split evenly). gradcheck does not
dodge them: draw inputs away from kinks (e.g. |x| >= 0.1 for relu, distinct values
for max) and keep eps well below that distance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import backend
from .grad_mode import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by gradcheck when backward and central differences disagree."""


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    name: str | None = None,
) -> bool:
    """Compare fn's backward with central differences for every input that requires grad.

    fn:      takes the inputs (Tensors or other arguments) and returns one Tensor
    inputs:  the arguments; each float64 Tensor with requires_grad=True is checked.
             They are perturbed in place one entry at a time and restored exactly,
             so non-contiguous inputs stay non-contiguous.
    passes when |analytical - numerical| <= atol + rtol * |numerical| everywhere.
    Returns True, or raises GradcheckError naming the input, the worst entry, both
    gradients, the settings and the cotangent's seed.

    >>> import minires as mr
    >>> x = mr.randn(3, 4, dtype="float64", requires_grad=True)
    >>> mr.gradcheck(lambda x: (x * x).tanh(), x)
    True
    """
    name = name or getattr(fn, "__name__", repr(fn))
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(f"gradcheck({name}): no input has requires_grad=True, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck({name}): input {i} is {inputs[i].dtype}; finite differences need float64 "
                f"(use .double() or dtype=np.float64)"
            )

    y = fn(*inputs)
    if not isinstance(y, Tensor):
        raise TypeError(f"gradcheck({name}): fn must return a Tensor, got {type(y).__name__}")
    xp = backend.array_module(y.array)
    # r ~ N(0, 1), from a stream of its own: default_rng(seed) would hand back the very
    # numbers of an input drawn with default_rng(seed), and r = x can hide errors
    cotangent = xp.asarray(np.random.default_rng([seed, 1]).standard_normal(y.shape))

    for i in checked:
        inputs[i].zero_grad()
    y.backward(cotangent)
    analytical = {i: _grad_or_zeros(inputs[i]) for i in checked}

    def projected_output() -> float:  # L(x) = <f(x), r>
        with no_grad():
            return float((fn(*inputs).array * cotangent).sum())

    passed = []
    for i in checked:
        x = inputs[i].array  # written in place below: the input itself moves
        numerical = np.zeros(x.shape)
        for j in np.ndindex(*x.shape):
            original = x[j].copy()
            x[j] = original + eps
            plus = projected_output()
            x[j] = original - eps
            minus = projected_output()
            x[j] = original  # restore exactly
            numerical[j] = (plus - minus) / (2 * eps)
        got = _to_numpy(analytical[i])
        too_far = np.abs(got - numerical) > atol + rtol * np.abs(numerical)
        if too_far.any():
            raise GradcheckError(
                _failure_report(name, inputs, i, passed, got, numerical, too_far, y.shape, eps, atol, rtol, seed)
            )
        passed.append(i)
    return True


def _to_numpy(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _grad_or_zeros(x: Tensor) -> Any:
    """x.grad's array, or zeros when the output does not depend on x at all."""
    return x.grad.array if x.grad is not None else np.zeros(x.shape)


def _failure_report(name, inputs, i, passed, got, numerical, too_far, y_shape, eps, atol, rtol, seed) -> str:
    diff = np.abs(got - numerical)
    worst = np.unravel_index(np.argmax(np.where(too_far, diff, -1)), diff.shape)
    shapes = ", ".join(
        f"{k}: {x.shape}" if isinstance(x, Tensor) else f"{k}: {type(x).__name__}" for k, x in enumerate(inputs)
    )
    passed_text = f"; inputs {passed} passed" if passed else ""
    with np.printoptions(precision=5, suppress=True, threshold=200, linewidth=100):
        return (
            f"gradcheck failed: {name}, input {i} (shape {inputs[i].shape}, float64){passed_text}\n"
            f"  input shapes {{{shapes}}}\n"
            f"  eps {eps:g}  atol {atol:g}  rtol {rtol:g}  seed {seed}  cotangent ~ N(0, 1), shape {tuple(y_shape)}\n"
            f"  worst entry {list(map(int, worst))}: backward {got[worst]:.6g}  numeric {numerical[worst]:.6g}  "
            f"|diff| {diff[worst]:.2e}   {int(too_far.sum())} of {too_far.size} entries over\n"
            f"  backward (analytical) gradient:\n{got}\n"
            f"  numerical gradient:\n{numerical}\n"
            f"  reproduce: mr.gradcheck(fn, *inputs, seed={seed})"
        )
