"""What tests/test_distributed.py runs on every rank, under mpiexec -n 2 (not a test module).

    mpiexec -n 2 python tests/mpi_worker.py collectives
    mpiexec -n 2 python tests/mpi_worker.py ddp sync 3 8     # SyncBatchNorm, 3 steps, 8 images per rank
    mpiexec -n 2 python tests/mpi_worker.py ddp plain 3 8    # plain BatchNorm
    mpiexec -n 2 python tests/mpi_worker.py die raise        # rank 1 raises after the first all_reduce

Rank 0 prints one line, RESULT {json}, that the test reads. MPI_WORKER_BACKEND=nccl runs the
collectives and DDP on GPUs (one per rank) instead.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np

BACKEND = os.environ.get("MPI_WORKER_BACKEND", "mpi")
DEVICE = "cuda" if BACKEND == "nccl" else "cpu"


def main(argv: list[str]) -> None:
    import minires.distributed as dist

    dist.init_process_group(BACKEND)
    {"collectives": collectives, "ddp": ddp, "die": die, "no_sync": no_sync}[argv[0]](*argv[1:])
    dist.destroy_process_group()


def report(**values) -> None:
    import minires.distributed as dist

    if dist.get_rank() == 0:
        print("RESULT " + json.dumps(values), flush=True)


# ---------------------------------------------------------------------- the collectives


def collectives() -> None:
    import minires as mr
    import minires.distributed as dist

    rank, size = dist.get_rank(), dist.get_world_size()
    t = mr.tensor([1.0, 2.0]).to(DEVICE) * (rank + 1)
    dist.all_reduce(t)
    total = t.tolist()
    t = mr.tensor([1.0, 2.0]).to(DEVICE) * (rank + 1)
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    mean = t.tolist()
    t = mr.tensor([float(rank), -float(rank)]).to(DEVICE)
    work = dist.all_reduce(t, op=dist.ReduceOp.MAX, async_op=True)
    work.wait()
    biggest = t.tolist()
    t = mr.tensor(np.full((2, 3), float(rank))).to(DEVICE)
    dist.broadcast(t, src=1)
    from_1 = t.tolist()
    strided = mr.tensor(np.arange(12.0).reshape(3, 4)).to(DEVICE).t()  # not contiguous: reduced through a copy
    dist.all_reduce(strided)
    gathered = [mr.zeros(2).to(DEVICE) for _ in range(size)]
    dist.all_gather(gathered, mr.tensor([float(rank), 10.0 + rank]).to(DEVICE))
    dist.barrier()
    report(rank=rank, size=size, total=total, mean=mean, biggest=biggest, from_1=from_1,
           strided=strided.tolist(), gathered=[g.tolist() for g in gathered], backend=dist.get_backend())


# ---------------------------------------------------------------------- DDP against one process


def tiny_net(sync: bool, seed: int):
    """conv-BN-ReLU twice, pool, linear: (N, 3, 8, 8) -> (N, 4); BatchNorm or SyncBatchNorm."""
    import minires as mr
    from minires import nn

    mr.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    return nn.SyncBatchNorm.convert_sync_batchnorm(model) if sync else model


def batches(steps: int, global_batch: int):
    rng = np.random.default_rng(123)
    for _ in range(steps):
        x = rng.standard_normal((global_batch, 3, 8, 8)).astype(np.float32)
        y = rng.integers(0, 4, size=global_batch)
        yield x, y


def sgd(model):
    from minires import optim

    return optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def state_vector(model) -> np.ndarray:
    """Every parameter, then every buffer, flattened into one float64 vector."""
    tensors = list(model.parameters()) + list(model.buffers())
    return np.concatenate([t.detach().cpu().numpy().astype(np.float64).reshape(-1) for t in tensors])


def ddp(mode: str, steps: str, per_rank: str) -> None:
    import minires as mr
    import minires.distributed as dist
    import minires.nn.functional as F
    from minires.nn.parallel import DistributedDataParallel

    steps, per_rank = int(steps), int(per_rank)
    rank, size = dist.get_rank(), dist.get_world_size()
    # a different initialisation on each rank: DDP must copy rank 0's everywhere
    model = DistributedDataParallel(tiny_net(sync=mode == "sync", seed=rank).to(DEVICE), bucket_cap_mb=0.001)
    opt = sgd(model)
    for x, y in batches(steps, size * per_rank):
        mine = slice(rank * per_rank, (rank + 1) * per_rank)
        opt.zero_grad()
        F.cross_entropy(model(mr.tensor(x[mine]).to(DEVICE)), mr.tensor(y[mine]).to(DEVICE)).backward()
        opt.step()
    mine = state_vector(model.module)
    everyone = [mr.zeros(mine.size, dtype=np.float64).to(DEVICE) for _ in range(size)]
    dist.all_gather(everyone, mr.tensor(mine).to(DEVICE))
    weights = [e.cpu().numpy() for e in everyone]
    n_params = sum(p.numel() for p in model.module.parameters())
    between_ranks = max(float(np.abs(w[:n_params] - weights[0][:n_params]).max()) for w in weights)
    if rank != 0:
        return
    big = one_process(steps, size, per_rank, split_batchnorm=False)
    predicted = one_process(steps, size, per_rank, split_batchnorm=True)
    keys = list(model.module.state_dict())
    report(mode=mode, buckets=len(model._buckets), between_ranks=between_ranks,
           vs_big_batch=_diff(weights[0], big, n_params), vs_split_batchnorm=_diff(weights[0], predicted, n_params),
           keys=keys[:3], n_params=n_params)


def _diff(a: np.ndarray, b: np.ndarray, n_params: int) -> dict:
    return {"params": float(np.abs(a[:n_params] - b[:n_params]).max()),
            "buffers": float(np.abs(a[n_params:] - b[n_params:]).max()),
            "scale": float(np.abs(b[:n_params]).max())}


def one_process(steps: int, size: int, per_rank: int, split_batchnorm: bool) -> np.ndarray:
    """The same steps in this one process, on the global batch (size * per_rank images).

    split_batchnorm: what DDP with plain BatchNorm computes, predicted: each rank's slice
    normalised by its own statistics (the model run on each slice, the logits put back
    together), and the running statistics those of rank 0's slices only (DDP copies rank 0's
    buffers to every rank at each forward)."""
    import minires as mr
    import minires.nn.functional as F

    model = tiny_net(sync=False, seed=0)
    opt = sgd(model)
    for x, y in batches(steps, size * per_rank):
        opt.zero_grad()
        if split_batchnorm:
            logits = []
            for r in range(size):
                kept = [b.array.copy() for b in model.buffers()]
                logits.append(model(mr.tensor(x[r * per_rank:(r + 1) * per_rank])))
                if r > 0:  # only rank 0's statistics survive the next broadcast
                    for b, old in zip(model.buffers(), kept):
                        b.array = old
            logits = mr.cat(logits)
        else:
            logits = model(mr.tensor(x))
        F.cross_entropy(logits, mr.tensor(y)).backward()
        opt.step()
    return state_vector(model)


def no_sync() -> None:
    """Two micro-batches accumulated under no_sync, then one synchronised: the mean of every
    rank's summed gradients, checked against a plain all_reduce of the same sums."""
    import minires as mr
    import minires.distributed as dist
    import minires.nn.functional as F
    from minires.nn.parallel import DistributedDataParallel

    rank = dist.get_rank()
    model = DistributedDataParallel(tiny_net(sync=False, seed=0))
    rng = np.random.default_rng(rank)
    xs = [mr.tensor(rng.standard_normal((4, 3, 8, 8)).astype(np.float32)) for _ in range(3)]
    y = mr.tensor(np.arange(4) % 4)
    with model.no_sync():
        for x in xs[:2]:
            F.cross_entropy(model(x), y).backward()
    local_after_no_sync = [p.grad.array.copy() for p in model.parameters()]
    F.cross_entropy(model(xs[2]), y).backward()
    # the same, by hand, on a copy: sum the three local gradients, then average across ranks
    twin = tiny_net(sync=False, seed=0)
    twin.load_state_dict(model.module.state_dict())
    for x in xs:
        F.cross_entropy(twin(x), y).backward()
    worst = 0.0
    for p, q in zip(model.parameters(), twin.parameters()):
        dist.all_reduce(q.grad, op=dist.ReduceOp.AVG)
        worst = max(worst, float(np.abs(p.grad.array - q.grad.array).max()))
    differs = max(float(np.abs(a).max()) for a in local_after_no_sync)
    report(worst=worst, local_grad_scale=differs)


# ---------------------------------------------------------------------- a rank that dies


def die(how: str) -> None:
    import minires as mr
    import minires.distributed as dist

    t = mr.ones(3)
    dist.all_reduce(t)
    if dist.get_rank() == 1:
        if how == "raise":
            raise RuntimeError("rank 1 gives up on purpose")
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "exit":
            sys.exit(3)
    dist.all_reduce(t)  # rank 0 waits here for a rank that is gone
    dist.barrier()
    print(f"rank {dist.get_rank()} should never get here", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
