"""torch.nn.modules's one helper that scripts import by that path (`nn.modules.utils`);
minires's layers themselves live in minires/nn/layers.py and friends."""

from . import utils

__all__ = ["utils"]
