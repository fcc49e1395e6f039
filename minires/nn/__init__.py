"""Neural-network building blocks with PyTorch's names: Module, Parameter, the layers,
the functional forms (`minires.nn.functional as F`), initialisers and the ResNets."""

from . import functional, init, models, modules, utils
from .activation import LeakyReLU, LogSoftmax, Sigmoid, Softmax, Tanh
from .container import ModuleDict, ModuleList, Sequential
from .layers import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Dropout2d,
    Flatten,
    Identity,
    Linear,
    MaxPool2d,
    ReLU,
)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, Parameter
from .parallel import DataParallel

__all__ = [
    "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d",
    "Conv2d", "CrossEntropyLoss", "DataParallel", "Dropout", "Dropout2d", "Flatten", "Identity", "L1Loss",
    "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "Module", "ModuleDict", "ModuleList", "NLLLoss",
    "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh", "functional", "init", "models", "modules", "utils",
]


def __getattr__(name: str):
    """nn.SyncBatchNorm, as torch spells it: it lives in minires.distributed (above nn, since it
    all-reduces across processes) and is imported the first time it is asked for."""
    if name == "SyncBatchNorm":
        from ..distributed.sync_batchnorm import SyncBatchNorm

        return SyncBatchNorm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
