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


# ---------------------------------------------------------------------- DenseNet-BC (Huang et al. 2017)

@pytest.mark.parametrize("depth, expected", [(10, 20_902), (40, 176_122), (100, 769_162)])
def test_densenet_bc_parameter_counts(depth, expected):
    """Table 2 of the paper gives 0.8M for L=100, k=12. Per layer with C input channels:
    BN 2C + conv1x1 C*4k + BN 2*4k + conv3x3 4k*k*9; the transitions halve the channels."""
    assert count(models.densenet_bc(depth, growth_rate=12)) == expected


def test_densenet_bc100_is_the_named_helper_and_refuses_bad_depths():
    assert count(models.densenet_bc100()) == 769_162
    with mr.no_grad():
        assert models.densenet_bc(10, growth_rate=2)(mr.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"densenet_bc: depth must be 6n \+ 4 .*got 50"):
        models.densenet_bc(50)


def test_densenet_uses_torchvisions_module_names():
    model = models.DenseNet(growth_rate=2, block_config=(1, 2), num_init_features=4, num_classes=3)
    names = [name for name, _ in model.named_parameters()]
    assert names[:3] == ["features.conv0.weight", "features.denseblock1.denselayer1.norm1.weight",
                         "features.denseblock1.denselayer1.norm1.bias"]
    assert {"features.denseblock2.denselayer2.conv2.weight", "features.transition1.norm.weight",
            "features.transition1.conv.weight", "features.norm3.weight", "classifier.weight"} <= set(names)
    # channels: 4 -> block1 (1 layer) 6 -> transition 3 -> block2 (2 layers) 7
    assert model.features.transition1.conv.weight.shape == (3, 6, 1, 1) and model.classifier.weight.shape == (3, 7)


def test_densenet_121_shaped_with_the_imagenet_stem_has_torchvisions_count():
    model = models.DenseNet(32, (6, 12, 24, 16), num_init_features=64, num_classes=1000, stem="imagenet")
    assert count(model) == 7_978_856  # torchvision.models.densenet121


def test_cat_backward_hands_out_views_of_gy_not_copies():
    """DenseNet's memory is dominated by its concatenations; their backward must not add
    another copy of every gradient: each input's gradient is its slice of gy."""
    xs = [np.ones((2, c, 3, 3)) for c in (4, 2, 2)]
    op = mr.ops.Concatenate(axis=1)
    op.forward(*xs)
    gy = np.random.default_rng(0).standard_normal((2, 8, 3, 3))
    gxs = op.backward(gy)
    assert [g.shape for g in gxs] == [x.shape for x in xs]
    for k, (g, start) in enumerate(zip(gxs, (0, 4, 6))):
        assert g.base is gy and np.shares_memory(g, gy), f"gradient of input {k} is a copy, not a view of gy"
        np.testing.assert_array_equal(g, gy[:, start:start + xs[k].shape[1]])


def test_small_densenet_gradcheck():
    mr.manual_seed(0)
    model = _double_in_train_mode(models.densenet_bc(10, growth_rate=2, num_classes=3))
    x = random_tensor((1, 3, 8, 8))
    assert mr.gradcheck(lambda x, *ps: model(x), x, *model.parameters(), name="DenseNet-BC depth 10, k 2")


def _torch_densenet_bc(torch, depth: int, k: int, num_classes: int):
    """The same DenseNet-BC written in torch, torchvision's way (each layer cats the list)."""
    nn = torch.nn

    class DenseLayer(nn.Module):
        def __init__(self, c_in):
            super().__init__()
            self.norm1, self.relu1 = nn.BatchNorm2d(c_in), nn.ReLU()
            self.conv1 = nn.Conv2d(c_in, 4 * k, 1, bias=False)
            self.norm2, self.relu2 = nn.BatchNorm2d(4 * k), nn.ReLU()
            self.conv2 = nn.Conv2d(4 * k, k, 3, padding=1, bias=False)

        def forward(self, features):
            out = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
            return self.conv2(self.relu2(self.norm2(out)))

    class DenseBlock(nn.ModuleDict):
        def __init__(self, n, c_in):
            super().__init__({f"denselayer{i + 1}": DenseLayer(c_in + i * k) for i in range(n)})

        def forward(self, x):
            features = [x]
            for layer in self.values():
                features.append(layer(features))
            return torch.cat(features, 1)

    class Transition(nn.Sequential):
        def __init__(self, c_in, c_out):
            super().__init__()
            self.norm, self.relu = nn.BatchNorm2d(c_in), nn.ReLU()
            self.conv, self.pool = nn.Conv2d(c_in, c_out, 1, bias=False), nn.AvgPool2d(2, 2)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            n, c = (depth - 4) // 6, 2 * k
            self.features = nn.Sequential()
            self.features.add_module("conv0", nn.Conv2d(3, c, 3, padding=1, bias=False))
            for i in range(3):
                self.features.add_module(f"denseblock{i + 1}", DenseBlock(n, c))
                c += n * k
                if i < 2:
                    self.features.add_module(f"transition{i + 1}", Transition(c, c // 2))
                    c //= 2
            self.features.add_module("norm4", nn.BatchNorm2d(c))
            self.classifier = nn.Linear(c, num_classes)

        def forward(self, x):
            out = torch.relu(self.features(x))
            return self.classifier(torch.nn.functional.adaptive_avg_pool2d(out, 1).flatten(1))

    return Net()


def test_densenet_bc_matches_torch_twin_count_and_logits():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    assert sum(p.numel() for p in _torch_densenet_bc(torch, 100, 12, 10).parameters()) == 769_162
    torch.manual_seed(0)
    theirs = _torch_densenet_bc(torch, 16, 4, 5).double()
    with torch.no_grad():  # BN with non-trivial affine parameters and running statistics
        for m in theirs.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 2.0)
    ours = models.densenet_bc(16, growth_rate=4, num_classes=5).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x_np = np.random.default_rng(0).standard_normal((3, 3, 16, 16))
    x, x_t = mr.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, y_t = ours(x), theirs(x_t)  # train mode: batch statistics, and the backward through every cat
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-9, atol=1e-10, err_msg="train-mode logits")
    gy = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(gy)
    y_t.backward(torch.tensor(gy))
    np.testing.assert_allclose(x.grad, x_t.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg="input gradient")
    with mr.no_grad(), torch.no_grad():
        np.testing.assert_allclose(ours.eval()(x).numpy(), theirs.eval()(x_t).numpy(), rtol=1e-10, atol=1e-10,
                                   err_msg="eval-mode logits")
