"""What freezing saves: the backward time of a torchvision-named ResNet-18 on CIFAR-size input,
all layers trainable vs everything frozen but layer4 and the new head (as examples/finetune.py
does by default), and vs the head alone.

    python benchmarks/bench_freeze.py                 # batch 32, 32x32 images, median of 5 steps
    python benchmarks/bench_freeze.py --batch 64 --steps 9

Frozen layers compute no weight gradients: ahead of the first trainable layer they build
no graph at all (nothing there requires a gradient), so backward stops at layer4; a frozen
Conv2d between trainable ones still passes its input gradient on but skips gw
(minires/ops/conv.py, needs_input_grad). The forward time is printed too: without a graph
to record, the frozen part costs what inference costs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import minires as mr
import minires.nn.functional as F
from minires import nn
from minires.vision import models

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--size", type=int, default=32, help="image height and width")
parser.add_argument("--steps", type=int, default=5, help="timed steps per setting (after one warm-up)")
args = parser.parse_args()

mr.tune_process()  # threads, OpenMP, malloc, as the examples (minires/tuning.py)
mr.manual_seed(0)
model = models.resnet18()
model.fc = nn.Linear(512, 2)
model.train()
rng = np.random.default_rng(0)
x = mr.tensor(rng.standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32))
labels = mr.tensor(rng.integers(0, 2, args.batch))


def setting(name: str) -> None:
    model.requires_grad_(name == "all trainable")
    if name == "layer4 + fc trainable":
        model.layer4.requires_grad_(True)
    model.fc.requires_grad_(True)


def time_steps(name: str) -> tuple[float, float, int]:
    setting(name)
    forward, backward = [], []
    for step in range(args.steps + 1):
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), labels)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        if step:  # the first one warms up (kernels compiled, memory touched)
            forward.append(t1 - t0)
            backward.append(t2 - t1)
    with_grad = sum(p.grad is not None for p in model.parameters())
    return float(np.median(forward)), float(np.median(backward)), with_grad


print(f"ResNet-18 (torchvision names), batch {args.batch}, {args.size}x{args.size} input, "
      f"median of {args.steps} steps")
results = {}
for name in ("all trainable", "layer4 + fc trainable", "fc only trainable"):
    fwd, bwd, with_grad = results[name] = time_steps(name)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"  {name:<22} forward {1000 * fwd:7.1f} ms   backward {1000 * bwd:7.1f} ms   "
          f"{n_params:>10,} trainable parameters, {with_grad} tensors with a gradient")
full = results["all trainable"][1]
part = results["layer4 + fc trainable"][1]
print(f"freezing all but layer4 + fc: backward {full / part:.1f}x faster ({1000 * (full - part):.0f} ms saved per step)")
