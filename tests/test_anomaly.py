"""minires.autograd.detect_anomaly: the first op whose forward output or backward gradient
holds a nan or an inf raises, naming the op and the line of the user's code that created it."""

from __future__ import annotations

import os

import numpy as np
import pytest

import minires as mr
from minires.autograd.engine import apply
from minires.ops.function import Function

# the warning detect_anomaly gives on entry, and numpy's own about the nan/inf being made
pytestmark = [pytest.mark.filterwarnings("ignore:Anomaly Detection"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

THIS_FILE = os.path.basename(__file__)


class NanForSecondInput(Function):
    """y = a + b, whose backward (wrongly) returns nan for b: to test which output is named."""

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy * np.nan


def test_a_nan_made_in_forward_names_the_op_and_the_users_line():
    x = mr.tensor([1.0, 3.0], dtype="float64", requires_grad=True)
    with pytest.raises(RuntimeError) as error, mr.autograd.detect_anomaly():
        (x - 2.0).log()  # log(-1) = nan
    message = str(error.value)
    assert "Function 'Log' returned nan values in its forward output" in message, message
    assert "all were finite" in message, message
    assert THIS_FILE in message, message
    assert "(x - 2.0).log()  # log(-1) = nan" in message, message
    assert "minires/tensor.py" not in message, "the stack should end at the user's line:\n" + message


def test_an_inf_in_backward_names_the_backward_and_the_forward_line():
    x = mr.tensor([0.0, 4.0], dtype="float64", requires_grad=True)
    with pytest.raises(RuntimeError) as error, mr.autograd.detect_anomaly():
        y = x.sqrt()  # fine in forward, but d sqrt(x)/dx = 1 / (2 sqrt(x)) is inf at 0
        y.sum().backward()
    message = str(error.value)
    assert message.startswith("Function 'SqrtBackward0' returned inf values in its 0th output."), message
    assert THIS_FILE in message and "y = x.sqrt()  # fine in forward" in message, message


def test_the_output_named_is_the_input_whose_gradient_is_bad():
    a = mr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    b = mr.tensor([3.0, 4.0], dtype="float64", requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Function 'NanForSecondInputBackward0' returned nan values in its 1th"), \
            mr.autograd.detect_anomaly():
        apply(NanForSecondInput(), a, b).sum().backward()


def test_through_a_module_the_stack_ends_at_the_users_call():
    model = mr.nn.Sequential(mr.nn.Linear(2, 2), mr.nn.ReLU())
    model[0].weight.data = mr.ones(2, 2)  # not the random init, whose products may stay finite
    x = mr.tensor([[3e38, 3e38]])  # float32: 3e38 + 3e38 overflows to inf
    with pytest.raises(RuntimeError) as error, mr.autograd.detect_anomaly():
        model(x)
    message = str(error.value)
    assert "returned inf values in its forward output" in message, message
    assert message.rstrip().endswith("model(x)"), "the last frame shown should be the user's call:\n" + message
    assert "functional.py" not in message, message


def test_an_input_that_already_held_a_nan_is_said_so():
    x = mr.tensor([np.nan, 1.0])  # made outside: no op saw it being made
    with pytest.raises(RuntimeError, match="input 0 already held nan values"), mr.autograd.detect_anomaly():
        x * 2


def test_without_detect_anomaly_nothing_raises_and_nothing_is_recorded():
    x = mr.tensor([0.0, 4.0], dtype="float64", requires_grad=True)
    y = x.sqrt()
    z = (x - 2.0).log()
    assert y.grad_fn.forward_stack is None
    (y.sum() + z.sum()).backward()
    assert np.isinf(x.grad.numpy()[0]) and np.isnan(z.data.numpy()[0])
    assert not mr.autograd.is_anomaly_enabled()


def test_decorator_form_and_the_state_is_restored():
    @mr.autograd.detect_anomaly()
    def make_nan():
        assert mr.autograd.is_anomaly_enabled()
        return mr.tensor([-1.0]).sqrt()

    with pytest.raises(RuntimeError, match="Function 'Sqrt' returned nan values"):
        make_nan()
    assert not mr.autograd.is_anomaly_enabled(), "an exception must not leave anomaly mode on"
    with mr.autograd.detect_anomaly():
        with mr.autograd.detect_anomaly(check_nan=False):
            assert mr.autograd.is_anomaly_enabled() and not mr.autograd.is_anomaly_check_nan_enabled()
        assert mr.autograd.is_anomaly_check_nan_enabled()
    assert not mr.autograd.is_anomaly_enabled()


def test_entering_warns_as_pytorch_does():
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"), mr.autograd.detect_anomaly():
        pass


def test_set_detect_anomaly_as_a_call_and_as_a_context():
    try:
        mr.autograd.set_detect_anomaly(True)
        assert mr.autograd.is_anomaly_enabled()
        with mr.autograd.set_detect_anomaly(False):
            assert not mr.autograd.is_anomaly_enabled()
            mr.tensor([-1.0]).log()  # off: no check
        assert mr.autograd.is_anomaly_enabled()
    finally:
        mr.autograd.set_detect_anomaly(False)
    assert not mr.autograd.is_anomaly_enabled()


def test_check_nan_false_records_the_stack_but_does_not_check():
    x = mr.tensor([-1.0], requires_grad=True)
    with mr.autograd.detect_anomaly(check_nan=False):
        y = x.log()
        y.sum().backward()
    assert np.isnan(y.data.numpy()).all() and x.grad.tolist() == [-1.0]  # log(-1) is nan, 1/x is not
    with mr.autograd.detect_anomaly(check_nan=False):
        y = x.log()  # the line
    assert y.grad_fn.forward_stack[-1].line == "y = x.log()  # the line"  # still recorded, for the next error


def test_a_graph_built_outside_says_there_is_no_forward_traceback():
    x = mr.tensor([0.0], dtype="float64", requires_grad=True)
    y = x.sqrt()
    with pytest.raises(RuntimeError, match="SqrtBackward.*\n.*no forward traceback"), mr.autograd.detect_anomaly():
        y.backward(mr.tensor([1.0], dtype="float64"))


def test_a_finite_training_step_passes_and_matches_the_unchecked_one():
    mr.manual_seed(0)
    model = mr.nn.Sequential(mr.nn.Conv2d(3, 4, 3, padding=1), mr.nn.BatchNorm2d(4), mr.nn.ReLU(),
                             mr.nn.MaxPool2d(2), mr.nn.Flatten(), mr.nn.Linear(4 * 2 * 2, 3))
    x, labels = mr.randn(2, 3, 4, 4), mr.tensor([0, 2])
    mr.nn.functional.cross_entropy(model(x), labels).backward()
    plain = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    with mr.autograd.detect_anomaly():
        mr.nn.functional.cross_entropy(model(x), labels).backward()
    for p, g in zip(model.parameters(), plain):
        np.testing.assert_allclose(p.grad, g, rtol=1e-5, err_msg="anomaly mode must not change the result")


def test_reachable_from_the_top_level_package():
    import minires

    assert minires.autograd.detect_anomaly is mr.autograd.anomaly_mode.detect_anomaly
    assert "autograd" in minires.__all__
