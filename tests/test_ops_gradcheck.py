"""Every differentiable op of the core, gradchecked in float64 with a random cotangent.

One table: name -> (function, input specs). An input spec is a shape, or
(shape, options) with options passed to `random_array` (e.g. positive=True for log,
away_from=0 for relu's kink). Each row runs on contiguous inputs and on
non-contiguous views ("transposed", "strided") of the same values.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_array, random_tensor

import minires as mr
import minires.nn.functional as F

AWAY_FROM_0 = {"away_from": 0.0}
POSITIVE = {"positive": True}
LABELS = np.array([2, 0, 4])

CASES = {
    # binary arithmetic, including broadcasting, 0-d scalars and size-1 dims
    "add": (lambda a, b: a + b, [(3, 4), (3, 4)]),
    "add_broadcast_row": (lambda a, b: a + b, [(3, 4), (4,)]),
    "add_size1_dims": (lambda a, b: a + b, [(1, 3, 1), (2, 1, 4)]),
    "add_scalar_tensor": (lambda a, b: a + b, [(), (2, 3)]),
    "add_python_number": (lambda a: 2.5 + a, [(2, 3)]),
    "sub_broadcast": (lambda a, b: a - b, [(2, 1, 4), (3, 1)]),
    "rsub_number": (lambda a: 1.0 - a, [(5,)]),
    "mul_broadcast": (lambda a, b: a * b, [(2, 3, 4), (3, 1)]),
    "mul_reused": (lambda a: a * a * a, [(4, 3)]),
    "div_broadcast": (lambda a, b: a / b, [(3, 4), ((1, 4), POSITIVE)]),
    "rdiv_number": (lambda b: 2.0 / b, [((3, 2), POSITIVE)]),
    "neg": (lambda a: -a, [(3, 4)]),
    "pow_scalar_3": (lambda a: a**3, [(3, 4)]),
    "pow_scalar_half": (lambda a: a**0.5, [((3, 4), POSITIVE)]),
    "pow_scalar_minus1": (lambda a: a**-1, [((3, 4), AWAY_FROM_0)]),
    "pow_tensor": (lambda a, b: a**b, [((3, 4), POSITIVE), (4,)]),
    "rpow_number": (lambda b: 2.0**b, [(3,)]),
    # matrix products
    "matmul_2d": (lambda a, b: a @ b, [(3, 4), (4, 5)]),
    "matmul_batched_broadcast": (lambda a, b: a @ b, [(2, 1, 3, 4), (5, 4, 2)]),
    "matmul_vector_right": (lambda a, b: a @ b, [(3, 4), (4,)]),
    "matmul_vector_left": (lambda a, b: a @ b, [(4,), (4, 2)]),
    "matmul_batch1": (lambda a, b: a @ b, [(1, 3, 4), (1, 4, 1)]),
    # elementwise functions
    "exp": (lambda a: a.exp(), [(3, 4)]),
    "log": (lambda a: a.log(), [((3, 4), POSITIVE)]),
    "sqrt": (lambda a: a.sqrt(), [((3, 4), POSITIVE)]),
    "tanh": (lambda a: a.tanh(), [(3, 4)]),
    "sigmoid": (lambda a: a.sigmoid(), [(3, 4)]),
    "relu": (lambda a: a.relu(), [((3, 4), AWAY_FROM_0)]),
    "relu_functional": (F.relu, [((2, 3, 4), AWAY_FROM_0)]),
    "abs": (lambda a: a.abs(), [((3, 4), AWAY_FROM_0)]),
    "clip": (lambda a: a.clip(-0.5, 0.5), [((4, 5), {"away_from": 0.5, "margin": 0.05})]),
    "clip_low_only": (lambda a: a.clip(min=0.2), [((4, 5), {"away_from": 0.2, "margin": 0.05})]),
    "maximum_broadcast": (lambda a, b: mr.maximum(a, b), [(3, 4), (4,)]),
    "minimum": (lambda a, b: mr.minimum(a, b), [(3, 4), (3, 4)]),
    "where": (lambda a, b: mr.where(mr.tensor(np.arange(12).reshape(3, 4) % 3 == 0), a, b), [(3, 4), (4,)]),
    # reductions
    "sum_all": (lambda a: a.sum(), [(3, 4)]),
    "sum_dim1": (lambda a: a.sum(1), [(2, 3, 4)]),
    "sum_dims_keepdim": (lambda a: a.sum((0, 2), keepdim=True), [(2, 3, 4)]),
    "sum_scalar": (lambda a: a.sum(), [()]),
    "mean_all": (lambda a: a.mean(), [(3, 4)]),
    "mean_neg_dim_keepdim": (lambda a: a.mean(-1, keepdim=True), [(2, 3, 4)]),
    "max_all": (lambda a: a.max(), [(3, 4)]),
    "max_dim1_values": (lambda a: a.max(1).values, [(2, 3, 4)]),
    "max_dim_keepdim_values": (lambda a: a.max(-1, keepdim=True)[0], [(2, 3, 4)]),
    "min_dim0_values": (lambda a: a.min(0).values, [(3, 4)]),
    "min_all": (lambda a: a.min(), [(3, 4)]),
    "amax_dim1": (lambda a: a.amax(1), [(2, 3, 4)]),
    "amax_dims_keepdim": (lambda a: a.amax((0, 2), keepdim=True), [(2, 3, 4)]),
    "amin_dim0": (lambda a: a.amin(0), [(3, 4)]),
    "max_other": (lambda a, b: a.max(b), [(3, 4), (4,)]),
    "sort_dim1": (lambda a: a.sort(1).values, [(3, 5)]),
    "sort_descending_dim0": (lambda a: a.sort(0, descending=True)[0], [(4, 3)]),
    "topk_2": (lambda a: a.topk(2).values, [(3, 5)]),
    "topk_smallest_dim0": (lambda a: a.topk(3, dim=0, largest=False).values, [(4, 2, 3)]),
    "norm_2_all": (lambda a: a.norm(), [(3, 4)]),
    "norm_2_dim1": (lambda a: a.norm(2, dim=1), [(3, 4)]),
    "norm_1_dim0_keepdim": (lambda a: a.norm(1, dim=0, keepdim=True), [((3, 4), AWAY_FROM_0)]),
    "norm_inf_dim1": (lambda a: a.norm(float("inf"), dim=1), [(3, 4)]),
    "norm_fro_dims": (lambda a: a.norm("fro", dim=(1, 2)), [(2, 3, 4)]),
    "clone": (lambda a: a.clone() * a, [(3, 4)]),
    "clamp": (lambda a: a.clamp(min=-0.5, max=0.5), [((4, 5), {"away_from": 0.5, "margin": 0.05})]),
    "var_all": (lambda a: a.var(), [(3, 4)]),
    "var_dims_biased": (lambda a: a.var((0, 2), keepdim=True, correction=0), [(2, 3, 4)]),
    "std_dim1": (lambda a: a.std(1), [(3, 5)]),
    # movement
    "reshape": (lambda a: a.reshape(4, 3), [(3, 4)]),
    "view_minus1": (lambda a: a.view(-1, 2), [(3, 4)]),
    "transpose": (lambda a: a.transpose(0, 2), [(2, 3, 4)]),
    "permute": (lambda a: a.permute(2, 0, 1), [(2, 3, 4)]),
    "T": (lambda a: a.T * 1.0, [(3, 4)]),
    "flatten": (lambda a: a.flatten(1), [(2, 3, 2, 2)]),
    "squeeze": (lambda a: a.squeeze(), [(1, 3, 1, 2)]),
    "unsqueeze": (lambda a: a.unsqueeze(1), [(3, 2)]),
    "expand": (lambda a: a.expand(2, 3, 4), [(3, 1)]),
    "expand_keep": (lambda a: a.expand(-1, 4), [(3, 1)]),
    "cat": (lambda a, b: mr.cat([a, b, a], dim=1), [(2, 3), (2, 1)]),
    "stack": (lambda a, b: mr.stack([a, b], dim=-1), [(2, 3), (2, 3)]),
    "pad": (lambda a: mr.pad(a, [(0, 0), (1, 2)]), [(2, 3)]),
    "getitem_slices": (lambda a: a[1:, ::2], [(3, 5)]),
    "getitem_negative_step": (lambda a: a[::-1, 1], [(3, 5)]),
    "getitem_int": (lambda a: a[1], [(3, 5)]),
    "getitem_none_ellipsis": (lambda a: a[None, ..., 2], [(3, 5)]),
    "getitem_bool_mask": (lambda a: a[np.array([True, False, True])], [(3, 5)]),
    "getitem_int_array_repeats": (lambda a: a[np.array([0, 2, 0, 0])], [(3, 5)]),
    "getitem_two_int_arrays": (lambda a: a[np.array([0, 1, 0]), np.array([4, 4, 4])], [(3, 5)]),
    # softmax family
    "log_softmax": (lambda a: a.log_softmax(1), [(3, 5)]),
    "log_softmax_dim0": (lambda a: F.log_softmax(a, dim=0), [(3, 5)]),
    "softmax": (lambda a: F.softmax(a, dim=-1), [(3, 5)]),
    "cross_entropy": (lambda a: F.cross_entropy(a, LABELS), [(3, 5)]),
    "cross_entropy_smoothing": (lambda a: F.cross_entropy(a, LABELS, label_smoothing=0.1), [(3, 5)]),
    # a small composite: a two-layer net with a loss
    "mlp_loss": (
        lambda x, w1, w2: F.cross_entropy((x @ w1).tanh() @ w2, LABELS),
        [(3, 4), (4, 6), (6, 5)],
    ),
}


def make_inputs(specs, layout):
    """One float64 leaf per spec: a spec is a shape, or (shape, options for random_array)."""
    tensors = []
    for seed, spec in enumerate(specs):
        shape, options = spec if len(spec) == 2 and isinstance(spec[1], dict) else (spec, {})
        tensors.append(random_tensor(shape, seed=seed, layout=layout, **options))
    return tensors


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name, layout):
    fn, specs = CASES[name]
    inputs = make_inputs(specs, layout)
    assert mr.gradcheck(fn, *inputs, name=name)


@pytest.mark.parametrize("name", CASES)
def test_float32_stays_float32(name):
    """No op silently promotes float32 to float64, forward or backward."""
    fn, specs = CASES[name]
    inputs = [mr.Tensor(t.array.astype(np.float32), requires_grad=True) for t in make_inputs(specs, "contiguous")]
    y = fn(*inputs)
    assert y.dtype == np.float32, f"{name}: forward gave {y.dtype}"
    y.backward(np.ones(y.shape, dtype=np.float32))
    for i, x in enumerate(inputs):
        assert x.grad is not None and x.grad.dtype == np.float32, f"{name}: input {i} grad is {getattr(x.grad, 'dtype', None)}"


def test_inputs_are_restored_after_gradcheck():
    x = random_tensor((3, 4), layout="strided")
    before = x.array.copy()
    mr.gradcheck(lambda a: a.exp(), x)
    assert np.array_equal(x.array, before)
    assert not x.array.flags.c_contiguous, "gradcheck must keep the input's own (non-contiguous) layout"


def test_relu_gradient_at_zero_is_zero():
    x = mr.tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    x.relu().backward(np.ones(3))
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


def test_amax_ties_share_the_gradient():
    x = mr.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), requires_grad=True)
    x.amax(1).backward(np.array([1.0, 4.0]))
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [4.0, 0.0, 0.0]]


def test_max_dim_gives_a_tie_gradient_to_the_first_index_only():
    """As torch.max(x, dim): the values are the entries at indices (the first of ties)."""
    x = mr.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), requires_grad=True)
    values, indices = x.max(1)
    assert indices.tolist() == [1, 0]
    values.backward(np.array([1.0, 4.0]))
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [4.0, 0.0, 0.0]]


def test_cross_entropy_is_stable_for_huge_logits():
    logits = mr.tensor(np.array([[1000.0, 0.0], [0.0, -1000.0]]), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([0, 1]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isclose(loss.item(), 500.0)
    assert np.all(np.isfinite(logits.grad.numpy()))


def test_cross_entropy_label_smoothing_value():
    """K=2, s=0.2: q = [0.9, 0.1] for label 0; with equal logits the loss is log 2 whatever q is."""
    loss = F.cross_entropy(mr.zeros(1, 2), np.array([0]), label_smoothing=0.2)
    assert np.isclose(loss.item(), np.log(2))
    logits = np.array([[2.0, 0.0]])
    log_p = logits - np.log(np.exp(logits).sum())
    want = -(0.9 * log_p[0, 0] + 0.1 * log_p[0, 1])
    got = F.cross_entropy(mr.tensor(logits), np.array([0]), label_smoothing=0.2).item()
    assert np.isclose(got, want), (got, want)


def test_random_array_layouts_are_really_non_contiguous():
    assert not random_array((3, 4), layout="transposed").flags.c_contiguous
    assert not random_array((3, 4), layout="strided").flags.c_contiguous
