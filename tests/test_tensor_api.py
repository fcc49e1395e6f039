"""The Tensor methods and top-level names PyTorch code uses, written as students write them
(`import minires as torch`), then the same expressions against PyTorch itself in float64.

The new backwards (max/min(dim), sort, topk, norm, clone) are gradchecked in
tests/test_ops_gradcheck.py; here they are compared with torch, forward and backward.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, random_array

import minires as mr
import minires as torch  # the promise: PyTorch code runs as written

CLASSES = ("plane", "car", "bird", "cat")


def logits_and_labels():
    outputs = mr.tensor(np.array([[0.1, 2.0, -1.0, 0.3], [1.5, 0.2, 0.1, 3.0], [0.0, 0.1, 4.0, 0.2]]))
    return outputs, mr.tensor([1, 3, 0])


# ---------------------------------------------------------------------- the classification idioms


def test_accuracy_idioms():
    outputs, targets = logits_and_labels()
    _, predicted = outputs.max(1)
    assert predicted.tolist() == [1, 3, 2] and predicted.dtype == np.int64
    assert predicted.eq(targets).sum().item() == 2
    assert (predicted == targets).sum().item() == 2
    _, predicted = torch.max(outputs.data, 1)
    assert predicted.tolist() == [1, 3, 2]
    assert [CLASSES[targets[j]] for j in range(3)] == ["car", "cat", "plane"]
    assert CLASSES[predicted[0]] == "car"


def test_max_dim_on_a_batch_of_two_unpacks_values_and_indices_not_rows():
    """Before, max(1) returned values, and on a batch of two `_, predicted = ...` quietly
    unpacked the second row's maximum."""
    outputs = mr.tensor(np.array([[0.0, 5.0, 1.0], [7.0, 0.0, 1.0]]))
    values, indices = outputs.max(1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    result = outputs.max(dim=1, keepdim=True)
    assert isinstance(result, mr.return_types.max)
    assert result.values.shape == (2, 1) and result.indices.tolist() == [[1], [0]]


def test_max_and_min_forms():
    x = mr.tensor(np.array([[3.0, -1.0], [0.5, 2.0]]))
    assert x.max().shape == () and x.max().item() == 3.0 and x.min().item() == -1.0
    assert mr.max(x).item() == 3.0 and mr.min(x).item() == -1.0
    assert x.min(0).indices.tolist() == [1, 0] and x.min(0).values.tolist() == [0.5, -1.0]
    other = mr.tensor(np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert x.max(other).tolist() == [[3.0, 0.0], [1.0, 2.0]] == mr.max(x, other).tolist()
    assert x.min(other).tolist() == [[0.0, -1.0], [0.5, 1.0]] == mr.min(x, other).tolist()
    assert x.amax(1).tolist() == [3.0, 2.0] and x.amin((0, 1)).item() == -1.0
    assert mr.argmax(x, 1).tolist() == [0, 1] and mr.argmax(x).item() == 0 and mr.argmin(x).item() == 1
    with pytest.raises(TypeError, match="max: dim must be one int, got \\(0, 1\\); for several axes use amax"):
        x.max((0, 1))
    with pytest.raises(IndexError, match="min: dim 2 is out of range for a 2-d tensor"):
        x.min(2)
    with pytest.raises(TypeError, match="max: keepdim=True needs a dim"):
        x.max(keepdim=True)


def test_flatten_view_size_dim_numel():
    x = mr.zeros(2, 3, 4, 5)
    assert torch.flatten(x, 1).shape == (2, 60)
    assert x.view(x.size(0), -1).shape == (2, 60) and x.view((6, 20)).shape == (6, 20)
    assert x.size() == (2, 3, 4, 5) and isinstance(x.size(), mr.Size) and x.size(-1) == 5
    assert repr(x.size()) == "minires.Size([2, 3, 4, 5])" and x.size().numel() == 120
    assert x.dim() == 4 and x.numel() == 120 and mr.numel(x) == 120
    y = mr.zeros(6, 20)
    assert x.view_as(y).shape == (6, 20) and x.reshape_as(y).shape == (6, 20)
    assert mr.zeros(1, 5).expand_as(mr.zeros(3, 5)).shape == (3, 5)
    assert mr.zeros(2, 3).t().shape == (3, 2) and mr.zeros(3).t().shape == (3,)
    with pytest.raises(ValueError, match="t: expects a tensor with <= 2 dimensions, got shape \\(2, 3, 4, 5\\)"):
        x.t()
    with pytest.raises(NotImplementedError, match="view\\(dtype\\)"):
        x.view(mr.float64)


# ---------------------------------------------------------------------- comparison, casts, conversion


def test_comparisons_match_numpy():
    a, b = random_array((3, 4), seed=0), random_array((3, 4), seed=1)
    a[0, 0] = b[0, 0]
    x, y = mr.tensor(a), mr.tensor(b)
    for name, want in [("eq", a == b), ("ne", a != b), ("lt", a < b), ("le", a <= b), ("gt", a > b), ("ge", a >= b)]:
        got = getattr(x, name)(y)
        assert got.dtype == np.bool_ and np.array_equal(got.numpy(), want), name
        assert np.array_equal(getattr(mr, name)(x, y).numpy(), want), name
    assert x.gt(0).tolist() == (a > 0).tolist()
    assert x.eq(x).all().item() and not x.ne(x).any().item()


def test_dtype_casts():
    x = mr.tensor(np.array([1.7, -0.2, 0.0]), requires_grad=True)
    assert x.long().dtype == np.int64 and x.long().tolist() == [1, 0, 0]
    assert x.int().dtype == np.int32 and x.bool().tolist() == [True, True, False]
    assert not x.long().requires_grad and not x.bool().requires_grad  # casts to integers carry no gradient
    y = x.float()
    assert y.dtype == np.float32 and y.requires_grad  # floating casts stay in the graph
    y.sum().backward()
    assert x.grad.dtype == np.float64 and x.grad.tolist() == [1.0, 1.0, 1.0]
    assert x.type_as(mr.zeros(1, dtype=mr.int64)).dtype == np.int64
    assert mr.tensor([1, 2]).double().dtype == np.float64


def test_dtype_names():
    assert mr.float is np.float32 and mr.float32 is np.float32 and mr.double is np.float64
    assert mr.long is np.int64 and mr.int is np.int32 and mr.bool is np.bool_ and mr.uint8 is np.uint8
    assert mr.zeros(2, dtype=mr.long).dtype == np.int64 and mr.randn(2).dtype == mr.float32
    assert mr.tensor([1.0]).to(mr.double).dtype == mr.float64


def test_python_scalars_and_index():
    labels = mr.tensor([2, 0])
    assert CLASSES[labels[0]] == "bird" and list(range(labels[0])) == [0, 1]
    assert float(mr.tensor([2.5])) == 2.5 and int(mr.tensor(3.9)) == 3 and bool(mr.tensor([1]))
    assert CLASSES[mr.tensor(True)] == "car"
    with pytest.raises(TypeError, match="only integer tensors of a single element can be converted to an index"):
        CLASSES[mr.tensor(1.0)]
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        CLASSES[labels]
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(labels)


def test_clone_is_a_differentiable_copy():
    x = mr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.clone()
    assert y.array is not x.array and not np.shares_memory(y.array, x.array) and y.grad_fn is not None
    (y * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_clamp_pow_norm_std():
    x = mr.tensor(np.array([-2.0, 0.5, 3.0]))
    assert x.clamp(-1, 1).tolist() == [-1.0, 0.5, 1.0] and x.clamp(min=0).tolist() == [0.0, 0.5, 3.0]
    assert mr.clamp(x, max=0.0).tolist() == [-2.0, 0.0, 0.0] and x.clip(-1, 1).tolist() == [-1.0, 0.5, 1.0]
    with pytest.raises(NotImplementedError, match="clamp: tensor bounds"):
        x.clamp(mr.zeros(3))
    with pytest.raises(ValueError, match="clamp: at least one of min and max"):
        x.clamp()
    assert x.pow(2).tolist() == [4.0, 0.25, 9.0] and mr.pow(x, 2).tolist() == [4.0, 0.25, 9.0]
    assert np.isclose(x.norm().item(), np.sqrt(4 + 0.25 + 9)) and x.norm(1).item() == 5.5
    assert x.norm(float("inf")).item() == 3.0 and np.isclose(x.std().item(), np.std(x.numpy(), ddof=1))
    with pytest.raises(NotImplementedError, match="norm: p=3"):
        x.norm(3)


def test_arithmetic_method_forms():
    # x.div(255) as in a Dataset's ToTensor by hand: the methods are the operators
    x = mr.tensor(np.array([255.0, 51.0]), requires_grad=True)
    y = x.div(255).mul(2).add(1).sub(mr.tensor(np.array([1.0, 1.0])), alpha=0.5).add(3, alpha=2).neg()
    assert np.allclose(y.numpy(), -(np.array([1.0, 0.2]) * 2 + 1 - 0.5 + 6))
    y.sum().backward()
    assert np.allclose(x.grad.numpy(), [-2 / 255] * 2)
    with pytest.raises(NotImplementedError, match="div: rounding_mode='floor'"):
        x.div(2, rounding_mode="floor")


def test_norm_of_zeros_has_a_zero_gradient():
    x = mr.zeros(2, 3, dtype=mr.float64, requires_grad=True)
    x.norm(dim=1).sum().backward()
    assert x.grad.tolist() == [[0.0] * 3] * 2


def test_sort_and_topk():
    x = mr.tensor(np.array([[3.0, 1.0, 2.0, 1.0]]))
    values, indices = x.sort()
    assert values.tolist() == [[1.0, 1.0, 2.0, 3.0]] and indices.tolist() == [[1, 3, 2, 0]]  # stable
    assert x.sort(descending=True).indices.tolist() == [[0, 2, 1, 3]]
    top = x.topk(2)
    assert isinstance(top, mr.return_types.topk) and top.values.tolist() == [[3.0, 2.0]] and top.indices.tolist() == [[0, 2]]
    assert mr.topk(x, 1, largest=False).indices.tolist() == [[1]]
    assert mr.tensor([3, 1, 2]).sort(descending=True).values.tolist() == [3, 2, 1]
    with pytest.raises(ValueError, match="topk: k must lie in \\[0, 4\\]"):
        x.topk(5)


# ---------------------------------------------------------------------- devices


def test_device_objects():
    d = mr.device("cuda:1")
    assert (d.type, d.index, str(d), repr(d)) == ("cuda", 1, "cuda:1", "device(type='cuda', index=1)")
    assert mr.device("cuda", 0) == "cuda:0" and mr.device(0) == "cuda:0" and repr(mr.device("cpu")) == "device(type='cpu')"
    x = mr.zeros(2, device=mr.device("cpu"))
    assert x.device == "cpu" and x.device.type == "cpu" and not x.is_cuda
    assert x.to(mr.device("cpu")) is x and x.cpu() is x and x.to(x.device) is x
    with pytest.raises(ValueError, match="device: expected 'cpu', 'cuda' or 'cuda:N', got 'gpu'"):
        mr.device("gpu")
    model = mr.nn.Linear(2, 2)
    assert model.to(mr.device("cpu")) is model


def test_to_argument_forms():
    x = mr.zeros(2)
    assert x.to("cpu", mr.float64).dtype == np.float64 and x.to(dtype=mr.float64).dtype == np.float64
    assert x.to(device="cpu", dtype=mr.int64).dtype == np.int64
    assert x.to(mr.zeros(1, dtype=mr.float64)).dtype == np.float64
    assert x.to("cpu", non_blocking=True) is x and x.to("cpu", copy=True) is not x
    with pytest.raises(TypeError, match="to: unexpected keyword arguments \\['memory'\\]"):
        x.to(memory=1)


def test_cuda_and_backends_names():
    assert isinstance(mr.cuda.is_available(), bool)
    if not mr.cuda.is_available():
        assert mr.cuda.device_count() == 0
        with pytest.raises(RuntimeError, match="cuda.synchronize: no CUDA GPU is available"):
            mr.cuda.synchronize()
    mr.cuda.manual_seed(0)
    mr.cuda.manual_seed_all(0)
    mr.cuda.empty_cache()
    before = mr.backends.cudnn.benchmark
    try:
        mr.backends.cudnn.benchmark = True
        mr.backends.cudnn.deterministic = True
        assert mr.backends.cudnn.enabled
    finally:
        mr.backends.cudnn.benchmark, mr.backends.cudnn.deterministic = before, False


# ---------------------------------------------------------------------- grad modes, Variable, autograd.grad


def test_grad_modes():
    x = mr.ones(2, requires_grad=True)
    with mr.inference_mode():
        assert not (x * 2).requires_grad
    with mr.inference_mode(False):
        assert (x * 2).requires_grad
    try:
        mr.set_grad_enabled(False)  # a plain call, as in torch
        assert not mr.is_grad_enabled()
    finally:
        mr.set_grad_enabled(True)
    with mr.set_grad_enabled(False):
        assert not mr.is_grad_enabled()
    assert mr.is_grad_enabled()

    @mr.set_grad_enabled(False)
    def evaluate():
        return mr.is_grad_enabled()

    assert mr.is_grad_enabled() and evaluate() is False and mr.is_grad_enabled()


def test_variable_is_a_tensor():
    v = mr.autograd.Variable(mr.ones(3), requires_grad=True)
    assert isinstance(v, mr.Tensor) and v.requires_grad and v.is_leaf
    assert not mr.autograd.Variable(np.zeros(2)).requires_grad


def test_autograd_grad_leaves_grad_alone():
    x = mr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = mr.tensor(np.array([3.0, 4.0]), requires_grad=True)
    x.grad = mr.tensor(np.array([10.0, 10.0]))
    h = x * w
    (gx, gh) = mr.autograd.grad((h * h).sum(), [x, h])
    assert gx.tolist() == [2 * 1 * 9, 2 * 2 * 16] and gh.tolist() == [6.0, 16.0]
    assert x.grad.tolist() == [10.0, 10.0] and w.grad is None  # untouched


def test_autograd_grad_options():
    x = mr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    unused = mr.tensor(np.array([1.0]), requires_grad=True)
    y = x * x
    (g,) = mr.autograd.grad(y, x, grad_outputs=mr.tensor(np.array([1.0, -1.0])), retain_graph=True)
    assert g.tolist() == [2.0, -4.0]
    (g,) = mr.autograd.grad([y.sum(), (x * 3).sum()], x)  # several outputs: gradients summed
    assert g.tolist() == [5.0, 7.0]
    with pytest.raises(RuntimeError, match="autograd.grad: input 1 .* appears not to have been used"):
        mr.autograd.grad((x * 2).sum(), [x, unused])
    assert mr.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None
    assert mr.autograd.grad((x * 2).sum(), [x, unused], materialize_grads=True)[1].tolist() == [0.0]
    (gx,) = mr.autograd.grad((x * x).sum(), x, create_graph=True)  # gx = 2x, itself differentiable
    assert gx.requires_grad and gx.grad_fn is not None and x.grad is None


def test_backward_inputs_only_touches_those():
    x, w = mr.ones(2, dtype=mr.float64, requires_grad=True), mr.ones(2, dtype=mr.float64, requires_grad=True)
    (x * w * 2).sum().backward(inputs=[w])
    assert x.grad is None and w.grad.tolist() == [2.0, 2.0]


# ---------------------------------------------------------------------- sharing memory


def test_from_numpy_and_as_tensor_share_memory():
    a = np.arange(4.0)
    t = mr.from_numpy(a)
    a[0] = 9.0
    assert t.tolist()[0] == 9.0 and t.dtype == np.float64
    assert np.shares_memory(mr.as_tensor(a).array, a)
    assert not np.shares_memory(mr.as_tensor(a, dtype=mr.float32).array, a)
    assert mr.as_tensor([1.0, 2.0]).dtype == np.float32 and mr.as_tensor(t) is t
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        mr.from_numpy([1.0])


# ---------------------------------------------------------------------- against PyTorch, float64

# name -> (minires fn, torch fn, input shapes); each returns one tensor to differentiate
PARITY = {
    "max_dim_values": (lambda a: a.max(1).values, lambda a: a.max(1).values, [(3, 5)]),
    "min_dim_keepdim": (lambda a: a.min(0, keepdim=True)[0], lambda a: a.min(0, keepdim=True)[0], [(4, 3)]),
    "max_all_min_all": (lambda a: a.max() * a.min(), lambda a: a.max() * a.min(), [(3, 4)]),
    "max_other": (lambda a, b: torch.max(a, b), lambda a, b: TORCH.max(a, b), [(3, 4), (3, 4)]),
    "amax_amin": (lambda a: a.amax((0, 2)) + a.amin(1).sum(), lambda a: a.amax((0, 2)) + a.amin(1).sum(), [(2, 3, 4)]),
    "sort": (lambda a: a.sort(1, descending=True).values, lambda a: a.sort(1, descending=True).values, [(3, 5)]),
    "topk": (lambda a: a.topk(2, dim=0).values, lambda a: a.topk(2, dim=0).values, [(4, 3)]),
    "norm_2": (lambda a: a.norm() + a.norm(2, dim=1).sum(), lambda a: a.norm() + a.norm(2, dim=1).sum(), [(3, 4)]),
    "norm_1_inf": (lambda a: a.norm(1, dim=0) * a.norm(float("inf"), dim=0),
                   lambda a: a.norm(1, dim=0) * a.norm(float("inf"), dim=0), [(3, 4)]),
    "norm_fro_keepdim": (lambda a: a.norm("fro", dim=(1, 2), keepdim=True), lambda a: a.norm("fro", dim=(1, 2), keepdim=True),
                         [(2, 3, 4)]),
    "clone_clamp_pow_t": (lambda a: a.clone().clamp(0.7, 1.5).pow(3).t(), lambda a: a.clone().clamp(0.7, 1.5).pow(3).t(),
                          [(3, 4)]),
    "add_sub_mul_div": (lambda a, b: a.div(b).mul(a).add(b, alpha=2).sub(a, alpha=0.5),
                        lambda a, b: a.div(b).mul(a).add(b, alpha=2).sub(a, alpha=0.5), [(3, 4), (4,)]),
    "flatten_view_as": (lambda a, b: torch.flatten(a, 1).view_as(b) * b, lambda a, b: TORCH.flatten(a, 1).view_as(b) * b,
                        [(2, 3, 2), (3, 4)]),
}
TORCH = None  # set by the test itself, never at collection (tests/test_collection.py)


@pytest.mark.parametrize("name", PARITY)
def test_matches_torch(name):
    global TORCH
    TORCH = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'minires[bench]')")
    mr_fn, torch_fn, shapes = PARITY[name]
    arrays = [random_array(s, seed=i, positive=True) for i, s in enumerate(shapes)]
    ours = [mr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [TORCH.tensor(a, requires_grad=True) for a in arrays]
    y, y_t = mr_fn(*ours), torch_fn(*theirs)
    assert_close(y.numpy(), y_t.detach().numpy(), f"{name}: forward", atol=1e-10, rtol=1e-10)
    gy = np.random.default_rng(99).standard_normal(y.shape)
    y.backward(gy)
    y_t.backward(TORCH.tensor(gy))
    for i, (a, a_t) in enumerate(zip(ours, theirs)):
        assert_close(a.grad, a_t.grad.numpy(), f"{name}: gradient of input {i}", atol=1e-10, rtol=1e-10)


def test_indices_match_torch():
    pt = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'minires[bench]')")
    a = random_array((4, 6), seed=3)
    x, x_t = mr.tensor(a), pt.tensor(a)
    for what in ("max", "min"):
        assert getattr(x, what)(1).indices.tolist() == getattr(x_t, what)(1).indices.tolist(), what
    assert x.sort(0).indices.tolist() == x_t.sort(0).indices.tolist()
    assert x.topk(3).indices.tolist() == x_t.topk(3).indices.tolist()
    assert x.argmax().item() == x_t.argmax().item()


def test_autograd_grad_matches_torch():
    pt = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'minires[bench]')")
    a, b = random_array((3, 4), seed=0), random_array((4,), seed=1)
    x, w = mr.tensor(a, requires_grad=True), mr.tensor(b, requires_grad=True)
    x_t, w_t = pt.tensor(a, requires_grad=True), pt.tensor(b, requires_grad=True)
    ours = mr.autograd.grad(((x * w).tanh() ** 2).sum(), [x, w])
    theirs = pt.autograd.grad(((x_t * w_t).tanh() ** 2).sum(), [x_t, w_t])
    for i, (g, g_t) in enumerate(zip(ours, theirs)):
        assert_close(g, g_t.numpy(), f"autograd.grad: input {i}", atol=1e-12, rtol=1e-12)
