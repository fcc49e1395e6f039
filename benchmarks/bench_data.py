"""How fast the DataLoader feeds a training run: one shuffled epoch of the CIFAR-10 training set
with the standard augmentation (pad-4 random crop, flip, to float, normalise) at batch 128.

    python benchmarks/bench_data.py --data ../shared/data

A ResNet-20 training step takes ~500 ms per batch of 128 on a 2-core CPU, so loading has to
stay far below that; the line printed says how far.
"""

from __future__ import annotations

import argparse
import time

import minires as mr
from minires.data import CIFAR10, DataLoader, transforms

RESNET20_STEP_MS = 500  # a ResNet-20 training step, batch 128, 2-core CPU (benchmarks/bench_train_step.py)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="./data", help="the folder that holds cifar-10-batches-py/")
parser.add_argument("--batch-size", type=int, default=128)
args = parser.parse_args()

started = time.perf_counter()
train = CIFAR10(args.data, train=True, transform=transforms.train_transform())
read_s = time.perf_counter() - started

loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True)
started = time.perf_counter()
for _images, _labels in loader:
    pass
epoch_s = time.perf_counter() - started

n, batch_ms = len(loader) * args.batch_size, 1000 * epoch_s / len(loader)
print(f"minires {mr.__version__} | CIFAR-10 train, {len(train)} images read in {read_s:.1f} s | augmented epoch: "
      f"{n / epoch_s:,.0f} img/s, {batch_ms:.2f} ms per batch of {args.batch_size} "
      f"({100 * batch_ms / RESNET20_STEP_MS:.1f}% of a ~{RESNET20_STEP_MS} ms ResNet-20 CPU step)")
