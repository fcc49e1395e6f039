"""Batch transforms for images: each works on a whole uint8 or float batch at once.

A transform is a callable  t(images, rng) -> images  with images: (B, C, H, W) and rng a
numpy Generator (the DataLoader passes one per epoch, so a run is repeatable). Working
on the batch instead of image by image keeps loading far below a training step's cost.

    train = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ToFloat(), Normalize(MEAN, STD)])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class Compose:
    """Apply transforms one after another."""

    def __init__(self, transforms: Sequence):
        self.transforms = list(transforms)

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for t in self.transforms:
            images = t(images, rng)
        return images

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(map(repr, self.transforms)) + "])"


class RandomCrop:
    """Pad each image with `padding` zeros on every side, then cut a random size x size
    window out of it (its own offset per image).   (B, C, H, W) -> (B, C, size, size)"""

    def __init__(self, size: int = 32, padding: int = 4):
        self.size, self.padding = size, padding

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        b, c, h, w = images.shape
        p, s = self.padding, self.size
        if s > h + 2 * p or s > w + 2 * p:
            raise ValueError(f"RandomCrop: size {s} does not fit images {h}x{w} padded by {p}")
        padded = np.pad(images, ((0, 0), (0, 0), (p, p), (p, p)))
        top = rng.integers(0, h + 2 * p - s + 1, size=b)
        left = rng.integers(0, w + 2 * p - s + 1, size=b)
        # one gather for the whole batch: rows[i] = top[i] + 0..s-1, cols likewise
        rows = (top[:, None] + np.arange(s))[:, None, :, None]  # (B, 1, s, 1)
        cols = (left[:, None] + np.arange(s))[:, None, None, :]  # (B, 1, 1, s)
        return padded[np.arange(b)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability p.   (B, C, H, W) -> same"""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        flip = rng.random(len(images)) < self.p
        out = images.copy()
        out[flip] = images[flip, :, :, ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class ToFloat:
    """uint8 in [0, 255] -> float32 in [0, 1] (torchvision's ToTensor, for a batch)."""

    def __call__(self, images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return images.astype(np.float32) / np.float32(255)

    def __repr__(self) -> str:
        return "ToFloat()"


class Normalize:
    """(x - mean[c]) / std[c] per channel.   float (B, C, H, W) -> float32, same shape"""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)

    def __call__(self, images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        if images.dtype.kind != "f":
            raise TypeError(f"Normalize: needs float images (put ToFloat() first), got dtype {images.dtype}")
        if images.shape[1] != self.mean.shape[1]:
            raise ValueError(f"Normalize: {self.mean.shape[1]} channel means for images of shape {images.shape}")
        return ((images - self.mean) / self.std).astype(np.float32)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


def train_transform() -> Compose:
    """The standard CIFAR-10 training augmentation: pad-4 random crop, flip, normalise."""
    return Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ToFloat(), Normalize(CIFAR10_MEAN, CIFAR10_STD)])


def eval_transform() -> Compose:
    """Evaluation: only the conversion and normalisation."""
    return Compose([ToFloat(), Normalize(CIFAR10_MEAN, CIFAR10_STD)])
