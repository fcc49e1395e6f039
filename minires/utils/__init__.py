"""torch.utils-shaped helpers. `data`: Dataset, DataLoader and samplers, as torch.utils.data."""

from . import data

__all__ = ["data"]
