"""Neural-network building blocks with PyTorch's names: Module, Parameter, the layers,
the functional forms (`minires.nn.functional as F`), initialisers and the ResNets."""

from . import functional, init, models
from .layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Identity,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
)
from .module import Module, Parameter

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm2d", "Conv2d", "Dropout", "Flatten", "Identity", "Linear",
    "MaxPool2d", "Module", "Parameter", "ReLU", "Sequential", "functional", "init", "models",
]
