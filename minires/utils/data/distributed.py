"""DistributedSampler: each rank its own slice of the data set, as torch.utils.data.distributed's.

    sampler = DistributedSampler(dataset, num_replicas=2, rank=r, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=64, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)         # a new order each epoch, the same on every rank
        for x, y in loader: ...

Every rank draws the same permutation (seeded by seed + epoch), pads it by repeating its
start until it divides evenly (or, with drop_last, cuts the tail), and takes every
num_replicas-th index from its rank on: rank r gets positions r, r + R, r + 2R, ...
Together the ranks cover the epoch once, each the same number of samples, so no rank
waits at a collective for one with a longer epoch.

The permutation is numpy's (np.random.default_rng(seed + epoch)), not torch's randperm, so
the order differs from PyTorch's; the slicing and the padding are torch's exactly.

>>> [list(DistributedSampler(range(5), num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
[[0, 2, 4], [1, 3, 0]]
>>> [list(DistributedSampler(range(5), num_replicas=2, rank=r, shuffle=False, drop_last=True)) for r in (0, 1)]
[[0, 2], [1, 3]]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import numpy as np

from .sampler import Sampler


class DistributedSampler(Sampler):
    """The indices of dataset that rank `rank` of `num_replicas` loads this epoch.

    num_replicas, rank: default to the process group's get_world_size() and get_rank()
    shuffle: a new permutation each epoch (set_epoch); seed: the same on every rank
    drop_last: cut the tail so that it divides evenly, instead of padding with repeats
    len(sampler) = num_samples = ceil(N / R), or with drop_last floor(N / R)
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            # the process group lives above utils.data (in minires.distributed): asked for only here
            from ... import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: num_replicas and rank were not given and no process group "
                                   "is initialized; call minires.distributed.init_process_group first, or pass both")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be an int >= 1, got {num_replicas!r}")
        if not isinstance(rank, int) or rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)  # torch's formula: floor(N / R)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:  # pad with the first indices (again and again if needed) up to total_size
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        assert len(indices) == self.total_size
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch `epoch`: call it before each epoch, on every rank, or
        every epoch repeats the same order."""
        self.epoch = epoch
