"""torchvision's ResNets and ResNeXt-50 32x4d, module for module, so that its state_dicts
(and its published ImageNet weights) load with strict=True.

The residual blocks compute what minires.nn.models.resnet's do (read that file for the
why); what differs is only the naming, torchvision's:

    conv1 bn1 relu maxpool                      the stem (nn.models: stem.0 ... stem.3)
    layer1..layer4                              Sequentials of blocks
        conv1 bn1 conv2 bn2 [conv3 bn3] relu    a BasicBlock [a Bottleneck]
        downsample = Sequential(conv1x1, BN)    the option-B shortcut (nn.models: shortcut)
    avgpool fc                                  (nn.models: pool fc)

    resnet18 / 34     BasicBlocks [2,2,2,2] / [3,4,6,3]        11,689,512 / 21,797,672 parameters
    resnet50/101/152  Bottlenecks [3,4,6,3] / [3,4,23,3] / [3,8,36,3]
                                                               25,557,032 / 44,549,160 / 60,192,808
    resnext50_32x4d   Bottlenecks [3,4,6,3], 32 groups of 4 channels per group at 64 planes
                      (width = planes * 4/64 * 32: 128 in layer1's 3x3), 25,028,904 parameters
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...nn import functional as F
from ...nn import init
from ...nn.container import Sequential
from ...nn.layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU
from ...nn.module import Module
from ...tensor import Tensor
from . import _weights

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNeXt50_32X4D_Weights",
    "ResNet",
    "ResNet18_Weights",
    "ResNet34_Weights",
    "ResNet50_Weights",
    "ResNet101_Weights",
    "ResNet152_Weights",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> Conv2d:
    return Conv2d(in_planes, out_planes, 3, stride=stride, padding=dilation, groups=groups, bias=False,
                  dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> Conv2d:
    return Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(Module):
    """y = relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)), expansion 1.
    x: (N, inplanes, H, W) -> (N, planes, H/stride, W/stride)"""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1,
                 norm_layer: Callable[[int], Module] | None = None):
        super().__init__()
        norm_layer = norm_layer or BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")  # torchvision's words
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(F.add(out, identity))  # the residual join


class Bottleneck(Module):
    """y = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + downsample(x)), expansion 4.
    The stride sits on the 3x3 (torchvision's "ResNet v1.5"); groups > 1 makes it ResNeXt's.
    x: (N, inplanes, H, W) -> (N, 4*planes, H/stride, W/stride)"""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1,
                 norm_layer: Callable[[int], Module] | None = None):
        super().__init__()
        norm_layer = norm_layer or BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups  # the 3x3's channels
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(F.add(out, identity))


class ResNet(Module):
    """torchvision.models.ResNet: stem (conv7x7/2, BN, relu, maxpool3x3/2) -> layer1..4 ->
    adaptive average pool to 1x1 -> fc.   x: (N, 3, H, W) -> logits (N, num_classes)

    block: BasicBlock or Bottleneck        layers: blocks per stage, e.g. [2, 2, 2, 2]
    zero_init_residual: start each block's last BN at weight 0, so each block starts as the identity
    groups, width_per_group: ResNeXt's cardinality and channels per group
    replace_stride_with_dilation: three bools, for layer2..4 (dilated instead of strided)"""

    def __init__(self, block: type, layers: list[int], num_classes: int = 1000, zero_init_residual: bool = False,
                 groups: int = 1, width_per_group: int = 64, replace_stride_with_dilation: list[bool] | None = None,
                 norm_layer: Callable[[int], Module] | None = None):
        super().__init__()
        self._norm_layer = norm_layer = norm_layer or BatchNorm2d
        self.inplanes, self.dilation = 64, 1
        replace_stride_with_dilation = replace_stride_with_dilation or [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError("replace_stride_with_dilation should be None or a 3-element tuple, "
                             f"got {replace_stride_with_dilation}")
        self.groups, self.base_width = groups, width_per_group
        self.conv1 = Conv2d(3, self.inplanes, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = ReLU(inplace=True)
        self.maxpool = MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2, replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], 2, replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], 2, replace_stride_with_dilation[2])
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.fc = Linear(512 * block.expansion, num_classes)  # Linear keeps its default init, as in torchvision
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, BatchNorm2d) and m.weight is not None:
                init.ones_(m.weight)
                init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                last_bn = m.bn3 if isinstance(m, Bottleneck) else m.bn2 if isinstance(m, BasicBlock) else None
                if last_bn is not None and last_bn.weight is not None:
                    init.zeros_(last_bn.weight)

    def _make_layer(self, block: type, planes: int, blocks: int, stride: int = 1, dilate: bool = False) -> Sequential:
        downsample, previous_dilation = None, self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:  # the shape changes: option B
            downsample = Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                    self._norm_layer(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, previous_dilation,
                        self._norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                                dilation=self.dilation, norm_layer=self._norm_layer))
        return Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


ResNet18_Weights = _weights.weights_enum("ResNet18_Weights", "resnet18")
ResNet34_Weights = _weights.weights_enum("ResNet34_Weights", "resnet34")
ResNet50_Weights = _weights.weights_enum("ResNet50_Weights", "resnet50")
ResNet101_Weights = _weights.weights_enum("ResNet101_Weights", "resnet101")
ResNet152_Weights = _weights.weights_enum("ResNet152_Weights", "resnet152")
ResNeXt50_32X4D_Weights = _weights.weights_enum("ResNeXt50_32X4D_Weights", "resnext50_32x4d")


def _resnet(arch: str, block: type, layers: list[int], weights: Any, progress: bool, **kwargs: Any) -> ResNet:
    source, _ = _weights.resolve(arch, weights, kwargs)
    model = ResNet(block, layers, **kwargs)
    if source is not None:
        _weights.load_weights(model, source, progress)
    return model


def resnet18(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-18 (11,689,512 parameters). weights: None, a .pth path, "IMAGENET1K_V1" or "DEFAULT"."""
    return _resnet("resnet18", BasicBlock, [2, 2, 2, 2], weights, progress, **kwargs)


def resnet34(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-34 (21,797,672 parameters). weights: None, a .pth path, "IMAGENET1K_V1" or "DEFAULT"."""
    return _resnet("resnet34", BasicBlock, [3, 4, 6, 3], weights, progress, **kwargs)


def resnet50(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-50 (25,557,032 parameters). weights: None, a path, "IMAGENET1K_V1", "IMAGENET1K_V2" (DEFAULT)."""
    return _resnet("resnet50", Bottleneck, [3, 4, 6, 3], weights, progress, **kwargs)


def resnet101(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-101 (44,549,160 parameters). weights: None, a path, "IMAGENET1K_V1", "IMAGENET1K_V2" (DEFAULT)."""
    return _resnet("resnet101", Bottleneck, [3, 4, 23, 3], weights, progress, **kwargs)


def resnet152(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-152 (60,192,808 parameters). weights: None, a path, "IMAGENET1K_V1", "IMAGENET1K_V2" (DEFAULT)."""
    return _resnet("resnet152", Bottleneck, [3, 8, 36, 3], weights, progress, **kwargs)


def resnext50_32x4d(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d (25,028,904 parameters): 32 groups, 4 channels each at 64 planes."""
    kwargs.setdefault("groups", 32)
    kwargs.setdefault("width_per_group", 4)
    return _resnet("resnext50_32x4d", Bottleneck, [3, 4, 6, 3], weights, progress, **kwargs)
