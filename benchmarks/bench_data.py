"""How fast the DataLoader feeds a training run: one epoch of CIFAR-10 with the standard
augmentation (pad-4 random crop, flip, normalise) at batch 128.

    python benchmarks/bench_data.py --data ../shared/data

A ResNet-20 training step takes a few hundred ms per batch of 128 on a 2-core CPU, so
loading must stay far below that; the last line says by how much.
"""

from __future__ import annotations

import argparse
import time

import minires as mr
from minires.data import CIFAR10, DataLoader, transforms

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="./data")
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
n = len(loader) * args.batch_size
print(f"minires {mr.__version__} | CIFAR-10 train: read {len(train)} images in {read_s:.1f} s | one augmented epoch: "
      f"{n} images in {epoch_s:.1f} s = {n / epoch_s:,.0f} img/s, {1000 * epoch_s / len(loader):.1f} ms per batch "
      f"of {args.batch_size}")
