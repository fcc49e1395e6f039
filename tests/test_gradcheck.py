"""gradcheck itself: it must catch wrong backwards, including one a sum check misses."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_tensor

import minires as mr
from minires import ops
from minires.autograd.engine import apply


class Normalize(ops.Function):
    """y = (x - mean) / sqrt(var + eps) over axis 0 (batch norm without gamma/beta).
    x, y: (M, C)"""

    def __init__(self, drop_variance_term: bool = False, eps: float = 1e-5):
        self.drop_variance_term, self.eps = drop_variance_term, eps

    def forward(self, x):
        self.invstd = 1 / np.sqrt(x.var(axis=0) + self.eps)
        self.x_hat = (x - x.mean(axis=0)) * self.invstd
        return self.x_hat

    def backward(self, gy):
        m = gy.shape[0]
        # gx = invstd / M * (M gy - sum(gy) - x_hat * sum(gy * x_hat))
        variance_term = 0 if self.drop_variance_term else self.x_hat * (gy * self.x_hat).sum(axis=0)
        return self.invstd / m * (m * gy - gy.sum(axis=0) - variance_term)


def normalize(x):
    return apply(Normalize(), x)


def normalize_buggy(x):
    return apply(Normalize(drop_variance_term=True), x)


def test_correct_normalize_passes():
    assert mr.gradcheck(normalize, random_tensor((6, 3)))


def test_sum_check_misses_the_dropped_variance_term():
    """Projecting on sum(outputs) multiplies the variance term by sum(x_hat) = 0, so the
    buggy backward passes: this is why gradcheck never uses a sum."""
    assert mr.gradcheck(lambda x: normalize_buggy(x).sum(), random_tensor((6, 3)))


def test_random_cotangent_catches_the_dropped_variance_term():
    with pytest.raises(mr.GradcheckError) as failure:
        mr.gradcheck(normalize_buggy, random_tensor((6, 3)), name="normalize_buggy")
    report = str(failure.value)
    for expected in ["normalize_buggy", "input 0", "(6, 3)", "seed 0", "worst entry", "numeric", "backward"]:
        assert expected in report, f"missing {expected!r} in report:\n{report}"


def test_report_names_the_failing_input_and_the_passing_ones():
    class WrongMulGrad(ops.Mul):
        def backward(self, gy):
            ga, gb = super().backward(gy)
            return ga, 2 * gb  # wrong for b only

    a, b = random_tensor((2, 3), seed=1), random_tensor((2, 3), seed=2)
    with pytest.raises(mr.GradcheckError, match=r"input 1 \(shape \(2, 3\), float64\); inputs \[0\] passed"):
        mr.gradcheck(lambda a, b: apply(WrongMulGrad(), a, b), a, b)


def test_gradcheck_needs_float64():
    with pytest.raises(TypeError, match="input 0 is float32; finite differences need float64"):
        mr.gradcheck(lambda x: x * 2, mr.randn(3, requires_grad=True))


def test_gradcheck_needs_something_to_check():
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        mr.gradcheck(lambda x: x * 2, mr.randn(3, dtype=np.float64))


def test_inputs_without_grad_are_left_alone():
    w = random_tensor((3, 2), requires_grad=False)
    assert mr.gradcheck(lambda x, w: x @ w, random_tensor((4, 3)), w)
    assert w.grad is None


def test_students_own_function():
    """The README example: write a Function, check it."""

    class Cube(ops.Function):
        def forward(self, x):
            self.x = x
            return x**3

        def backward(self, gy):
            return gy * 3 * self.x**2  # d(x^3)/dx = 3x^2

    assert mr.gradcheck(lambda x: apply(Cube(), x), random_tensor((5,)))
