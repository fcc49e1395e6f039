"""Time one full ResNet-20 training step (forward, backward, SGD), minires vs PyTorch CPU.

    pip install -e ".[bench]"
    python benchmarks/bench_train_step.py            # batch 128, 2 threads

Both frameworks train the same architecture (the paper's ResNet-20, option A
shortcuts) on the same random CIFAR-shaped batch with SGD (momentum 0.9, weight decay
5e-4), alternating step by step so machine noise hits both alike; the best and median
of --steps timed steps are printed with the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Idle BLAS and OpenMP threads must sleep, not spin, or they slow each other down: set
# before numpy and numba load them (see minires/__init__.py, which sets the same).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--steps", type=int, default=5)
args = parser.parse_args()

import numba
import torch
from threadpoolctl import threadpool_limits

import minires as mr
import minires.nn.functional as F
from minires import optim
from minires.nn import models

torch.set_num_threads(args.threads)
numba.set_num_threads(args.threads)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from torch_resnet import CifarResNet  # the torch twin that tests/test_models.py proves equal to resnet20


def main() -> None:
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((args.batch, 3, 32, 32), dtype=np.float32)
    y_np = rng.integers(0, 10, args.batch)

    mr.manual_seed(0)
    model = models.resnet20()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = mr.tensor(x_np), mr.tensor(y_np)

    def minires_step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    torch.manual_seed(0)
    model_t = CifarResNet()
    opt_t = torch.optim.SGD(model_t.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x_t, y_t = torch.tensor(x_np), torch.tensor(y_np)

    def torch_step():
        loss = torch.nn.functional.cross_entropy(model_t(x_t), y_t)
        opt_t.zero_grad()
        loss.backward()
        opt_t.step()

    print(f"ResNet-20 training step | batch {args.batch} | {args.threads} threads | float32 | "
          f"minires {mr.__version__} (kernels: {mr.backend.cpu_implementation()}) vs torch {torch.__version__}")
    with threadpool_limits(limits=args.threads):
        minires_step()  # warm-up: Numba compilation, allocator
        torch_step()
        times = {"minires": [], "torch": []}
        for _ in range(args.steps):
            for name, step in (("minires", minires_step), ("torch", torch_step)):
                start = time.perf_counter()
                step()
                times[name].append(1000 * (time.perf_counter() - start))
    best = {k: min(v) for k, v in times.items()}
    median = {k: float(np.median(v)) for k, v in times.items()}
    for name in times:
        print(f"{name:8s} best {best[name]:7.1f} ms   median {median[name]:7.1f} ms")
    print(f"ratio minires / torch: best {best['minires'] / best['torch']:.2f}x   "
          f"median {median['minires'] / median['torch']:.2f}x   (bar: 2.0x)")


if __name__ == "__main__":
    main()
