"""DenseNet of Huang et al. (2017), "Densely Connected Convolutional Networks".

Inside a dense block every layer sees the feature maps of *all* the layers before it,
joined along the channels, and adds k new ones (k is the growth rate):

    x_l = H_l(cat([x_0, x_1, ..., x_{l-1}], dim=1))      x_0: (N, C, H, W), x_l: (N, k, H, W)
    the block's output: cat([x_0, ..., x_L], dim=1)       (N, C + L*k, H, W)

Where a ResNet adds (y = x + F(x)), a DenseNet concatenates, so the gradient reaches
x_0 along a separate path from every later layer: the backward of cat hands each input
its own slice of gy (a view, nothing copied), and x_0's gradient is the sum of those.

    _DenseLayer  H_l = BN -> relu -> conv1x1(C -> bn_size*k) -> BN -> relu -> conv3x3(-> k)
                 (the "B" of DenseNet-BC: the 1x1 bottleneck keeps the 3x3 narrow)
    _Transition  BN -> relu -> conv1x1(C -> floor(compression*C)) -> avgpool 2x2
                 (the "C": compression 0.5 halves the channels between blocks)

    densenet_bc(depth, growth_rate)   the paper's CIFAR nets (section 3, table 2): conv3x3
                                      (3 -> 2k), 3 dense blocks of (depth-4)/6 layers at
                                      32x32, 16x16, 8x8, then BN -> relu -> global pool -> Linear
    densenet_bc100 (k=12)             769,162 parameters at 10 classes (the paper's 0.8 M)
    densenet_bc40  (k=12)             a small one for quick runs and tests

Module names are torchvision's (features.conv0, features.denseblock1.denselayer1.norm1,
features.transition1.conv, classifier ...), so the same blocks build torchvision's
ImageNet DenseNets with state_dicts that map one to one.

Memory: each layer concatenates all earlier maps into a new array, so a block of L
layers holds 1 + 2 + ... + L of them, O(L^2 k) channels in all, kept for backward (the
BN after each cat saves its input). The paper's memory-efficient variant (Pleiss et al.
2017) recomputes those concatenations in backward instead; minires does not.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...functions import cat
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..container import ModuleDict, Sequential
from ..layers import AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU
from ..module import Module


class _DenseLayer(Module):
    """x_l = conv3x3(relu(BN(conv1x1(relu(BN(cat(features))))))), the bottleneck layer.
    features: a Tensor or a list of Tensors (N, C_i, H, W) with sum C_i = num_input_features
    -> (N, growth_rate, H, W)"""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0):
        super().__init__()
        self.norm1 = BatchNorm2d(num_input_features)
        self.relu1 = ReLU(inplace=True)
        self.conv1 = Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = BatchNorm2d(bn_size * growth_rate)
        self.relu2 = ReLU(inplace=True)
        self.conv2 = Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, features: Tensor | Sequence[Tensor]) -> Tensor:
        x = cat(list(features), 1) if not isinstance(features, Tensor) else features  # the dense connection
        out = self.conv1(self.relu1(self.norm1(x)))  # bottleneck: bn_size*k channels
        out = self.conv2(self.relu2(self.norm2(out)))  # the k new feature maps
        if self.drop_rate > 0:
            out = F.dropout(out, self.drop_rate, self.training)
        return out


class _DenseBlock(ModuleDict):
    """num_layers _DenseLayers, named denselayer1, denselayer2, ...; layer i (from 0) sees
    num_input_features + i*growth_rate channels.
    x: (N, num_input_features, H, W) -> (N, num_input_features + num_layers*growth_rate, H, W)"""

    def __init__(self, num_layers: int, num_input_features: int, growth_rate: int, bn_size: int = 4,
                 drop_rate: float = 0.0):
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))  # each layer reads all maps so far
        return cat(features, 1)


class _Transition(Module):
    """Between dense blocks: BN -> relu -> conv1x1 -> avgpool 2x2.
    x: (N, num_input_features, H, W) -> (N, num_output_features, H/2, W/2)"""

    def __init__(self, num_input_features: int, num_output_features: int):
        super().__init__()
        self.norm = BatchNorm2d(num_input_features)
        self.relu = ReLU(inplace=True)
        self.conv = Conv2d(num_input_features, num_output_features, 1, bias=False)
        self.pool = AvgPool2d(2, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.conv(self.relu(self.norm(x))))


class DenseNet(Module):
    """features (stem, dense blocks with transitions between them, a last BN) -> relu ->
    global average pool -> classifier (Linear).

    growth_rate: k, the maps each layer adds    block_config: layers per block, e.g. (16, 16, 16)
    num_init_features: the stem's channels (2k in the paper's BC nets)
    bn_size: the bottleneck is bn_size*k wide    compression: theta, the transition keeps floor(theta*C)
    stem: "cifar" (conv3x3) or "imagenet" (conv7x7/2, BN, relu, maxpool3x3/2, as torchvision)
    x: (N, 3, H, W) -> logits (N, num_classes)
    """

    def __init__(self, growth_rate: int = 12, block_config: Sequence[int] = (16, 16, 16), num_init_features: int = 24,
                 bn_size: int = 4, drop_rate: float = 0.0, num_classes: int = 10, compression: float = 0.5,
                 stem: str = "cifar"):
        super().__init__()
        if not 0 < compression <= 1:
            raise ValueError(f"DenseNet: compression must be in (0, 1], got {compression}")
        self.features = Sequential()
        if stem == "cifar":
            self.features.add_module("conv0", Conv2d(3, num_init_features, 3, padding=1, bias=False))
        elif stem == "imagenet":
            self.features.add_module("conv0", Conv2d(3, num_init_features, 7, stride=2, padding=3, bias=False))
            self.features.add_module("norm0", BatchNorm2d(num_init_features))
            self.features.add_module("relu0", ReLU(inplace=True))
            self.features.add_module("pool0", MaxPool2d(3, stride=2, padding=1))
        else:
            raise ValueError(f"DenseNet: stem must be 'cifar' or 'imagenet', got {stem!r}")
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                out_channels = int(channels * compression)
                self.features.add_module(f"transition{i + 1}", _Transition(channels, out_channels))
                channels = out_channels
        self.features.add_module(f"norm{len(block_config) + 1}", BatchNorm2d(channels))  # norm5 for 4 blocks
        self.pool = AdaptiveAvgPool2d(1)
        self.classifier = Linear(channels, num_classes)
        for m in self.modules():  # torchvision's init: He (fan_in) for convs, BN the identity, bias 0
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight)
            elif isinstance(m, Linear):
                init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.features(x))
        return self.classifier(self.pool(out).flatten(1))


def densenet_bc(depth: int = 100, growth_rate: int = 12, num_classes: int = 10, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-BC for CIFAR (the paper's table 2): 3 dense blocks of n = (depth - 4) / 6
    bottleneck layers. Each layer has 2 convolutions, so 6n of them, plus the stem, the two
    transitions and the classifier: depth = 6n + 4. depth 100, k 12: 769,162 parameters."""
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"densenet_bc: depth must be 6n + 4 with n >= 1 (10, 16, ..., 100, ...), got {depth}")
    n = (depth - 4) // 6
    return DenseNet(growth_rate, (n, n, n), 2 * growth_rate, bn_size=4, drop_rate=drop_rate,
                    num_classes=num_classes, compression=0.5, stem="cifar")


def densenet_bc100(num_classes: int = 10) -> DenseNet:
    """DenseNet-BC (L=100, k=12) for CIFAR: 769,162 parameters at 10 classes (0.8 M)."""
    return densenet_bc(100, 12, num_classes)


def densenet_bc40(num_classes: int = 10) -> DenseNet:
    """DenseNet-BC (L=40, k=12): 6 layers per block, 176,122 parameters at 10 classes."""
    return densenet_bc(40, 12, num_classes)
