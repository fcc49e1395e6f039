"""Data: CIFAR-10 (download, md5 check, validation), a DataLoader, and batch transforms.

    from minires.data import CIFAR10, DataLoader, transforms
    train = CIFAR10("./data", train=True, download=True, transform=transforms.train_transform())
    loader = DataLoader(train, batch_size=128, shuffle=True, drop_last=True)
"""

from . import transforms
from .cifar import CIFAR10
from .loader import DataLoader
from .transforms import CIFAR10_MEAN, CIFAR10_STD

__all__ = ["CIFAR10", "CIFAR10_MEAN", "CIFAR10_STD", "DataLoader", "transforms"]
