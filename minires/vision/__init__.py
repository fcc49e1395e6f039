"""minires.vision: shaped like torchvision, so `import minires.vision as torchvision` works.

    datasets     CIFAR10, CIFAR100, MNIST, FashionMNIST, ImageFolder: PIL images and int labels
    transforms   per-image transforms (Compose, ToTensor, Normalize, RandomCrop, ...)
    models       the ImageNet ResNets, ResNeXt and DenseNets with torchvision's module names
    utils        make_grid, save_image

It sits above nn/ and utils/data/ and imports nothing above itself (README.md, Layout). The fast,
batch-at-once CIFAR pipeline that examples/train_cifar.py uses is minires.data, not this.
"""

from . import datasets, models, transforms, utils

__all__ = ["datasets", "models", "transforms", "utils"]
