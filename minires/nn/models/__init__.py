"""The ResNet family (He et al. 2015) and ResNeXt-29 (Xie et al. 2017)."""

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
    "BasicBlock", "Bottleneck", "ResNet", "ZeroPadShortcut", "resnet18", "resnet20", "resnet32", "resnet34",
    "resnet44", "resnet50", "resnet56", "resnet101", "resnet110", "resnet152", "resnext29",
]
