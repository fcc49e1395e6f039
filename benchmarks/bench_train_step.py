"""Time one full ResNet-20 training step (forward, backward, SGD), minires vs PyTorch CPU.

    pip install -e ".[bench]"
    python benchmarks/bench_train_step.py            # batch 128, 2 threads

Both frameworks train the same architecture (the paper's ResNet-20 with option A
shortcuts; PyTorch's twin is tests/torch_resnet.py, which tests/test_models.py proves
equal) on the same random CIFAR-shaped batch with SGD (momentum 0.9, weight decay 5e-4).
Each side runs in its own process (benchmarks/sides.py says why) and the sides take
turns --rounds times, --steps timed steps each after a warm-up step.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--steps", type=int, default=4)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--side", choices=["minires", "torch"], help=argparse.SUPPRESS)  # a child process
args = parser.parse_args()


def minires_step(x_np, y_np):
    import numba

    import minires as mr
    import minires.nn.functional as F
    from minires import optim
    from minires.nn import models

    numba.set_num_threads(args.threads)
    mr.threads.set_cpu_threads(args.threads)
    mr.manual_seed(0)
    model = models.resnet20()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = mr.tensor(x_np), mr.tensor(y_np)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def torch_step(x_np, y_np):
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from torch_resnet import CifarResNet

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = CifarResNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = torch.tensor(x_np), torch.tensor(y_np)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def time_side(side: str) -> dict[str, list[float]]:
    if side == "minires":
        import minires  # noqa: F401  first: it sets the thread policies before numpy loads OpenBLAS
    import numpy as np
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((args.batch, 3, 32, 32), dtype=np.float32)
    y_np = rng.integers(0, 10, args.batch)
    step = (minires_step if side == "minires" else torch_step)(x_np, y_np)
    times = []
    with threadpool_limits(limits=args.threads):
        step()  # warm-up: Numba compilation, allocator
        for _ in range(args.steps):
            start = time.perf_counter()
            step()
            times.append(1000 * (time.perf_counter() - start))
    return {"step": times}


def main() -> None:
    from sides import print_times, run_sides

    if args.side:  # a child process: nothing may load numpy before time_side imports minires
        print_times(time_side(args.side))
        return
    import numpy as np
    common = ["--batch", str(args.batch), "--threads", str(args.threads), "--steps", str(args.steps)]
    times = run_sides(__file__, {side: (["--side", side, *common], {}) for side in ("minires", "torch")},
                      args.rounds)
    print(f"ResNet-20 training step | batch {args.batch} | {args.threads} threads | float32 | "
          f"{args.rounds} rounds x {args.steps} steps | each side in its own process, taking turns")
    best = {side: min(t["step"]) for side, t in times.items()}
    median = {side: float(np.median(t["step"])) for side, t in times.items()}
    for side in times:
        print(f"{side:8s} best {best[side]:7.1f} ms   median {median[side]:7.1f} ms")
    print(f"ratio minires / torch: best {best['minires'] / best['torch']:.2f}x   "
          f"median {median['minires'] / median['torch']:.2f}x   (bar: 2.0x)")


if __name__ == "__main__":
    main()
