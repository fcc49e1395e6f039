"""The ResNet family: parameter counts against the papers and torchvision, shapes, gradchecks
of the blocks and of a small whole ResNet, and (with torch) logits and gradients vs torchvision-shaped code."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_tensor

import minires as mr
from minires.nn import models


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, expected", [
    ("resnet20", 269_722), ("resnet32", 464_154), ("resnet44", 658_586), ("resnet56", 853_018),
    ("resnet110", 1_727_962),
])
def test_cifar_resnet_parameter_counts(name, expected):
    """The paper's table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M (option A shortcuts add none)."""
    assert count(getattr(models, name)()) == expected


@pytest.mark.parametrize("name, expected", [
    ("resnet18", 11_689_512), ("resnet34", 21_797_672), ("resnet50", 25_557_032),
])
def test_imagenet_resnet_parameter_counts_match_torchvision(name, expected):
    assert count(getattr(models, name)(num_classes=1000)) == expected


def test_shapes_of_both_stems():
    with mr.no_grad():
        assert models.resnet20()(mr.randn(2, 3, 32, 32)).shape == (2, 10)
        assert models.resnet18(num_classes=10, stem="cifar")(mr.randn(1, 3, 32, 32)).shape == (1, 10)
        tiny_imagenet = models.ResNet(models.BasicBlock, [1, 1], [4, 8], num_classes=5, stem="imagenet")
        assert tiny_imagenet(mr.randn(2, 3, 33, 33)).shape == (2, 5)


def _double_in_train_mode(module):
    return module.double().train()


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_basic_block_gradcheck(shortcut):
    mr.manual_seed(0)
    block = _double_in_train_mode(models.BasicBlock(2, 4, stride=2, shortcut=shortcut))
    x = random_tensor((2, 2, 5, 5))
    params = list(block.parameters())
    assert mr.gradcheck(lambda x, *ps: block(x), x, *params, name=f"BasicBlock[{shortcut}]")


def test_bottleneck_gradcheck_grouped():
    mr.manual_seed(0)
    block = _double_in_train_mode(models.Bottleneck(4, 2, stride=2, groups=2, width_per_group=32))
    x = random_tensor((2, 4, 4, 4))
    assert mr.gradcheck(lambda x, *ps: block(x), x, *block.parameters(), name="Bottleneck")


def test_small_resnet_gradcheck_with_loss():
    mr.manual_seed(0)
    model = _double_in_train_mode(models.ResNet(models.BasicBlock, [1, 1], [2, 4], num_classes=3, shortcut="A"))
    x = random_tensor((3, 3, 6, 6))
    labels = np.array([0, 2, 1])
    loss = lambda x, *ps: mr.nn.functional.cross_entropy(model(x), labels)
    assert mr.gradcheck(loss, x, *model.parameters(), name="tiny ResNet + cross_entropy")


def test_eval_mode_gradcheck():
    mr.manual_seed(0)
    block = models.BasicBlock(2, 2).double()
    block.train()
    with mr.no_grad():
        block(random_tensor((4, 2, 4, 4), requires_grad=False))  # fill the running statistics
    block.eval()
    assert mr.gradcheck(lambda x, *ps: block(x), random_tensor((2, 2, 4, 4)), *block.parameters())


def test_resnet20_matches_torch_logits_gradients_and_running_stats():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    from torch_resnet import CifarResNet

    torch.manual_seed(0)
    theirs = CifarResNet().double()
    ours = models.resnet20().double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x_np = np.random.default_rng(0).standard_normal((4, 3, 32, 32))
    x, x_t = mr.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, y_t = ours(x), theirs(x_t)
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-9, atol=1e-10, err_msg="train-mode logits")
    gy = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(gy)
    y_t.backward(torch.tensor(gy))
    np.testing.assert_allclose(x.grad, x_t.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg="input gradient")
    torch_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, torch_params[name].grad.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=f"gradient of {name}")
    torch_buffers = dict(theirs.named_buffers())
    for name, b in ours.named_buffers():
        np.testing.assert_allclose(b.numpy(), torch_buffers[name].numpy(), rtol=1e-10, err_msg=f"buffer {name}")
    with mr.no_grad(), torch.no_grad():
        np.testing.assert_allclose(ours.eval()(x).numpy(), theirs.eval()(x_t).numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg="eval-mode logits")
