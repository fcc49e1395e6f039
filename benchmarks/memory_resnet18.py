"""Peak memory of one ResNet-18 (CIFAR stem) training step at batch 128.

    python benchmarks/memory_resnet18.py            # prints peak RSS in GiB
    python benchmarks/memory_resnet18.py --workspace-mb 64

Runs forward, backward and a plain SGD update on random CIFAR-shaped data, then reads
the process's peak resident set size (ru_maxrss). The im2col workspace limit bounds
the column buffers; see minires/ops/conv.py.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import minires as mr
import minires.nn.functional as F
from minires import backend
from minires.kernels import _chunks
from minires.nn import models

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--workspace-mb", type=float, default=None, help="im2col workspace (default: the library's)")
parser.add_argument("--steps", type=int, default=2)
args = parser.parse_args()

mr.tune_process()  # threads, OpenMP, malloc, as the examples (minires/tuning.py)
if args.workspace_mb is not None:
    _chunks.set_workspace_bytes(int(args.workspace_mb * 2**20))
mr.manual_seed(0)
model = models.resnet18(num_classes=10, stem="cifar")
rng = np.random.default_rng(0)
x = mr.tensor(rng.standard_normal((args.batch, 3, 32, 32), dtype=np.float32))
labels = rng.integers(0, 10, args.batch)
params = list(model.parameters())
print(f"resnet18 (cifar stem, {sum(p.numel() for p in params) / 1e6:.2f}M params) | batch {args.batch} | "
      f"kernels: {backend.cpu_implementation()} | workspace {_chunks.workspace_bytes() / 2**20:g} MiB")
for step in range(args.steps):
    start = time.perf_counter()
    loss = F.cross_entropy(model(x), labels)
    model.zero_grad()
    loss.backward()
    with mr.no_grad():
        for p in params:
            p.data -= 0.01 * p.grad
    print(f"step {step + 1}: loss {loss.item():.4f}  {time.perf_counter() - start:.1f} s")
peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux
print(f"peak RSS {peak_gib:.2f} GiB (bar: 4 GiB)")
