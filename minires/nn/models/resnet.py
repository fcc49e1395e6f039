"""The ResNet family of He et al. (2015), "Deep Residual Learning for Image Recognition".

A residual block computes y = relu(F(x) + shortcut(x)). Because the shortcut is (close
to) the identity, dL/dx = dL/dy * (1 + dF/dx) wherever the sum is positive (the relu
passes it there): the gradient reaches early layers through the "1" even when dF/dx is
small, which is what lets 110 layers train.

    BasicBlock   F = conv3x3 -> BN -> relu -> conv3x3 -> BN                 (expansion 1)
    Bottleneck   F = conv1x1 -> BN -> relu -> conv3x3 -> BN -> relu -> conv1x1 -> BN
                 (expansion 4; with groups > 1 in the 3x3 it is a ResNeXt block)

When a block changes the shape (stride 2 or more channels) the shortcut must too:
    option "A": take every second pixel and pad the new channels with zeros (no
                parameters; the paper's choice for CIFAR)
    option "B": a 1x1 convolution with stride + BN (the ImageNet models, torchvision)

Two stems:
    "cifar":    conv3x3(3 -> width) -> BN -> relu                     (32x32 images)
    "imagenet": conv7x7/2(3 -> 64) -> BN -> relu -> maxpool3x3/2      (224x224 images)

    resnet20/32/44/56/110   the paper's CIFAR nets: 3 stages of 16/32/64 channels,
                            n = (depth - 2) / 6 BasicBlocks each, option A shortcuts
    resnet18/34             BasicBlocks [2,2,2,2] / [3,4,6,3], 64..512 channels, option B
    resnet50/101/152        Bottlenecks [3,4,6,3] / [3,4,23,3] / [3,8,36,3]
    resnext29               Xie et al. (2017) for CIFAR: 3 stages of 3 grouped Bottlenecks
"""

from __future__ import annotations

from ...functions import pad
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential
from ..module import Module


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1) -> Conv2d:
    return Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> Conv2d:
    return Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class ZeroPadShortcut(Module):
    """Option A: subsample by `stride` and zero-pad the channels, no parameters.
    x: (N, C_in, H, W) -> (N, C_out, H/stride, W/stride)"""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: Tensor) -> Tensor:
        extra = self.out_channels - self.in_channels
        x = x[:, :, :: self.stride, :: self.stride]
        return pad(x, [(0, 0), (extra // 2, extra - extra // 2), (0, 0), (0, 0)])

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, stride={self.stride}"


def make_shortcut(in_channels: int, out_channels: int, stride: int, option: str) -> Module | None:
    """None (the identity) when the shape does not change, else option A or B."""
    if stride == 1 and in_channels == out_channels:
        return None
    if option == "A":
        return ZeroPadShortcut(in_channels, out_channels, stride)
    if option == "B":
        return Sequential(conv1x1(in_channels, out_channels, stride), BatchNorm2d(out_channels))
    raise ValueError(f"shortcut option must be 'A' or 'B', got {option!r}")


class BasicBlock(Module):
    """y = relu(BN(conv3x3(relu(BN(conv3x3(x))))) + shortcut(x)).
    x: (N, in_channels, H, W) -> (N, channels, H/stride, W/stride)"""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "B", groups: int = 1,
                 width_per_group: int = 64):
        super().__init__()
        if groups != 1 or width_per_group != 64:
            raise ValueError("BasicBlock supports only groups=1 and width_per_group=64")
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = BatchNorm2d(channels)
        self.shortcut = make_shortcut(in_channels, channels, stride, shortcut)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(F.add(out, identity))  # the residual join


class Bottleneck(Module):
    """y = relu(BN(conv1x1(relu(BN(conv3x3(relu(BN(conv1x1(x))))))) + shortcut(x)).
    x: (N, in_channels, H, W) -> (N, 4*channels, H/stride, W/stride). The stride sits on
    the 3x3 conv (torchvision's "ResNet v1.5"); groups > 1 makes it a ResNeXt block."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "B", groups: int = 1,
                 width_per_group: int = 64):
        super().__init__()
        width = int(channels * (width_per_group / 64.0)) * groups
        out_channels = channels * self.expansion
        self.conv1 = conv1x1(in_channels, width)
        self.bn1 = BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_channels)
        self.bn3 = BatchNorm2d(out_channels)
        self.shortcut = make_shortcut(in_channels, out_channels, stride, shortcut)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(F.add(out, identity))


class ResNet(Module):
    """stem -> stages of residual blocks -> global average pool -> Linear.

    block: BasicBlock or Bottleneck   blocks: blocks per stage, e.g. [3, 3, 3]
    widths: channels of each stage (before the block's expansion), e.g. [16, 32, 32]
    stem: "cifar" or "imagenet"       shortcut: "A" or "B"
    x: (N, 3, H, W) -> logits (N, num_classes)
    """

    def __init__(self, block: type, blocks: list[int], widths: list[int], num_classes: int = 10,
                 stem: str = "cifar", shortcut: str = "B", groups: int = 1, width_per_group: int = 64,
                 stem_width: int | None = None):
        super().__init__()
        stem_width = stem_width or widths[0]
        if stem == "cifar":
            self.stem = Sequential(conv3x3(3, stem_width), BatchNorm2d(stem_width), ReLU())
        elif stem == "imagenet":
            self.stem = Sequential(Conv2d(3, stem_width, 7, stride=2, padding=3, bias=False),
                                   BatchNorm2d(stem_width), ReLU(), MaxPool2d(3, stride=2, padding=1))
        else:
            raise ValueError(f"ResNet: stem must be 'cifar' or 'imagenet', got {stem!r}")
        in_channels = stem_width
        for i, (count, width) in enumerate(zip(blocks, widths)):
            stage = Sequential()
            for j in range(count):
                stride = 2 if i > 0 and j == 0 else 1
                stage.append(block(in_channels, width, stride, shortcut, groups, width_per_group))
                in_channels = width * block.expansion
            setattr(self, f"layer{i + 1}", stage)
        self.num_stages = len(blocks)
        self.pool = AdaptiveAvgPool2d(1)
        self.fc = Linear(in_channels, num_classes)
        for m in self.modules():  # He et al. init for convs; BN starts as the identity
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out")

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(self.pool(x).flatten(1))


def _cifar_resnet(depth: int, num_classes: int, shortcut: str) -> ResNet:
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNets have depth 6n+2, got {depth}")
    n = (depth - 2) // 6
    return ResNet(BasicBlock, [n, n, n], [16, 32, 64], num_classes, stem="cifar", shortcut=shortcut)


def resnet20(num_classes: int = 10, shortcut: str = "A") -> ResNet:
    """ResNet-20 for CIFAR (0.27 M parameters)."""
    return _cifar_resnet(20, num_classes, shortcut)


def resnet32(num_classes: int = 10, shortcut: str = "A") -> ResNet:
    return _cifar_resnet(32, num_classes, shortcut)


def resnet44(num_classes: int = 10, shortcut: str = "A") -> ResNet:
    return _cifar_resnet(44, num_classes, shortcut)


def resnet56(num_classes: int = 10, shortcut: str = "A") -> ResNet:
    return _cifar_resnet(56, num_classes, shortcut)


def resnet110(num_classes: int = 10, shortcut: str = "A") -> ResNet:
    return _cifar_resnet(110, num_classes, shortcut)


def _imagenet_resnet(block: type, blocks: list[int], num_classes: int, stem: str) -> ResNet:
    return ResNet(block, blocks, [64, 128, 256, 512], num_classes, stem=stem, shortcut="B")


def resnet18(num_classes: int = 1000, stem: str = "imagenet") -> ResNet:
    """ResNet-18 (11,689,512 parameters at 1000 classes). stem="cifar" for 32x32 images."""
    return _imagenet_resnet(BasicBlock, [2, 2, 2, 2], num_classes, stem)


def resnet34(num_classes: int = 1000, stem: str = "imagenet") -> ResNet:
    return _imagenet_resnet(BasicBlock, [3, 4, 6, 3], num_classes, stem)


def resnet50(num_classes: int = 1000, stem: str = "imagenet") -> ResNet:
    """ResNet-50 (25,557,032 parameters at 1000 classes)."""
    return _imagenet_resnet(Bottleneck, [3, 4, 6, 3], num_classes, stem)


def resnet101(num_classes: int = 1000, stem: str = "imagenet") -> ResNet:
    return _imagenet_resnet(Bottleneck, [3, 4, 23, 3], num_classes, stem)


def resnet152(num_classes: int = 1000, stem: str = "imagenet") -> ResNet:
    return _imagenet_resnet(Bottleneck, [3, 8, 36, 3], num_classes, stem)


def resnext29(num_classes: int = 10, cardinality: int = 8, width_per_group: int = 64) -> ResNet:
    """ResNeXt-29 (Xie et al. 2017) for CIFAR: 3 stages of 3 grouped Bottlenecks,
    cardinality x width_per_group channels in each 3x3 of the first stage (8x64d: 34.4 M
    parameters; resnext29(cardinality=2, width_per_group=16) is a laptop-sized one)."""
    return ResNet(Bottleneck, [3, 3, 3], [64, 128, 256], num_classes, stem="cifar", shortcut="B",
                  groups=cardinality, width_per_group=width_per_group, stem_width=64)
