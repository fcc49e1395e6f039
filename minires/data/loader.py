"""DataLoader: a dataset cut into batches of Tensors, shuffled and augmented repeatably.

    loader = DataLoader(CIFAR10(root, transform=train_transform()), batch_size=128, shuffle=True)
    for images, labels in loader:      # images float32 (128, 3, 32, 32), labels int64 (128,)
        ...

Epoch e draws its shuffle order and its augmentation from one generator,
np.random.default_rng([seed, e]). So epoch e is the same batches, crops and flips whether
the run went straight through or was stopped and resumed: a resumed run calls
set_epoch(e) and saves no RNG state at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..tensor import Tensor


class DataLoader:
    """Iterate over a dataset in batches: (images Tensor (B, ...), labels Tensor int64 (B,)).

    dataset:    has __len__ and __getitem__(i) -> (image, label); if it also has
                get_batch(indices, rng) -> (images, labels), that is used (vectorised)
    batch_size: images per batch (the last one may be smaller, unless drop_last)
    shuffle:    a new order every epoch        seed: fixes the order and the augmentation
    sampler:    instead of shuffle, the indices to load in order, such as one rank's
                DistributedSampler (its set_epoch is called by this loader's)
    epoch:      how many epochs have been started; each iteration uses it, then adds 1
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int = 0, sampler: Any = None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__, got {type(dataset).__name__}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be an int >= 1, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle (the sampler orders)")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last, self.seed, self.sampler = shuffle, drop_last, seed, sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch `epoch` (to resume a run)."""
        self.epoch = epoch

    def __len__(self) -> int:
        """The number of batches in one epoch."""
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)  # floor or ceil

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        rng = np.random.default_rng([self.seed, self.epoch])  # this epoch's order and augmentation
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        n = len(self.dataset)
        if self.sampler is not None:
            order = np.fromiter(iter(self.sampler), dtype=np.int64)
        else:
            order = rng.permutation(n) if self.shuffle else np.arange(n)
        return self._batches(order, rng)

    def _batches(self, order: np.ndarray, rng: np.random.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        for b in range(len(self)):
            indices = order[b * self.batch_size : (b + 1) * self.batch_size]
            images, labels = self._load(indices, rng)
            yield Tensor(images), Tensor(np.asarray(labels, dtype=np.int64))  # Tensor wraps, without a copy

    def _load(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(indices, rng)
        items = [self.dataset[int(i)] for i in indices]  # a plain dataset: one item at a time
        return np.stack([np.asarray(image) for image, _ in items]), np.array([label for _, label in items])

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}, epoch={self.epoch}"
                + (f", sampler={type(self.sampler).__name__}" if self.sampler is not None else "") + ")")
