"""The GPU path end to end: the same computations on cupy arrays and on numpy arrays must
agree. Marked `gpu`; run them all with `python -m pytest -m gpu` on a machine with CuPy and
a CUDA GPU. Elsewhere they skip and say why."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import random_array

import minires as mr
import minires.nn.functional as F
from minires import backend
from minires.nn import models

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU (pip install 'minires[gpu]')"),
]

CASES = {
    "conv_s2_p1_groups2": (partial(F.conv2d, stride=2, padding=1, groups=2), [(2, 4, 7, 9), (6, 2, 3, 3), (6,)]),
    "conv_7x7_s2_dilation": (partial(F.conv2d, stride=2, padding=3, dilation=2), [(1, 3, 15, 15), (4, 3, 3, 3)]),
    "max_pool": (partial(F.max_pool2d, kernel_size=3, stride=2, padding=1), [(2, 3, 9, 7)]),
    "avg_pool": (partial(F.avg_pool2d, kernel_size=2), [(2, 3, 8, 6)]),
    "global_pool": (partial(F.adaptive_avg_pool2d, output_size=1), [(2, 3, 5, 5)]),
    "batch_norm": (lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True), [(4, 3, 5, 5), (3,), (3,)]),
    "relu_add": (lambda a, b: F.relu(F.add(a, b)), [(2, 3, 4, 4), (2, 3, 4, 4)]),
    "cross_entropy": (lambda a: F.cross_entropy(a, mr.tensor([1, 0, 3]).to(a.device), label_smoothing=0.1),
                      [(3, 5)]),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_gpu_matches_cpu(name, dtype):
    fn, shapes = CASES[name]
    arrays = [random_array(s, seed=i, dtype=dtype) for i, s in enumerate(shapes)]
    cpu = [mr.tensor(a, requires_grad=True) for a in arrays]
    gpu = [mr.tensor(a, requires_grad=True, device="cuda") for a in arrays]
    y_cpu, y_gpu = fn(*cpu), fn(*gpu)
    assert y_gpu.device == "cuda"
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(y_gpu.numpy(), y_cpu.numpy(), err_msg=f"{name}: forward", **tol)
    gy = random_array(y_cpu.shape, seed=9, dtype=dtype)
    y_cpu.backward(gy)
    y_gpu.backward(mr.tensor(gy, device="cuda"))
    for i, (a, b) in enumerate(zip(cpu, gpu)):
        np.testing.assert_allclose(b.grad.numpy(), a.grad, err_msg=f"{name}: gradient of input {i}", **tol)


def test_resnet_training_step_on_gpu_matches_cpu():
    mr.manual_seed(0)
    cpu_model = models.ResNet(models.BasicBlock, [1, 1], [4, 8], num_classes=3).double()
    gpu_model = models.ResNet(models.BasicBlock, [1, 1], [4, 8], num_classes=3).double()
    gpu_model.load_state_dict(cpu_model.state_dict())
    gpu_model.to("cuda")
    x = random_array((4, 3, 8, 8))
    labels = np.array([0, 2, 1, 1])
    for model, device in ((cpu_model, "cpu"), (gpu_model, "cuda")):
        loss = F.cross_entropy(model(mr.tensor(x, device=device)), mr.tensor(labels, device=device))
        loss.backward()
        opt = mr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        opt.step()
    for (name, a), (_, b) in zip(cpu_model.state_dict().items(), gpu_model.state_dict().items()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)


def test_to_and_back():
    x = mr.randn(3, 4, requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and y.requires_grad and backend.implementation(y.array) == "cupy"
    assert np.array_equal(y.to("cpu").numpy(), x.numpy())
