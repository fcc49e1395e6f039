"""Gradients of gradients (create_graph=True) for the core ops, all in float64.

One table: case id -> (function, input specs[, gradgradcheck options]). The id starts with
the op it exercises (the class in minires/ops/), so a failure names the op: "Div-broadcast".
An input spec is as in test_ops_gradcheck.py: a shape, or (shape, options for random_array).

- every case passes mr.gradgradcheck, with random cotangents v that are checked too;
- every case's recorded gradient (create_graph=True, each op's backward_recorded or a linear
  op's adjoint) equals the plain first-order one (the array backward) to 1e-12;
- with torch installed, Hessian-vector products of a few composite functions equal torch's;
- a third derivative, and the error an op without a double backward raises.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, random_tensor

import minires as mr
import minires.nn.functional as F
from minires import ops
from minires.autograd.engine import apply

AWAY_FROM_0 = {"away_from": 0.0}
POSITIVE = {"positive": True}
STRIDED = {"layout": "strided"}
TRANSPOSED = {"layout": "transposed"}
LABELS = np.array([2, 0, 4])
WEIGHT = np.array([0.5, 1.0, 2.0, 1.5, 0.8])


def set_item(a, b):
    y = a.clone()  # a copy in the graph, then b written into part of it: Clone and SetItem
    y[1:, ::2] = b
    return y


# ops with backward_recorded: their second derivatives are formulas of their own
RECORDED = {
    "Mul-broadcast": (lambda a, b: a * b, [(2, 3, 4), (3, 1)]),
    "Mul-reused": (lambda a: a * a * a, [(4, 3)]),
    "Div-broadcast": (lambda a, b: a / b, [(3, 4), ((1, 4), POSITIVE)]),
    "Div-rdiv_number": (lambda b: 2.0 / b, [((3, 2), POSITIVE)]),
    "PowScalar-3": (lambda a: a**3, [((3, 4), STRIDED)]),
    "PowScalar-half": (lambda a: a**0.5, [((3, 4), POSITIVE)]),
    "PowScalar-minus1": (lambda a: a**-1, [((3, 4), AWAY_FROM_0)]),
    "Pow-broadcast": (lambda a, b: a**b, [((3, 4), POSITIVE), (4,)]),
    "Pow-rpow_number": (lambda b: 2.0**b, [(3,)]),
    "MatMul-2d_noncontiguous": (lambda a, b: a @ b, [((3, 4), TRANSPOSED), ((4, 5), STRIDED)]),
    "MatMul-batched_broadcast": (lambda a, b: a @ b, [(2, 1, 3, 4), (5, 4, 2)]),
    "MatMul-vector_right": (lambda a, b: a @ b, [(3, 4), (4,)]),
    "Exp": (lambda a: a.exp(), [(3, 4)]),
    "Log": (lambda a: a.log(), [((3, 4), POSITIVE)]),
    "Sqrt": (lambda a: a.sqrt(), [((3, 4), POSITIVE)]),
    "Tanh": (lambda a: a.tanh(), [((3, 4), TRANSPOSED)]),
    "Sigmoid": (lambda a: a.sigmoid(), [(3, 4)]),
    "Relu": (lambda a: a.relu(), [((3, 4), AWAY_FROM_0)]),
    "Relu-squared": (lambda a: a.relu() ** 2, [((3, 4), AWAY_FROM_0)]),
    "Abs": (lambda a: a.abs() * a, [((3, 4), AWAY_FROM_0)]),
    "Clip": (lambda a: a.clip(-0.5, 0.5) ** 2, [((4, 5), {"away_from": 0.5, "margin": 0.05})]),
    "Clip-low_only": (lambda a: a.clamp(min=0.2), [((4, 5), {"away_from": 0.2, "margin": 0.05})]),
    "Maximum-broadcast": (lambda a, b: mr.maximum(a, b) ** 2, [(3, 4), (4,)]),
    "Maximum-minimum": (lambda a, b: mr.minimum(a, b), [(3, 4), ((3, 4), STRIDED)]),
    "Where-broadcast": (lambda a, b: mr.where(mr.tensor(np.arange(12).reshape(3, 4) % 3 == 0), a, b) ** 3,
                        [(3, 4), (4,)]),
    "LeakyRelu": (lambda a: F.leaky_relu(a, 0.1) ** 2, [((3, 4), AWAY_FROM_0)]),
    "Max-all": (lambda a: a.max() * a, [(3, 4)]),
    "Max-dims_keepdim": (lambda a: a.amax((0, 2), keepdim=True) ** 2, [(2, 3, 4)]),
    "Max-amin_dim0": (lambda a: a.amin(0), [(3, 4)]),
    "Var-all": (lambda a: a.var(), [(3, 4)]),
    "Var-dims_keepdim_biased": (lambda a: a.var((0, 2), keepdim=True, correction=0), [((2, 3, 4), STRIDED)]),
    "Var-std_dim1": (lambda a: a.std(1), [(3, 5)]),
    "Norm-2_all": (lambda a: a.norm(), [(3, 4)]),
    "Norm-2_dim1": (lambda a: a.norm(2, dim=1), [((3, 4), TRANSPOSED)]),
    "Norm-fro_dims_keepdim": (lambda a: a.norm("fro", dim=(1, 2), keepdim=True), [(2, 3, 4)]),
    "Norm-1_dim0_keepdim": (lambda a: a.norm(1, dim=0, keepdim=True) ** 2, [((3, 4), AWAY_FROM_0)]),
    "Norm-inf_dim1": (lambda a: a.norm(float("inf"), dim=1) ** 2, [(3, 4)]),
    "LogSoftmax-dim1": (lambda a: a.log_softmax(1), [(3, 5)]),
    "LogSoftmax-dim0": (lambda a: F.log_softmax(a, dim=0), [((3, 5), STRIDED)]),
    "Softmax": (lambda a: F.softmax(a, dim=-1), [(3, 5)]),
    "Softmax-dim0": (lambda a: a.softmax(0), [(3, 5)]),
    "CrossEntropy-labels": (lambda a: F.cross_entropy(a, LABELS), [(3, 5)]),
    "CrossEntropy-weight_smoothing_sum": (
        lambda a: F.cross_entropy(a, LABELS, weight=mr.tensor(WEIGHT), label_smoothing=0.1, reduction="sum"),
        [(3, 5)]),
    "CrossEntropy-ignore_index_none": (
        lambda a: F.cross_entropy(a, np.array([2, -100, 4]), reduction="none"), [(3, 5)]),
    "CrossEntropy-probabilities": (
        lambda a, p: F.cross_entropy(a, p, weight=mr.tensor(WEIGHT), label_smoothing=0.2),
        [(3, 5), ((3, 5), POSITIVE)]),
    "NllLoss": (lambda a: F.nll_loss(a.log_softmax(1), LABELS), [(3, 5)]),
    "NllLoss-weight_none": (
        lambda a: F.nll_loss(a, LABELS, weight=mr.tensor(WEIGHT), reduction="none") ** 2, [(3, 5)]),
    "MseLoss": (lambda a, b: F.mse_loss(a, b), [(3, 4), (3, 4)]),
    "MseLoss-broadcast_sum": (lambda a, b: F.mse_loss(a, b, reduction="sum"), [(3, 4), (4,)]),
    "MseLoss-none": (lambda a, b: F.mse_loss(a, b, reduction="none") ** 2, [(3, 4), ((3, 4), STRIDED)]),
    "L1Loss": (lambda a, b: F.l1_loss(a, b * 0.01) ** 2, [((3, 4), AWAY_FROM_0), (3, 4)]),
    "L1Loss-none": (lambda a, b: F.l1_loss(a, b * 0.01, reduction="none"), [((3, 4), AWAY_FROM_0), (3, 4)]),
    "BceWithLogits": (lambda a, t: F.binary_cross_entropy_with_logits(a, t), [(3, 4), ((3, 4), POSITIVE)]),
    "BceWithLogits-weights_none": (
        lambda a, t: F.binary_cross_entropy_with_logits(a, t, weight=mr.tensor(np.array([1.0, 0.5, 2.0, 1.5])),
                                                         pos_weight=mr.tensor(np.array([2.0, 1.0, 0.5, 3.0])),
                                                         reduction="none"),
        [(3, 4), ((3, 4), POSITIVE)]),
}

# linear ops (`linear = True`): their double backward is generic (autograd/higher_order.py's
# Adjoint). Each is followed by tanh (or a square), so the check also runs the Adjoint backward.
LINEAR = {
    "Add-broadcast": (lambda a, b: (a + b).tanh(), [(3, 4), (4,)]),
    "Sub-broadcast": (lambda a, b: (a - b) ** 2, [(2, 1, 4), (3, 1)]),
    "Neg": (lambda a: (-a).tanh(), [(3, 4)]),
    "Cast": (lambda a: apply(ops.Cast(np.float64), a).tanh(), [(3, 4)]),
    "Cast-float32_round_trip": (lambda a: a.float().double() ** 2, [(3, 4)], {"eps": 1e-3, "atol": 1e-3, "rtol": 1e-2}),
    "Reshape": (lambda a: a.reshape(4, 3).tanh(), [((3, 4), TRANSPOSED)]),
    "Permute": (lambda a: a.permute(2, 0, 1) ** 2, [(2, 3, 4)]),
    "Expand": (lambda a: a.expand(2, 3, 4).tanh(), [(3, 1)]),
    "Concatenate": (lambda a, b: mr.cat([a, b, a], dim=1).tanh(), [(2, 3), (2, 1)]),
    "Concatenate-stack": (lambda a, b: mr.stack([a, b], dim=-1) ** 2, [(2, 3), (2, 3)]),
    "Pad": (lambda a: mr.pad(a, [(0, 0), (1, 2)]).tanh(), [(2, 3)]),
    "GetItem-slices": (lambda a: a[1:, ::2].tanh(), [((3, 5), STRIDED)]),
    "GetItem-int_array_repeats": (lambda a: a[np.array([0, 2, 0, 0])] ** 2, [(3, 5)]),
    "TakeAlongDim-max_dim": (lambda a: a.max(1).values.tanh(), [(2, 3, 4)]),
    "TakeAlongDim-sort": (lambda a: a.sort(1).values ** 2, [(3, 5)]),
    "TakeAlongDim-topk": (lambda a: a.topk(2).values.tanh(), [(3, 5)]),
    "Clone": (lambda a: a.clone() * a, [(3, 4)]),
    "SetItem": (lambda a, b: set_item(a, b).tanh(), [(3, 5), (2, 3)]),
    "Sum-dim1": (lambda a: a.sum(1).tanh(), [(2, 3, 4)]),
    "Sum-dims_keepdim": (lambda a: a.sum((0, 2), keepdim=True) ** 2, [(2, 3, 4)]),
    "Mean-all": (lambda a: a.mean() ** 3, [(3, 4)]),
    "Mean-dim_keepdim": (lambda a: a.mean(-1, keepdim=True) ** 2, [(2, 3, 4)]),
    "AvgPool2d": (lambda a: F.avg_pool2d(a, 2).tanh(), [(1, 2, 4, 4)]),
    "AvgPool2d-stride1_pad1": (lambda a: F.avg_pool2d(a, 3, stride=1, padding=1) ** 2, [(1, 1, 3, 4)]),
    "GlobalAvgPool2d": (lambda a: F.adaptive_avg_pool2d(a, 1).tanh(), [(2, 2, 3, 3)]),
    "ResidualAdd": (lambda a, b: F.add(a, b).tanh(), [(3, 4), ((3, 4), TRANSPOSED)]),
}

CASES = {**RECORDED, **LINEAR}

# For a 0-d result numpy's ufuncs return a scalar, which engine.apply wraps in a new array; an op
# that keeps its output (Exp, Tanh, Sigmoid, Sqrt, Pow) must then find that array as its output,
# or saved(self.y) would be a constant and the second derivative through y lost.
ZERO_D_OUTPUT = {
    "Exp-0d": (lambda a: a.exp(), [()]),
    "Tanh-0d_after_mean": (lambda a: a.mean().tanh(), [(3, 4)]),
    "Pow-0d": (lambda a, b: a**b, [((), POSITIVE), ()]),
}

OP_MODULES = [ops.arithmetic, ops.elementwise, ops.reduce, ops.loss]
LINEAR_OPS = ["Add", "Sub", "Neg", "Cast", "Reshape", "Permute", "Expand", "Concatenate", "Pad", "GetItem",
              "TakeAlongDim", "Clone", "SetItem", "Sum", "Mean", "AvgPool2d", "GlobalAvgPool2d", "ResidualAdd"]


def make_inputs(specs):
    """One float64 leaf per spec: a spec is a shape, or (shape, options for random_array)."""
    tensors = []
    for seed, spec in enumerate(specs):
        shape, options = spec if len(spec) == 2 and isinstance(spec[1], dict) else (spec, {})
        tensors.append(random_tensor(shape, seed=seed, **options))
    return tensors


def case(name):
    fn, specs, *options = CASES[name] if name in CASES else ZERO_D_OUTPUT[name]
    return fn, make_inputs(specs), (options[0] if options else {})


def op_names_in_graph(y: mr.Tensor) -> set[str]:
    """The class names of the nodes y's graph holds (each case must hold the op it names)."""
    names, stack, seen = set(), [y.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.add(type(node).__name__)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return names


def first_gradients(fn, inputs, v, create_graph):
    return mr.autograd.grad(fn(*inputs), inputs, grad_outputs=v, create_graph=create_graph, allow_unused=True)


@pytest.mark.parametrize("name", [*CASES, *ZERO_D_OUTPUT])
def test_gradgradcheck(name):
    fn, inputs, options = case(name)
    assert name.split("-")[0] in op_names_in_graph(fn(*inputs)), f"{name}: the case does not run its op"
    assert mr.gradgradcheck(fn, inputs, name=name, **options)


@pytest.mark.parametrize("name", [*CASES, *ZERO_D_OUTPUT])
def test_recorded_gradient_equals_first_order(name):
    """backward_recorded (or a linear op's adjoint) gives the same numbers as the array backward."""
    fn, inputs, _ = case(name)
    v = mr.tensor(np.random.default_rng(5).standard_normal(fn(*inputs).shape))
    first = first_gradients(fn, inputs, v, create_graph=False)
    recorded = first_gradients(fn, inputs, v, create_graph=True)
    for i, (a, b) in enumerate(zip(first, recorded)):
        assert_close(b.numpy(), a.numpy(), f"{name}: input {i}, recorded vs first-order gradient")


def test_every_op_is_covered():
    """Every op of arithmetic/elementwise/reduce/loss and every listed linear op has a case,
    and each of those four modules' ops has a double backward (recorded or linear)."""
    covered = {name.split("-")[0] for name in CASES}
    for module in OP_MODULES:
        for op_name, cls in vars(module).items():
            if isinstance(cls, type) and issubclass(cls, ops.Function) and cls.__module__ == module.__name__:
                assert hasattr(cls, "backward_recorded") or cls.linear, f"{op_name} has no double backward"
                assert op_name in covered, f"{op_name} has no case in test_double_backward.py"
    assert set(LINEAR_OPS) <= covered


def test_gradgradcheck_takes_a_tuple_a_list_or_one_tensor_and_given_grad_outputs():
    x, w = random_tensor((3, 4), seed=0), random_tensor((4, 2), seed=1)
    assert mr.gradgradcheck(lambda x, w: (x @ w).tanh(), (x, w))
    assert mr.gradgradcheck(lambda x, w: (x @ w).tanh(), [x, w])
    assert mr.gradgradcheck(lambda x: x.exp() * x, x)
    v = random_tensor((3, 2), seed=2, requires_grad=False)  # a fixed cotangent: only x and w are checked
    assert mr.gradgradcheck(lambda x, w: (x @ w).sigmoid(), (x, w), v)
    assert mr.gradgradcheck(lambda x: (x.tanh(), x.exp()), (x,))  # two outputs
    assert mr.gradgradcheck(lambda x: x.sigmoid() * x, x, gen_non_contig_grad_outputs=True)


class WrongSecondDerivative(ops.Exp):
    """exp whose recorded gradient has the right values but a graph that misses x: y as a constant."""

    def backward_recorded(self, gy, saved):
        return gy * mr.Tensor(self.y.copy())


def test_gradgradcheck_reports_a_wrong_double_backward():
    x = random_tensor((2, 3))
    message = r"gradgradcheck failed: exp_const, input 0 \(shape \(2, 3\)"
    with pytest.raises(mr.GradcheckError, match=message) as failure:
        mr.gradgradcheck(lambda x: apply(WrongSecondDerivative(), x), (x,), name="exp_const")
    assert "worst entry" in str(failure.value) and "double backward" in str(failure.value)
    assert mr.gradgradcheck(lambda x: apply(WrongSecondDerivative(), x), (x,), raise_exception=False) is False


class WrongRecordedValues(ops.Exp):
    """exp whose recorded gradient is differentiated right but computes gy * y^2, not backward's gy * y."""

    def backward_recorded(self, gy, saved):
        y = saved(self.y)
        return gy * y * y


def test_gradgradcheck_catches_recorded_values_that_differ_from_backward():
    x = random_tensor((2, 3))
    with pytest.raises(mr.GradcheckError, match="input 0"):
        mr.gradgradcheck(lambda x: apply(WrongRecordedValues(), x), (x,))


def test_gradgradcheck_refuses_float32_and_inputs_without_grad():
    with pytest.raises(TypeError, match="gradgradcheck.*input 0 is float32"):
        mr.gradgradcheck(lambda x: x.exp(), (mr.randn(2, requires_grad=True),))
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        mr.gradgradcheck(lambda x: x.exp(), (random_tensor((2,), requires_grad=False),))


def test_third_derivative_of_x_to_the_fourth():
    """d3/dx3 sum(x^4) = 24 x: PowScalar's backward_recorded differentiated twice more."""
    x = random_tensor((3, 4))
    (g1,) = mr.autograd.grad((x**4).sum(), x, create_graph=True)
    (g2,) = mr.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = mr.autograd.grad(g2.sum(), x)
    assert_close(g1.numpy(), 4 * x.numpy() ** 3, "first derivative")
    assert_close(g2.numpy(), 12 * x.numpy() ** 2, "second derivative")
    assert_close(g3.numpy(), 24 * x.numpy(), "third derivative")


class Cube(ops.Function):
    """y = x^3 with a first-order backward only."""

    def forward(self, x):
        self.x = x
        return x**3

    def backward(self, gy):
        return gy * 3 * self.x**2


def test_an_op_without_double_backward_raises_with_its_name():
    x = random_tensor((3,))
    (g,) = mr.autograd.grad(apply(Cube(), x).sum(), x, create_graph=True)  # first order is fine
    assert_close(g.numpy(), 3 * x.numpy() ** 2, "first-order gradient of Cube")
    with pytest.raises(RuntimeError, match="CubeBackward0 cannot be differentiated again"):
        mr.autograd.grad(g.sum(), x)
    with pytest.raises(RuntimeError, match="CubeBackward0"):
        mr.gradgradcheck(lambda x: apply(Cube(), x), (x,))


# ---------------------------------------------------------------- against torch

# f(lib, F, x, w) for lib = minires or torch: scalar functions whose Hessian-vector products are compared
COMPOSITES = {
    "tanh_matmul_squared": lambda lib, F, x, w: ((x @ w).tanh() ** 2).sum(),
    "log_softmax_nll": lambda lib, F, x, w: F.nll_loss(F.log_softmax(x @ w, dim=1), lib.tensor(np.array([2, 0, 1]))),
    "cross_entropy_weight_smoothing": lambda lib, F, x, w: F.cross_entropy(
        x @ w, lib.tensor(np.array([1, 0, 2])), weight=lib.tensor(WEIGHT[:3]), label_smoothing=0.1),
    "mse_sigmoid_exp": lambda lib, F, x, w: F.mse_loss(x.sigmoid() * x.exp(), w.sum(1) * x),
    "var_norm": lambda lib, F, x, w: x.var(1).sum() + (x @ w).norm(dim=0).sum() + w.norm(),
    "bce_softmax_div_pow": lambda lib, F, x, w: F.binary_cross_entropy_with_logits(
        (x @ w) / (w.abs() + 1).sum(0), (x @ w).softmax(1), pos_weight=lib.tensor(np.array([2.0, 0.5, 1.0]))),
    "sqrt_log_pow_max": lambda lib, F, x, w: ((x * x + 1).sqrt().log() ** 1.5).sum()
    + (x.exp() ** w[:, 0]).amax(1).sum(),
    "leaky_relu_maximum_clip": lambda lib, F, x, w: (F.leaky_relu(x @ w, 0.1) ** 2 * lib.maximum(x @ w, w[0])).sum()
    + ((x @ w).clamp(-0.5, 0.5) ** 3).sum(),
}


def hessian_vector_products(lib, name):
    """d<grad f(x, w), (u, z)>/d(x, w) for one random (u, z), as numpy arrays."""
    rng = np.random.default_rng(3)
    x = lib.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = lib.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    u, z = lib.tensor(rng.standard_normal((3, 4))), lib.tensor(rng.standard_normal((4, 3)))
    gx, gw = lib.autograd.grad(COMPOSITES[name](lib, lib.nn.functional, x, w), (x, w), create_graph=True)
    hx, hw = lib.autograd.grad((gx * u).sum() + (gw * z).sum(), (x, w))
    return [t.detach().numpy() for t in (gx, gw, hx, hw)]


@pytest.mark.parametrize("name", COMPOSITES)
def test_hessian_vector_products_match_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = hessian_vector_products(mr, name), hessian_vector_products(torch, name)
    for what, a, b in zip(["grad x", "grad w", "Hv x", "Hv w"], ours, theirs):
        assert_close(a, b, f"{name}: {what}", atol=1e-10, rtol=1e-10)


def test_norm_at_zero_keeps_its_derivatives_finite():
    """At a zero norm the gradient is 0 (not 0/0, as torch), and its own derivative there is 0 too
    (torch's is NaN); away from the zero row both orders equal torch's."""
    x0 = np.random.default_rng(4).standard_normal((3, 4))
    x0[1] = 0.0
    u = np.random.default_rng(5).standard_normal((3, 4))

    def gradient_and_hv(lib, per_row=True):
        x = lib.tensor(x0, requires_grad=True)
        (g,) = lib.autograd.grad(x.norm(dim=1).sum() if per_row else x.norm(), x, create_graph=True)
        (hv,) = lib.autograd.grad((g * lib.tensor(u)).sum(), x)
        return g.detach().numpy(), hv.detach().numpy()

    g, hv = gradient_and_hv(mr)
    assert np.all(g[1] == 0) and np.all(hv[1] == 0) and np.all(np.isfinite(hv))
    torch = pytest.importorskip("torch")
    for per_row, rows in ((True, [0, 2]), (False, [0, 1, 2])):  # the whole norm is not 0: every row compares
        for a, b, what in zip(gradient_and_hv(mr, per_row), gradient_and_hv(torch, per_row), ["gradient", "Hv"]):
            assert_close(a[rows], b[rows], f"norm at a zero row (per_row={per_row}): {what}", atol=1e-10, rtol=1e-10)
