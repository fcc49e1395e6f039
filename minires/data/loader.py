"""DataLoader: batches of (images, labels) as Tensors, shuffled and augmented repeatably.

    loader = DataLoader(CIFAR10(root, transform=train_transform()), batch_size=128, shuffle=True)
    for images, labels in loader:      # images (128, 3, 32, 32) float32, labels (128,) int64
        ...

The shuffle order and the augmentation of epoch e come from np.random.default_rng([seed, e]),
so epoch e is the same whether the run went straight through or was resumed; a resumed
run only has to call set_epoch(e).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..tensor import Tensor


class DataLoader:
    """Iterate over a dataset in batches.

    dataset:    has __len__ and __getitem__(i) -> (image, label); if it also has
                get_batch(indices, rng) -> (images, labels) that is used instead (vectorised)
    batch_size: images per batch          shuffle: a new order every epoch
    drop_last:  skip a final smaller batch        seed: fixes order and augmentation
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False, seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last, self.seed = (
            dataset, batch_size, shuffle, drop_last, seed)
        self.epoch = 0  # how many epochs have been started

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch `epoch` (for resuming)."""
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        n = len(self.dataset)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            indices = order[b * self.batch_size : (b + 1) * self.batch_size]
            images, labels = self._load(indices, rng)
            yield Tensor(images), Tensor(np.asarray(labels, dtype=np.int64))

    def _load(self, indices: np.ndarray, rng: np.random.Generator):
        if hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(indices, rng)
        items = [self.dataset[int(i)] for i in indices]
        return np.stack([np.asarray(image) for image, _ in items]), np.array([label for _, label in items])
