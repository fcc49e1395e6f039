"""torchvision's ImageNet DenseNets. minires.nn.models.densenet already names its modules
as torchvision does (features.conv0 norm0 relu0 pool0, denseblockN.denselayerM.norm1 relu1
conv1 norm2 relu2 conv2, transitionN.norm relu conv pool, norm5, classifier) and initialises
them as torchvision does (He fan_in for convs, BN 1/0, Linear bias 0); this file gives it
the ImageNet stem and torchvision's signatures.

    densenet121   k=32, blocks (6, 12, 24, 16), 64 initial features     7,978,856 parameters
    densenet161   k=48, blocks (6, 12, 36, 24), 96 initial features    28,681,000
    densenet169   k=32, blocks (6, 12, 32, 32), 64 initial features    14,149,480
    densenet201   k=32, blocks (6, 12, 48, 32), 64 initial features    20,013,928

The head is relu -> adaptive average pool to 1x1 -> classifier, as torchvision's forward
(F.adaptive_avg_pool2d(out, (1, 1))), so any input size from 32x32 up works.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...nn.models.densenet import DenseNet as _DenseNetBC
from . import _weights

__all__ = ["DenseNet", "DenseNet121_Weights", "DenseNet161_Weights", "DenseNet169_Weights", "DenseNet201_Weights",
           "densenet121", "densenet161", "densenet169", "densenet201"]


class DenseNet(_DenseNetBC):
    """torchvision.models.DenseNet: the ImageNet stem, compression 0.5, torchvision's defaults
    (DenseNet-121). x: (N, 3, H, W) -> logits (N, num_classes)"""

    def __init__(self, growth_rate: int = 32, block_config: Sequence[int] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, drop_rate: float = 0.0, num_classes: int = 1000,
                 memory_efficient: bool = False):
        if memory_efficient:
            raise NotImplementedError("DenseNet(memory_efficient=True): minires does not recompute the "
                                      "concatenations in backward (see minires/nn/models/densenet.py)")
        super().__init__(growth_rate, block_config, num_init_features, bn_size, drop_rate, num_classes,
                         compression=0.5, stem="imagenet")


DenseNet121_Weights = _weights.weights_enum("DenseNet121_Weights", "densenet121")
DenseNet161_Weights = _weights.weights_enum("DenseNet161_Weights", "densenet161")
DenseNet169_Weights = _weights.weights_enum("DenseNet169_Weights", "densenet169")
DenseNet201_Weights = _weights.weights_enum("DenseNet201_Weights", "densenet201")


def _densenet(arch: str, growth_rate: int, block_config: tuple[int, ...], num_init_features: int, weights: Any,
              progress: bool, **kwargs: Any) -> DenseNet:
    source, _ = _weights.resolve(arch, weights, kwargs)
    model = DenseNet(growth_rate, block_config, num_init_features, **kwargs)
    if source is not None:
        _weights.load_weights(model, source, progress)  # renames the old norm.1-style keys, as torchvision
    return model


def densenet121(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-121 (7,978,856 parameters). weights: None, a .pth path, "IMAGENET1K_V1" or "DEFAULT"."""
    return _densenet("densenet121", 32, (6, 12, 24, 16), 64, weights, progress, **kwargs)


def densenet161(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-161 (28,681,000 parameters). weights: None, a .pth path, "IMAGENET1K_V1" or "DEFAULT"."""
    return _densenet("densenet161", 48, (6, 12, 36, 24), 96, weights, progress, **kwargs)


def densenet169(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-169 (14,149,480 parameters). weights: None, a .pth path, "IMAGENET1K_V1" or "DEFAULT"."""
    return _densenet("densenet169", 32, (6, 12, 32, 32), 64, weights, progress, **kwargs)


def densenet201(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-201 (20,013,928 parameters). weights: None, a .pth path, "IMAGENET1K_V1" or "DEFAULT"."""
    return _densenet("densenet201", 32, (6, 12, 48, 32), 64, weights, progress, **kwargs)
