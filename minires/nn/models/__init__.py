"""The ResNet family (He et al. 2015), ResNeXt-29 (Xie et al. 2017) and DenseNet-BC (Huang et al. 2017)."""

from .densenet import DenseNet, densenet_bc, densenet_bc40, densenet_bc100
from .resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    ZeroPadShortcut,
    resnet18,
    resnet20,
    resnet32,
    resnet34,
    resnet44,
    resnet50,
    resnet56,
    resnet101,
    resnet110,
    resnet152,
    resnext29,
)

__all__ = [
    "BasicBlock", "Bottleneck", "DenseNet", "ResNet", "ZeroPadShortcut", "densenet_bc", "densenet_bc40",
    "densenet_bc100", "resnet18", "resnet20", "resnet32", "resnet34", "resnet44", "resnet50", "resnet56",
    "resnet101", "resnet110", "resnet152", "resnext29",
]
