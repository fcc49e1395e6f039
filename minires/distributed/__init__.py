"""Data-parallel training on many processes, shaped like torch.distributed.

    mpiexec -n 2 python train.py            # or: python -m minires.distributed.run --nproc 2 train.py

    import minires.distributed as dist
    dist.init_process_group("mpi")          # "nccl" for one GPU per rank
    model = mr.nn.parallel.DistributedDataParallel(model)
    sampler = mr.utils.data.distributed.DistributedSampler(dataset)   # each rank its own slice

Files: process_group.py (init_process_group, all_reduce, broadcast, all_gather, barrier,
...), mpi.py and nccl.py (the two backends: mpi4py on NumPy arrays, CuPy's NCCL on GPU
arrays), ddp.py (DistributedDataParallel: gradient buckets averaged during backward),
sync_batchnorm.py (SyncBatchNorm), run.py (the launcher). Taught in docs/distributed.md.

This package sits above nn (it wraps Modules); nn.parallel.DistributedDataParallel and
nn.SyncBatchNorm are the same classes, found here when first asked for. Importing it loads
neither mpi4py nor CuPy: init_process_group does.
"""

from .ddp import DistributedDataParallel
from .process_group import (
    ReduceOp,
    abort,
    all_gather,
    all_reduce,
    barrier,
    broadcast,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
    new_group,
)
from .sync_batchnorm import SyncBatchNorm

__all__ = [
    "DistributedDataParallel", "ReduceOp", "SyncBatchNorm", "abort", "all_gather", "all_reduce", "barrier",
    "broadcast", "destroy_process_group", "get_backend", "get_rank", "get_world_size", "init_process_group",
    "is_available", "is_initialized", "is_mpi_available", "is_nccl_available", "new_group",
]
