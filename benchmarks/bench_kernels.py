"""Time each kernel family and all ResNet-20 convolutions, minires vs PyTorch CPU, same run.

    pip install -e ".[bench]"
    python benchmarks/bench_kernels.py                 # 2 threads, batch 128
    python benchmarks/bench_kernels.py --skip-reference --repeat 5

Every number is the best of --repeat runs (after one warm-up run that also compiles the
Numba kernels), in milliseconds, with the ratio to PyTorch's time for the same work.
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import contextmanager

# Idle BLAS and OpenMP threads must sleep, not spin, or they slow each other down: set
# before numpy and numba load them (see minires/__init__.py, which sets the same).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--repeat", type=int, default=5)
parser.add_argument("--skip-reference", action="store_true", help="leave out the (slow) NumPy reference")
args = parser.parse_args()

import numba
import torch
from threadpoolctl import threadpool_limits

import minires as mr
import minires.nn.functional as F

torch.set_num_threads(args.threads)
numba.set_num_threads(args.threads)
TF = torch.nn.functional


@contextmanager
def kernels(implementation: str):
    old = os.environ.get("MINIRES_KERNELS")
    os.environ["MINIRES_KERNELS"] = implementation
    try:
        yield
    finally:
        if old is None:
            del os.environ["MINIRES_KERNELS"]
        else:
            os.environ["MINIRES_KERNELS"] = old


def best_ms(fn, repeat: int) -> float:
    fn()  # warm-up (and Numba compilation)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


# ResNet-20 (He et al. 2015, CIFAR): (C_in, C_out, H, stride, needs input gradient) for its 19 convolutions
RESNET20_CONVS = (
    [(3, 16, 32, 1, False)]
    + [(16, 16, 32, 1, True)] * 6
    + [(16, 32, 32, 2, True)] + [(32, 32, 16, 1, True)] * 5
    + [(32, 64, 16, 2, True)] + [(64, 64, 8, 1, True)] * 5
)


def resnet20_convs_minires(batch: int):
    rng = np.random.default_rng(0)
    layers = []
    for c_in, c_out, h, stride, needs_gx in RESNET20_CONVS:
        x = mr.tensor(rng.standard_normal((batch, c_in, h, h), dtype=np.float32), requires_grad=needs_gx)
        w = mr.tensor(rng.standard_normal((c_out, c_in, 3, 3), dtype=np.float32) * 0.1, requires_grad=True)
        gy = rng.standard_normal((batch, c_out, h // stride, h // stride), dtype=np.float32)
        layers.append((x, w, stride, gy))

    def step():
        for x, w, stride, gy in layers:
            F.conv2d(x, w, stride=stride, padding=1).backward(gy)
            x.zero_grad()
            w.zero_grad()
    return step


def resnet20_convs_torch(batch: int):
    rng = np.random.default_rng(0)
    layers = []
    for c_in, c_out, h, stride, needs_gx in RESNET20_CONVS:
        x = torch.tensor(rng.standard_normal((batch, c_in, h, h), dtype=np.float32), requires_grad=needs_gx)
        w = torch.tensor(rng.standard_normal((c_out, c_in, 3, 3), dtype=np.float32) * 0.1, requires_grad=True)
        gy = torch.tensor(rng.standard_normal((batch, c_out, h // stride, h // stride), dtype=np.float32))
        layers.append((x, w, stride, gy))

    def step():
        for x, w, stride, gy in layers:
            TF.conv2d(x, w, stride=stride, padding=1).backward(gy)
            x.grad = None
            w.grad = None
    return step


def family_cases(batch: int):
    """name -> (minires fn, torch fn): forward + backward of one layer-sized call."""
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((batch, 16, 32, 32), dtype=np.float32)
    g_np, b_np = np.ones(16, np.float32), np.zeros(16, np.float32)

    def pair(mr_fn, torch_fn, gy_shape):
        gy_np = rng.standard_normal(gy_shape, dtype=np.float32)

        def ours():
            x = mr.tensor(x_np, requires_grad=True)
            params = [mr.tensor(g_np, requires_grad=True), mr.tensor(b_np, requires_grad=True)]
            mr_fn(x, *params).backward(gy_np)

        def theirs():
            x = torch.tensor(x_np, requires_grad=True)
            params = [torch.tensor(g_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)]
            torch_fn(x, *params).backward(torch.tensor(gy_np))
        return ours, theirs

    w_np = rng.standard_normal((16, 16, 3, 3), dtype=np.float32)
    return {
        "conv 3x3 16->16, 32x32": pair(lambda x, g, b: F.conv2d(x, mr.tensor(w_np), padding=1),
                                       lambda x, g, b: TF.conv2d(x, torch.tensor(w_np), padding=1),
                                       (batch, 16, 32, 32)),
        "max_pool 3x3/2 p1": pair(lambda x, g, b: F.max_pool2d(x, 3, 2, 1),
                                  lambda x, g, b: TF.max_pool2d(x, 3, 2, 1), (batch, 16, 16, 16)),
        "avg_pool 2x2/2": pair(lambda x, g, b: F.avg_pool2d(x, 2), lambda x, g, b: TF.avg_pool2d(x, 2),
                               (batch, 16, 16, 16)),
        "global avg pool": pair(lambda x, g, b: F.adaptive_avg_pool2d(x, 1),
                                lambda x, g, b: TF.adaptive_avg_pool2d(x, 1), (batch, 16, 1, 1)),
        "batch_norm train": pair(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True),
                                 lambda x, g, b: TF.batch_norm(x, None, None, g, b, training=True),
                                 (batch, 16, 32, 32)),
        "relu": pair(lambda x, g, b: F.relu(x), lambda x, g, b: TF.relu(x), (batch, 16, 32, 32)),
    }


def main() -> None:
    implementations = ["numba"] if args.skip_reference else ["reference", "numba"]
    print(f"minires {mr.__version__} vs torch {torch.__version__} | cpu | {args.threads} threads | "
          f"batch {args.batch} | float32 | best of {args.repeat} | forward + backward, ms")
    header = f"{'':34s}" + "".join(f"{impl:>12s} {'ratio':>7s}" for impl in implementations) + f"{'torch':>12s}"
    with threadpool_limits(limits=args.threads):
        print(header)
        rows = list(family_cases(args.batch).items())
        rows.append(("ResNet-20: all 19 convolutions", (resnet20_convs_minires(args.batch),
                                                         resnet20_convs_torch(args.batch))))
        for name, (ours, theirs) in rows:
            torch_ms = best_ms(theirs, args.repeat)
            line = f"{name:34s}"
            for impl in implementations:
                with kernels(impl):
                    ms = best_ms(ours, 1 if impl == "reference" else args.repeat)
                line += f"{ms:12.1f} {ms / torch_ms:6.2f}x"
            print(line + f"{torch_ms:12.1f}", flush=True)


if __name__ == "__main__":
    main()
