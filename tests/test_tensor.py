"""Tensor basics: factories, dtypes, devices, conversion, repr, and clear errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import minires as mr
from minires.tensor import Tensor


def test_factories_default_to_float32_and_take_dtype():
    assert mr.zeros(2, 3).dtype == np.float32 and mr.zeros(2, 3).shape == (2, 3)
    assert mr.ones((2, 3)).shape == (2, 3)
    assert mr.randn(4, dtype=np.float64).dtype == np.float64
    assert mr.rand(4, dtype="float64").dtype == np.float64
    assert mr.full((2,), 7.0).tolist() == [7.0, 7.0]
    assert mr.tensor([1.0, 2.0]).dtype == np.float32
    assert mr.tensor([1, 2]).dtype == np.int64
    assert mr.tensor(np.zeros(2)).dtype == np.float64  # arrays keep their dtype
    assert mr.arange(4).tolist() == [0, 1, 2, 3] and mr.arange(4).dtype == np.int64
    assert mr.arange(0.0, 1.0, 0.5).dtype == np.float32
    x = mr.randn(2, 3, dtype=np.float64)
    for like in (mr.zeros_like, mr.ones_like, mr.randn_like, mr.rand_like):
        assert like(x).shape == (2, 3) and like(x).dtype == np.float64
    assert mr.full_like(x, 3.0).tolist() == [[3.0] * 3] * 2


def test_tensor_copies_its_data():
    a = np.zeros(3)
    t = mr.tensor(a)
    a[0] = 5
    assert t.tolist() == [0.0, 0.0, 0.0]


def test_manual_seed_repeats_random_tensors():
    mr.manual_seed(123)
    a = mr.randn(5).numpy().copy()
    mr.manual_seed(123)
    assert np.array_equal(a, mr.randn(5).numpy())
    state = mr.get_rng_state()
    b = mr.rand(3).numpy().copy()
    mr.set_rng_state(state)
    assert np.array_equal(b, mr.rand(3).numpy())


def test_properties_and_conversion():
    x = mr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert (x.shape, x.ndim, x.device, x.numel(), len(x), x.size(1)) == ((2, 2), 2, "cpu", 4, 2, 2)
    assert x.is_leaf and not (x * 1).is_leaf
    assert mr.tensor([2.5]).item() == 2.5 and float(mr.tensor(2.5)) == 2.5
    with pytest.raises(ValueError, match=r"one-element tensors.*\(2, 2\)"):
        x.item()
    d = x.detach()
    assert not d.requires_grad and d.array is x.array
    assert x.double().dtype == np.float64 and x.to("float64").dtype == np.float64
    assert x.to("cpu") is x


def test_dtype_conversion_is_differentiable():
    x = mr.tensor([1.0, 2.0], requires_grad=True)  # float32
    y = x.double() * 3
    assert y.dtype == np.float64
    y.backward(np.ones(2))
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 3.0]


def test_repr():
    assert repr(mr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    x = mr.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x.sum()) == "tensor(3., grad_fn=<SumBackward0>)"
    assert repr(mr.tensor(np.array([0.5]))) == "tensor([0.5], dtype=float64)"


def test_comparisons_give_bool_without_grad():
    x = mr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, want in [
        (x > 2, [False, False, True]), (x >= 2, [False, True, True]), (x < 2, [True, False, False]),
        (x <= 2, [True, True, False]), (x == 2, [False, True, False]), (x != 2, [True, False, True]),
    ]:
        assert result.dtype == np.bool_ and not result.requires_grad and result.tolist() == want
    assert (x * (x > 1)).dtype == np.float32  # a bool mask takes x's dtype


def test_numpy_array_on_the_left_defers_to_tensor():
    x = mr.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * x
    assert isinstance(y, Tensor) and y.requires_grad


def test_argmax():
    x = mr.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 1.0]])
    assert x.argmax(1).tolist() == [1, 0] and x.argmax().item() == 3 and x.argmin(1).tolist() == [0, 1]


def test_iteration_and_stack():
    x = mr.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert [row.tolist() for row in x] == [[1.0, 2.0], [3.0, 4.0]]
    assert mr.stack(list(x), dim=1).tolist() == [[1.0, 3.0], [2.0, 4.0]]


# ---------------------------------------------------------------- clear errors


def test_broadcast_mismatch_names_op_and_both_shapes():
    with pytest.raises(ValueError, match=r"Add: .*\(input shapes \(2, 3\), \(4,\)\)"):
        mr.zeros(2, 3) + mr.zeros(4)
    with pytest.raises(ValueError, match=r"Mul: .*\(input shapes \(2, 3\), \(2,\)\)"):
        mr.zeros(2, 3) * mr.zeros(2)


def test_matmul_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not match: 3 columns .* 4 rows"):
        mr.zeros(2, 3) @ mr.zeros(4, 5)


def test_reshape_and_cat_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"Reshape: .*\(input shapes \(2, 3\)\)"):
        mr.zeros(2, 3).reshape(4)
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 2\).*\(3, 2\)"):
        mr.cat([mr.zeros(3, 2), mr.zeros(2, 2)], dim=1)
    with pytest.raises(ValueError, match=r"permute: dims \(0, 0\)"):
        mr.zeros(2, 3).permute(0, 0)


def test_mixing_dtypes_says_which():
    with pytest.raises(TypeError, match="Add: inputs must have one floating dtype, got input 0 is float32, input 1 is float64"):
        mr.zeros(2) + mr.zeros(2, dtype=np.float64)
    with pytest.raises(TypeError, match="MatMul: .*float64.*float32"):
        mr.zeros(2, 2, dtype=np.float64) @ mr.zeros(2, 2)


def test_mixing_devices_says_which():
    class PretendGpuTensor(Tensor):  # no GPU here: fake only the device label
        @property
        def device(self):
            return "cuda"

    with pytest.raises(RuntimeError, match="Add: all inputs must be on one device, got input 0 on cpu, input 1 on cuda"):
        mr.zeros(2) + PretendGpuTensor(np.zeros(2, dtype=np.float32))


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require grad, got dtype int64"):
        mr.tensor([1, 2], requires_grad=True)


def test_bad_device_name():
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda' \\(or 'cuda:N'\\), got 'gpu'"):
        mr.zeros(2, device="gpu")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cuda_without_cupy_says_how_to_get_it():
    with pytest.raises(RuntimeError, match=r"CuPy.*minires\[gpu\]"):
        mr.zeros(2).to("cuda")


def test_cross_entropy_checks_its_inputs():
    F = mr.nn.functional
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got min 0 max 3"):
        F.cross_entropy(mr.zeros(2, 3), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"target must be \(N,\) = \(2,\), got shape \(3,\)"):
        F.cross_entropy(mr.zeros(2, 3), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="integer class labels, got dtype float32"):
        F.cross_entropy(mr.zeros(2, 3), mr.zeros(2))


def test_importing_minires_does_not_import_cupy():
    import subprocess
    import sys

    code = "import sys, minires as mr; (mr.randn(2, requires_grad=True) * 2).sum().backward(); print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
