"""Images/s of ResNet-20 training on one machine: 1 process x 2 threads vs 2 processes x 1 thread.

    python benchmarks/bench_distributed.py            # global batch 128: 1 x 128, or 2 ranks x 64

Both sides do the same work per step: a global batch of --batch random CIFAR-shaped
images, forward, backward and SGD (momentum 0.9, weight decay 5e-4). The 2-process side
is DistributedDataParallel over the "mpi" backend (mpiexec -n 2, 1 thread each), and also
reports where its time goes:

  exposed all-reduce  the time each step spent inside DDP's gradient hooks (copying into
                      buckets, starting the all-reduces, waiting for them, copying back):
                      what averaging the gradients added to the step
  all-reduce alone    one blocking all-reduce of all 0.27M gradients (1.09 MB), by itself

Each side runs in its own process(es), the sides take turns --rounds times (benchmarks/sides.py),
and the medians are printed. docs/distributed.md quotes the numbers and the cost model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from sides import print_times, run_sides  # benchmarks/sides.py: this script's folder is on sys.path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch", type=int, default=128, help="global batch: per step, over all processes")
parser.add_argument("--steps", type=int, default=5, help="timed steps per round, after 2 warm-up steps")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--side", choices=["single", "ddp", "ddp-rank"], help=argparse.SUPPRESS)  # a child process
parser.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
args = parser.parse_args()


def setup(threads: int, batch: int, seed: int):
    import numpy as np

    import minires as mr
    from minires.nn import models

    mr.tune_process(threads)  # the explicit speed call the examples make (minires/tuning.py)
    mr.manual_seed(0)
    rng = np.random.default_rng(seed)
    x = mr.tensor(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32))
    y = mr.tensor(rng.integers(0, 10, size=batch))
    return models.resnet20(), x, y


def timed_steps(model, opt, x, y, after_step=None) -> list[float]:
    import minires.nn.functional as F

    times = []
    for i in range(2 + args.steps):
        started = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(1e3 * (time.perf_counter() - started))
            if after_step is not None:
                after_step()
    return times


def single() -> dict:
    from minires import optim

    model, x, y = setup(args.threads, args.batch, seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    return {"step_ms": timed_steps(model, opt, x, y)}


def ddp_rank() -> dict:
    import numpy as np

    import minires as mr
    import minires.distributed as dist
    from minires import optim

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    model, x, y = setup(args.threads, args.batch // world, seed=rank)
    model = mr.nn.parallel.DistributedDataParallel(model)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    exposed = []
    steps = timed_steps(model, opt, x, y, after_step=lambda: exposed.append(1e3 * model.reduction_seconds))
    n = sum(p.numel() for p in model.parameters())
    flat = np.zeros(n, dtype=np.float32)
    alone = []
    for i in range(12):
        dist.barrier()
        started = time.perf_counter()
        dist.all_reduce(flat)
        if i >= 2:
            alone.append(1e3 * (time.perf_counter() - started))
    # every rank's step times are alike (they meet at every all-reduce); report rank 0's
    result = {"step_ms": steps, "exposed_allreduce_ms": exposed, "allreduce_alone_ms": alone}
    dist.destroy_process_group()
    return result if rank == 0 else {}


def ddp() -> dict:
    """Start the two ranks under mpiexec; relay rank 0's line."""
    from minires.distributed.run import find_mpiexec

    command = [find_mpiexec(), "-n", "2", sys.executable, os.path.abspath(__file__), "--side", "ddp-rank",
               "--threads", "1", "--batch", str(args.batch), "--steps", str(args.steps)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"mpiexec failed:\n{run.stdout}\n{run.stderr}")
    print(run.stdout.strip().splitlines()[-1])
    return {}


def main() -> None:
    if args.side == "single":
        print_times(single())
        return
    if args.side == "ddp":
        ddp()
        return
    if args.side == "ddp-rank":
        result = ddp_rank()
        if result:
            print_times(result)
        return
    env = {"MINIRES_KERNELS": os.environ.get("MINIRES_KERNELS", "")} if "MINIRES_KERNELS" in os.environ else {}
    times = run_sides(__file__, {
        "1 process x 2 threads": (["--side", "single", "--threads", "2", "--batch", str(args.batch),
                                   "--steps", str(args.steps)], env),
        "2 processes x 1 thread": (["--side", "ddp", "--batch", str(args.batch), "--steps", str(args.steps)], env),
    }, rounds=args.rounds)
    print(f"ResNet-20 training, global batch {args.batch}, {os.cpu_count()} CPU cores, medians of "
          f"{args.rounds} x {args.steps} steps")
    for side, cases in times.items():
        step = statistics.median(cases["step_ms"])
        line = f"  {side:24s} {step:7.1f} ms/step  {args.batch / step * 1e3:6.1f} images/s"
        if "exposed_allreduce_ms" in cases:
            exposed = statistics.median(cases["exposed_allreduce_ms"])
            alone = statistics.median(cases["allreduce_alone_ms"])
            line += (f"   exposed all-reduce {exposed:5.2f} ms/step ({100 * exposed / step:.1f}% of the step); "
                     f"all-reduce of the 1.09 MB alone {alone:5.2f} ms ({100 * alone / step:.1f}%)")
        print(line)


if __name__ == "__main__":
    main()
