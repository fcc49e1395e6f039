"""Data: CIFAR-10, a DataLoader, and batch augmentation (minires.data.transforms)."""

from . import transforms
from .cifar import CIFAR10
from .loader import DataLoader
from .transforms import CIFAR10_MEAN, CIFAR10_STD

__all__ = ["CIFAR10", "CIFAR10_MEAN", "CIFAR10_STD", "DataLoader", "transforms"]
