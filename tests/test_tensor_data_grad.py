"""`.data` and `.grad` are Tensors, as in PyTorch; the raw ndarray is `Tensor.array`.

`.data` is the same array seen as a Tensor with no graph (no copy: writing into it writes
into the tensor), `.grad` is a Tensor of the tensor's shape or None, and np.asarray(t)
gives a CPU tensor's array.
"""

from __future__ import annotations

import numpy as np
import pytest

import minires as mr
from minires import optim


def test_data_shares_storage_with_the_tensor():
    x = mr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert isinstance(x.data, mr.Tensor)
    assert x.data.array is x.array, ".data must not copy"
    x.data.numpy()[0] = 5
    assert x.tolist() == [5.0, 2.0, 3.0], "a write through .data must reach x"


def test_data_carries_no_graph():
    x = mr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.data
    assert d.requires_grad is False and d.grad_fn is None and d.is_leaf
    assert y.requires_grad and y.grad_fn is not None, "taking .data leaves y itself alone"
    assert (d * 3).grad_fn is None, "ops on .data are not recorded"
    assert d.tolist() == [2.0, 4.0]


def test_data_numpy_and_tensor_ops_on_data():
    x = mr.tensor([[1.0, 5.0], [7.0, 3.0]], requires_grad=True)
    np.testing.assert_array_equal(x.data.numpy(), [[1.0, 5.0], [7.0, 3.0]])
    assert x.data.argmax(1).tolist() == [1, 0]  # the torch.max(outputs.data, 1) idiom's indices
    assert x.data.sum().item() == 16.0


def test_setting_data_replaces_the_storage_and_keeps_the_tensor():
    p = mr.tensor([1.0, 2.0], requires_grad=True)
    other = mr.tensor([[3.0, 4.0, 5.0]], dtype=np.float64)
    p.data = other
    assert p.array is other.array and p.shape == (1, 3) and p.dtype == np.float64, "shape and dtype come along"
    assert p.requires_grad and p.is_leaf, "p stays the same leaf"
    p.data = p.data - 1  # the out-of-place update a PyTorch loop writes as p.data -= ...
    assert p.tolist() == [[2.0, 3.0, 4.0]]


def test_setting_data_to_a_non_tensor_raises_as_pytorch_does():
    p = mr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"\.data: expected a Tensor, got ndarray; .*mr\.tensor"):
        p.data = np.zeros(2)
    assert p.tolist() == [1.0, 2.0]


def test_grad_is_a_tensor_and_accumulates_over_two_backward_calls():
    p = mr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (p * p).sum().backward()
    assert isinstance(p.grad, mr.Tensor) and p.grad.shape == p.shape and p.grad.dtype == p.dtype
    assert p.grad.requires_grad is False and p.grad.grad_fn is None
    first = p.grad
    (p * 3).sum().backward()
    assert p.grad is first, "accumulation adds into the same grad Tensor"
    assert p.grad.tolist() == [2.0 + 3, -4.0 + 3, 6.0 + 3]


def test_tensor_ops_work_on_grads():
    p = mr.tensor([3.0, 4.0], requires_grad=True)
    (p * p).sum().backward()  # grad = 2p = [6, 8]
    assert p.grad.sum().item() == 14.0
    assert np.isclose((p.grad * p.grad).sum().sqrt().item(), 10.0)  # ||grad||
    assert (p.grad / 2).tolist() == [3.0, 4.0]
    assert p.grad.numpy().tolist() == [6.0, 8.0]


def test_grad_can_be_set_to_none_or_a_tensor():
    p = mr.tensor([1.0, 2.0], requires_grad=True)
    (p * 2).sum().backward()
    p.grad = None
    assert p.grad is None
    g = mr.tensor([0.5, -0.5])
    p.grad = g
    assert p.grad is g
    (p * 2).sum().backward()
    assert p.grad.tolist() == [2.5, 1.5], "backward adds to an assigned grad"


def test_grad_setter_refuses_arrays_and_mismatched_tensors():
    p = mr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None, got ndarray"):
        p.grad = np.zeros(2, dtype=np.float32)
    with pytest.raises(ValueError, match=r"assigned grad has shape \(3,\), but the tensor has shape \(2,\)"):
        p.grad = mr.zeros(3)
    with pytest.raises(TypeError, match="assigned grad is float64 on cpu, but the tensor is float32 on cpu"):
        p.grad = mr.zeros(2, dtype=np.float64)
    assert p.grad is None, "a refused grad leaves the old one"


def test_np_asarray_gives_the_array_of_a_cpu_tensor():
    t = mr.tensor([1.0, 2.0])
    assert np.asarray(t) is t.array
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    copied = np.array(t, copy=True)
    assert copied is not t.array and copied.tolist() == [1.0, 2.0]
    np.testing.assert_allclose(t, [1.0, 2.0])


def test_module_to_converts_the_gradients_with_the_parameters():
    model = mr.nn.Linear(3, 2)
    model(mr.randn(4, 3)).sum().backward()
    model.double()
    for p in model.parameters():
        assert p.dtype == np.float64 and p.grad.dtype == np.float64 and p.grad.shape == p.shape


def test_optimizer_step_writes_the_parameter_tensor_in_place():
    p = mr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    array = p.array
    opt = optim.SGD([p], lr=0.1)
    p.grad = mr.tensor([1.0, -1.0], dtype=np.float64)
    opt.step()
    assert p.array is array, "the step updates p.array in place"
    assert p.tolist() == [0.9, 2.1]


def test_the_pytorch_idioms_give_pytorch_results():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'minires[bench]')")
    start = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    results = {}
    for lib in (mr, torch):
        w = lib.tensor(start, requires_grad=True)
        for _ in range(3):
            loss = (w * w * w).sum()
            loss.backward()
            norm = float((w.grad * w.grad).sum().sqrt())  # p.grad.norm(), spelled out
            with lib.no_grad():
                w.data = w.data - 0.1 * w.grad / norm
            w.grad = None
        results[lib.__name__] = (w.data.numpy().copy(), (w.data * 2).requires_grad)
    np.testing.assert_allclose(results["minires"][0], results["torch"][0], rtol=1e-12)
    assert results["minires"][1] is results["torch"][1] is False
