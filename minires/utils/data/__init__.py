"""Datasets, samplers and a DataLoader shaped like torch.utils.data.

    from minires.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, num_workers=2)
    for xb, yb in loader:      # xb: (64, ...) Tensor, yb: (64,) Tensor
        ...

This is the general loader: any map-style or iterable dataset, one sample at a time,
Python-level per-sample transforms run in worker processes. The fast CIFAR pipeline
that examples/train_cifar.py uses (whole uint8 batches augmented at once) is
minires.data.DataLoader, a different class.

Files: dataset.py (Dataset, TensorDataset, Subset, ConcatDataset, random_split),
sampler.py (which indices, in which order, in which batches), distributed.py
(DistributedSampler: each process its own slice), collate.py (samples ->
a batch), dataloader.py (the loop, in this process or in workers), worker.py (what
runs inside a worker process).

Random numbers: where PyTorch takes a torch.Generator, minires takes `generator=` as a
numpy np.random.Generator, an int seed, or None (then each epoch draws a fresh seed from
minires' global generator, so mr.manual_seed makes the run repeatable).
"""

from . import distributed
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from .worker import WorkerInfo, get_worker_info

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "DistributedSampler", "IterableDataset", "RandomSampler",
    "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler",
    "WorkerInfo", "default_collate", "default_convert", "distributed", "get_worker_info", "random_split",
]
