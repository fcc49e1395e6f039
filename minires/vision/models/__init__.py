"""torchvision.models's shape in minires: the ImageNet ResNets, ResNeXt-50 32x4d and DenseNets,
with torchvision's module names, so its state_dicts and published weights load with strict=True.

    model = torchvision.models.resnet18(weights="IMAGENET1K_V1")     # or a .pth path, or None
    model = torchvision.models.get_model("densenet121", weights=None)

    resnet.py     BasicBlock, Bottleneck, ResNet; resnet18 34 50 101 152, resnext50_32x4d
    densenet.py   DenseNet; densenet121 161 169 201 (the blocks are minires.nn.models.densenet's)
    _weights.py   weights=: a file, or a torchvision weight name (download, cache, hash check)
"""

from __future__ import annotations

from typing import Any

from ...nn.module import Module
from ._weights import WeightsEnum, hub_dir, load_state_dict_from_url
from .densenet import (
    DenseNet,
    DenseNet121_Weights,
    DenseNet161_Weights,
    DenseNet169_Weights,
    DenseNet201_Weights,
    densenet121,
    densenet161,
    densenet169,
    densenet201,
)
from .resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    ResNet18_Weights,
    ResNet34_Weights,
    ResNet50_Weights,
    ResNet101_Weights,
    ResNet152_Weights,
    ResNeXt50_32X4D_Weights,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnext50_32x4d,
)

_BUILDERS = {f.__name__: f for f in (resnet18, resnet34, resnet50, resnet101, resnet152, resnext50_32x4d,
                                     densenet121, densenet161, densenet169, densenet201)}


def list_models() -> list[str]:
    """The names get_model knows, sorted."""
    return sorted(_BUILDERS)


def get_model(name: str, **config: Any) -> Module:
    """torchvision.models.get_model: the builder called name, with config (weights=, num_classes=, ...)."""
    if name.lower() not in _BUILDERS:
        raise ValueError(f"get_model: unknown model {name!r}; minires has {', '.join(list_models())}")
    return _BUILDERS[name.lower()](**config)


__all__ = [
    "BasicBlock",
    "Bottleneck",
    "DenseNet",
    "DenseNet121_Weights",
    "DenseNet161_Weights",
    "DenseNet169_Weights",
    "DenseNet201_Weights",
    "ResNeXt50_32X4D_Weights",
    "ResNet",
    "ResNet18_Weights",
    "ResNet34_Weights",
    "ResNet50_Weights",
    "ResNet101_Weights",
    "ResNet152_Weights",
    "WeightsEnum",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "get_model",
    "hub_dir",
    "list_models",
    "load_state_dict_from_url",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
]
