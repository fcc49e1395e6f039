"""In-place ops: values and gradients equal the out-of-place forms (gradchecked in float64),
a leaf that requires grad refuses them (except under no_grad), and the version counter
catches an in-place change to a tensor that a recorded op kept for its backward."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_array

import minires as mr
import minires.nn.functional as F
from minires import nn
from minires.autograd.engine import apply


def rand(*shape, seed=0, requires_grad=True):
    values = np.random.default_rng(seed).standard_normal(shape)
    values[np.abs(values) < 0.1] += 0.3  # keep relu and clamp away from their kinks
    return mr.tensor(values, requires_grad=requires_grad)


# name -> (in-place form, out-of-place form); both take (y, w) and y is a non-leaf
CASES = {
    "add_": (lambda y, w: y.add_(w), lambda y, w: y + w),
    "add_broadcast": (lambda y, w: y.add_(w[0]), lambda y, w: y + w[0]),
    "add_number": (lambda y, w: y.add_(2.5), lambda y, w: y + 2.5),
    "sub_": (lambda y, w: y.sub_(w), lambda y, w: y - w),
    "mul_": (lambda y, w: y.mul_(w), lambda y, w: y * w),
    "mul_number": (lambda y, w: y.mul_(3.0), lambda y, w: y * 3.0),
    "div_": (lambda y, w: y.div_(w * w + 1), lambda y, w: y / (w * w + 1)),
    "iadd": (lambda y, w: y.__iadd__(w), lambda y, w: y + w),
    "isub": (lambda y, w: y.__isub__(w), lambda y, w: y - w),
    "imul": (lambda y, w: y.__imul__(w), lambda y, w: y * w),
    "itruediv": (lambda y, w: y.__itruediv__(2.0), lambda y, w: y / 2.0),
    "relu_": (lambda y, w: y.relu_() * w, lambda y, w: y.relu() * w),
    "clamp_": (lambda y, w: y.clamp_(-0.5, 0.7) * w, lambda y, w: y.clip(-0.5, 0.7) * w),
    "zero_": (lambda y, w: y.zero_() + w, lambda y, w: y * 0 + w),
    "fill_": (lambda y, w: y.fill_(1.5) * w, lambda y, w: y * 0 + 1.5 * w),
    "copy_": (lambda y, w: y.copy_(w * 2), lambda y, w: w * 2),
    "copy_broadcast": (lambda y, w: y.copy_(w[1]), lambda y, w: y * 0 + w[1]),
    "chain": (lambda y, w: y.add_(1).mul_(3).relu_() * w, lambda y, w: ((y + 1) * 3).relu() * w),
    "chain_mul_tensor": (lambda y, w: y.mul_(w).sub_(w).clamp_(-1, 1), lambda y, w: (y * w - w).clip(-1, 1)),
}


def run(form, x, w):
    return form(x * 2, w)  # x * 2: a non-leaf, which in-place ops may change


@pytest.mark.parametrize("name", CASES)
def test_inplace_equals_out_of_place(name):
    inplace, out_of_place = CASES[name]
    x, w = rand(3, 4), rand(3, 4, seed=1)
    assert mr.gradcheck(lambda x, w: run(inplace, x, w), x, w, name=name)
    cotangent = np.random.default_rng(2).standard_normal((3, 4))
    grads = []
    for form in (inplace, out_of_place):
        x.grad = w.grad = None
        y = run(form, x, w)
        y.backward(cotangent)
        # no gradient at all (None) and a gradient of zeros are the same answer here
        grads.append([y.numpy().copy()] + [np.zeros((3, 4)) if t.grad is None else t.grad.numpy() for t in (x, w)])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_inplace_writes_the_same_array_and_bumps_the_version():
    y = rand(3, 4, requires_grad=False)
    array, view = y.array, y.data
    y += 1
    y.relu_()
    y[0] = 5.0
    assert y.array is array and np.all(view.numpy()[0] == 5.0)
    assert y._version == 3 and view._version == 0  # .data does not share the counter
    y.detach().zero_()
    assert y._version == 4 and np.all(view.numpy() == 0)  # detach() does


def test_setitem_gradients():
    x, v = rand(4, 5), rand(5, seed=1)
    assert mr.gradcheck(lambda x, v: _setitem(x * 1, (slice(1, 3),), v) * x, x, v)
    assert mr.gradcheck(lambda x, v: _setitem(x * 1, (np.array([0, 3]), 2), v[:2]), x, v)
    assert mr.gradcheck(lambda x: _setitem(x * 1, x.detach() > 0, 0.0) * 3, x)
    x.grad = v.grad = None
    y = x * 1
    y[1:3] = v
    y.backward(np.ones((4, 5)))
    np.testing.assert_array_equal(x.grad.numpy()[1:3], 0)
    np.testing.assert_array_equal(x.grad.numpy()[0], 1)
    np.testing.assert_array_equal(v.grad.numpy(), np.full(5, 2.0))  # broadcast over two rows


def _setitem(y, index, value):
    y[index] = value
    return y


def test_leaf_that_requires_grad_refuses_unless_no_grad():
    p = rand(3)
    for op in (lambda: p.add_(1), lambda: p.mul_(2), lambda: p.relu_(), lambda: p.zero_(),
               lambda: p.__setitem__(0, 1.0), lambda: p.__iadd__(1)):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            op()
    before = p.numpy().copy()
    with mr.no_grad():
        p.sub_(0.5)
        p[0] = 7.0
    assert p.is_leaf and p.grad_fn is None and p._version == 2
    np.testing.assert_allclose(p.numpy()[1:], before[1:] - 0.5)
    assert p.numpy()[0] == 7.0


def test_version_counter_error_names_the_op_and_both_versions():
    x = rand(3, 4)
    y = x.relu()
    y += 1  # relu keeps its output for backward
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    message = str(info.value)
    assert message.startswith("one of the variables needed for gradient computation has been modified by an "
                              "inplace operation: [float64 tensor of shape (3, 4)], which is output 0 of ReluBackward0, "
                              "is at version 1; expected version 0 instead.")
    y = x * 2
    z = y * y  # mul keeps its inputs
    y.add_(1)
    with pytest.raises(RuntimeError, match="which is output 0 of AddBackward0, is at version 1; expected version 0"):
        z.sum().backward()
    w = rand(4, seed=1)
    z = x * w
    w.detach().add_(1)  # detach() shares the version counter: caught
    with pytest.raises(RuntimeError, match=r"\[float64 tensor of shape \(4,\)\] is at version 1; expected version 0"):
        z.sum().backward()


def test_inplace_on_what_no_backward_needs_is_fine():
    x, identity = rand(2, 3), rand(2, 3, seed=1)
    out = x * 2 + 1  # add keeps only shapes
    out += identity
    out.relu_()
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * ((x.numpy() * 2 + 1 + identity.numpy()) > 0))
    y = x * 3
    z = y + 1  # an earlier consumer of y: its gradient goes to y's old history
    y.mul_(5)
    (z.sum() + y.sum()).backward()
    np.testing.assert_allclose(identity.grad.numpy(), (x.numpy() * 2 + 1 + identity.numpy()) > 0)


def test_inplace_result_must_keep_shape_and_dtype():
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"):
        mr.zeros(3).add_(mr.zeros(2, 3))
    with pytest.raises(RuntimeError, match="can't be cast"):
        mr.tensor(np.zeros(3, dtype=np.int64)).add_(mr.zeros(3))


class _Block(nn.Module):
    """conv -> BN -> relu -> conv -> BN, += identity, relu: a residual block, either form."""

    def __init__(self, inplace):
        super().__init__()
        self.inplace = inplace
        self.conv1, self.bn1 = nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)
        self.relu = nn.ReLU(inplace=inplace)
        self.conv2, self.bn2 = nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.inplace:
            out += x
        else:
            out = out + x
        return F.relu(out, inplace=self.inplace)


def test_relu_inplace_and_residual_iadd_give_the_same_gradients():
    x = rand(2, 2, 5, 5)
    blocks = [_Block(inplace) for inplace in (False, True)]
    blocks[1].load_state_dict(blocks[0].state_dict())
    for block in blocks:
        block.double()
    assert repr(blocks[1].relu) == "ReLU(inplace=True)" and repr(blocks[0].relu) == "ReLU()"
    results = []
    for block in blocks:
        x.grad = None
        block.zero_grad()
        y = block(x)
        y.backward(np.random.default_rng(3).standard_normal(y.shape))
        results.append([y.numpy().copy(), x.grad.numpy()] + [p.grad.numpy() for p in block.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert mr.gradcheck(blocks[1], x)


# ---------------------------------------------------------------------- parity with PyTorch


def test_torch_parity_gradients():
    torch = pytest.importorskip("torch")
    x0, w0 = rand(3, 4).numpy(), rand(3, 4, seed=1).numpy()
    for name in ("add_", "sub_", "mul_", "div_", "relu_", "clamp_", "zero_", "copy_", "chain"):
        inplace, _ = CASES[name]
        grads = []
        for lib in (mr, torch):
            x, w = lib.tensor(x0, requires_grad=True), lib.tensor(w0, requires_grad=True)
            y = run(inplace, x, w)
            y.backward(lib.tensor(np.ones((3, 4))))
            grads.append([np.asarray(t.detach().numpy()) for t in (y, x.grad, w.grad)])
        for a, b in zip(*grads):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=name)


def test_torch_raises_in_the_same_cases():
    torch = pytest.importorskip("torch")

    def relu_then_iadd(lib):
        x = lib.tensor(np.ones((3, 4)), requires_grad=True)
        y = x.relu()
        y += 1
        y.sum().backward()

    def leaf_add_(lib):
        lib.tensor(np.ones(3), requires_grad=True).add_(1)

    def fine_residual(lib):
        x = lib.tensor(np.ones(3), requires_grad=True)
        out = x * 2 + 1
        out += x
        out.relu_()
        out.sum().backward()

    def mul_after_relu_(lib):  # relu_ keeps its output, which mul_ then overwrites
        x = lib.tensor(np.ones(3), requires_grad=True)
        (x * 1).relu_().mul_(x).sum().backward()

    for case, raises in ((relu_then_iadd, "version 1; expected version 0"), (leaf_add_, "leaf Variable"),
                         (fine_residual, None), (mul_after_relu_, "expected version")):
        for lib in (mr, torch):
            if raises:
                with pytest.raises(RuntimeError, match=raises):
                    case(lib)
            else:
                case(lib)


@pytest.mark.parametrize("make", [lambda: mr.nn.LeakyReLU(0.1, inplace=True), lambda: mr.nn.Dropout(0.5, inplace=True),
                                  lambda: mr.nn.Dropout2d(0.5, inplace=True)], ids=["leaky_relu", "dropout", "dropout2d"])
def test_inplace_layers_write_into_their_input_with_the_out_of_place_gradient(make):
    x = mr.tensor(random_array((2, 3, 4, 4), seed=3, away_from=0), requires_grad=True)
    h = x * 1.0  # a non-leaf, as in a network
    mr.manual_seed(0)
    y = make()(h)
    assert y is h and h._version == 1
    gy = random_array((2, 3, 4, 4), seed=4)
    y.backward(mr.tensor(gy))
    mr.manual_seed(0)
    x2 = mr.tensor(x.numpy(), requires_grad=True)
    layer = make()
    layer.inplace = False
    layer(x2 * 1.0).backward(mr.tensor(gy))
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-12)


def test_under_detect_anomaly_the_version_error_shows_where_the_op_was_created():
    x = mr.tensor([1.0, -2.0], requires_grad=True)
    anomaly = mr.autograd.detect_anomaly()
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        anomaly.__enter__()
    try:
        y = (x * 1.0).relu()
        y += 1
        with pytest.raises(RuntimeError, match="modified by an inplace operation") as error:
            y.sum().backward()
    finally:
        anomaly.__exit__(None, None, None)
    assert "ReluBackward0's Traceback of the forward call" in str(error.value) and "y = (x * 1.0).relu()" in str(error.value)


def test_an_op_without_a_double_backward_raises_by_name_when_differentiated_again():
    class Square(mr.ops.Function):  # an op on arrays, with no double backward written for it
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, gy):
            return 2 * self.x * gy

    x = mr.tensor([1.0, 2.0], requires_grad=True)
    apply(Square(), x).sum().backward(create_graph=True)  # the first-order gradient is right ...
    assert x.grad.tolist() == [2.0, 4.0] and x.grad.grad_fn is not None
    with pytest.raises(RuntimeError, match="SquareBackward0 cannot be differentiated again"):
        x.grad.sum().backward()  # ... and differentiating it again names the op
    x.grad = None
    (x * x).sum().backward(gradient=mr.tensor(1.0))  # PyTorch's keyword
    assert x.grad.tolist() == [2.0, 4.0]
