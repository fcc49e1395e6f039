"""How much worker processes help minires.utils.data.DataLoader when every image goes through a
Python-level transform: images per second for num_workers 0, 1 and 2 on a synthetic dataset.

    python benchmarks/bench_utils_data.py                 # 8192 images, batch 128
    python benchmarks/bench_utils_data.py --images 20000 --workers 0 2 4

The transform works on one image at a time, as a torchvision-style pipeline does: pad 4, random
32x32 crop, random flip, to float, random rotation, colour jitter, normalise (~0.1 ms per image
on one core). No real data
is needed. With 0 workers the loop that asks for batches does all of it; with k workers it runs in
k other processes. On a machine with few cores, 1 worker mostly moves the work off the training
process; more workers than free cores cannot help.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import minires as mr
from minires.utils.data import DataLoader, Dataset

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)[:, None, None]
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)[:, None, None]


class SyntheticImages(Dataset):
    """n random uint8 images (3, 32, 32) with labels, augmented one at a time in Python."""

    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        self.labels = rng.integers(0, 10, size=n)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = np.pad(self.images[i], ((0, 0), (4, 4), (4, 4)))  # (3, 40, 40)
        top, left = np.random.randint(0, 9, size=2)  # np.random: seeded per worker by the DataLoader
        image = image[:, top:top + 32, left:left + 32]
        if np.random.rand() < 0.5:
            image = image[:, :, ::-1]
        image = image.astype(np.float32) / 255.0
        image = rotate(image, np.random.uniform(-15, 15))
        image = color_jitter(image, *np.random.uniform(0.8, 1.2, size=3))
        return (image - MEAN) / STD, int(self.labels[i])


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate (C, H, W) about its centre, nearest neighbour, zeros outside (torchvision's RandomRotation)."""
    _, h, w = image.shape
    theta = np.deg2rad(degrees)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    src_y = np.rint(cy + (ys - cy) * np.cos(theta) - (xs - cx) * np.sin(theta)).astype(np.int64)
    src_x = np.rint(cx + (ys - cy) * np.sin(theta) + (xs - cx) * np.cos(theta)).astype(np.int64)
    inside = (src_y >= 0) & (src_y < h) & (src_x >= 0) & (src_x < w)
    out = np.zeros_like(image)
    out[:, inside] = image[:, src_y[inside], src_x[inside]]
    return out


def color_jitter(image: np.ndarray, brightness: float, contrast: float, saturation: float) -> np.ndarray:
    """Scale brightness, contrast (about the mean grey) and saturation (about each pixel's grey), in [0, 1]."""
    image = image * brightness
    grey = 0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2]  # (H, W)
    image = (image - grey.mean()) * contrast + grey.mean()
    image = (image - grey) * saturation + grey
    return np.clip(image, 0.0, 1.0)


def images_per_second(dataset: Dataset, batch_size: int, num_workers: int) -> float:
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers, drop_last=True)
    started = time.perf_counter()
    n = sum(len(labels) for _images, labels in loader)  # worker start-up is part of the epoch, as in training
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    dataset = SyntheticImages(args.images)
    images_per_second(dataset, args.batch_size, 0)  # warm-up
    rates = {k: images_per_second(dataset, args.batch_size, k) for k in args.workers}
    base = rates.get(0)
    print(f"minires {mr.__version__} | utils.data.DataLoader, {args.images} synthetic images, per-image Python "
          f"transform, batch {args.batch_size}, {os.cpu_count()} cores")
    for k, rate in rates.items():
        ratio = f" ({rate / base:.2f}x num_workers=0)" if base else ""
        print(f"  num_workers={k}: {rate:,.0f} img/s{ratio}")


if __name__ == "__main__":  # spawn-started workers import this file: they must not rerun the benchmark
    main()
