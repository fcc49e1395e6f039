"""Batch transforms: augmentation and normalisation applied to a whole batch at once.

A transform is a callable

    t(images, rng) -> images      images: (B, C, H, W) array      rng: np.random.Generator

Every random choice is drawn from rng (the DataLoader passes one per epoch, so a run is
repeatable), and each transform works on the whole batch with array operations, never
image by image: that keeps loading far cheaper than a training step.

    train = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ToFloat(), Normalize(MEAN, STD)])

The random crop and the flip run on uint8 (a quarter of the bytes of float32); ToFloat and
Normalize come last, like torchvision's ToTensor and Normalize.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # per-channel mean of the training images, in [0, 1]
CIFAR10_STD = (0.2470, 0.2435, 0.2616)  # and their standard deviation

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _check_batch(name: str, images: np.ndarray) -> None:
    if not isinstance(images, np.ndarray) or images.ndim != 4:
        got = f"shape {images.shape}" if isinstance(images, np.ndarray) else f"a {type(images).__name__}"
        raise ValueError(f"{name}: images must be a numpy array (B, C, H, W), got {got}")


class Compose:
    """Apply transforms in order, all drawing from the same rng.   images -> images"""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for t in self.transforms:
            images = t(images, rng)
        return images

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(map(repr, self.transforms)) + "])"


class RandomCrop:
    """Pad every side with `padding` zeros, then cut a random size x size window from each image.

    images: (B, C, H, W), any dtype (uint8 stays uint8)   ->   (B, C, size, size)
    Each image gets its own offset (top, left), drawn by offsets(): top in [0, H + 2*padding - size].
    """

    def __init__(self, size: int = 32, padding: int = 4):
        if size < 1 or padding < 0:
            raise ValueError(f"RandomCrop: size must be >= 1 and padding >= 0, got size={size}, padding={padding}")
        self.size, self.padding = size, padding

    def offsets(self, batch: int, height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(top, left), each int (batch,): where each crop starts in the padded image."""
        top = rng.integers(0, height + 2 * self.padding - self.size + 1, size=batch)
        left = rng.integers(0, width + 2 * self.padding - self.size + 1, size=batch)
        return top, left

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_batch("RandomCrop", images)
        b, c, h, w = images.shape
        p, s = self.padding, self.size
        if s > h + 2 * p or s > w + 2 * p:
            raise ValueError(f"RandomCrop: size={s} must fit the padded images ({h + 2 * p}x{w + 2 * p}), "
                             f"got images {h}x{w} with padding={p}")
        padded = np.zeros((b, c, h + 2 * p, w + 2 * p), dtype=images.dtype)
        padded[:, :, p : p + h, p : p + w] = images
        top, left = self.offsets(b, h, w, rng)
        # windows[i, c, y, x] is the s x s window whose corner is (y, x): every possible crop, as a view
        windows = sliding_window_view(padded, (s, s), axis=(2, 3))  # (B, C, H+2p-s+1, W+2p-s+1, s, s)
        return windows[np.arange(b), :, top, left]  # one window per image -> (B, C, s, s), a copy

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror a random subset of the images left to right, each with probability p.

    images: (B, C, H, W), any dtype   ->   the same shape and dtype; chosen(): which were flipped
    """

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def chosen(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """bool (batch,): True for the images to flip."""
        return rng.random(batch) < self.p

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_batch("RandomHorizontalFlip", images)
        flip = self.chosen(len(images), rng)
        return np.where(flip[:, None, None, None], images[:, :, :, ::-1], images)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class ToFloat:
    """uint8 in [0, 255] -> float32 in [0, 1], dividing by 255 (torchvision's ToTensor, for a batch).

    images: uint8 (B, C, H, W)   ->   float32 (B, C, H, W)
    """

    def __call__(self, images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        if images.dtype != np.uint8:
            raise TypeError(f"ToFloat: images must be uint8 in [0, 255], got dtype {images.dtype}")
        return np.divide(images, np.float32(255), dtype=np.float32)

    def __repr__(self) -> str:
        return "ToFloat()"


class Normalize:
    """(x - mean[c]) / std[c] for each channel c.

    images: float (B, C, H, W), e.g. from ToFloat   ->   the same shape and dtype
    mean, std: C numbers each
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        if len(mean) != len(std) or min(std) <= 0:
            raise ValueError(f"Normalize: mean and std must have one entry per channel, std > 0, "
                             f"got mean={tuple(mean)}, std={tuple(std)}")
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)

    def __call__(self, images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check_batch("Normalize", images)
        if images.dtype.kind != "f":
            raise TypeError(f"Normalize: images must be float (put ToFloat() first), got dtype {images.dtype}")
        if images.shape[1] != len(self.mean):
            raise ValueError(f"Normalize: images must have {len(self.mean)} channels (one per mean), "
                             f"got shape {images.shape}")
        mean = np.array(self.mean, dtype=images.dtype).reshape(1, -1, 1, 1)  # broadcasts over B, H, W
        std = np.array(self.std, dtype=images.dtype).reshape(1, -1, 1, 1)
        out = images - mean  # a new array, so the division below may work in place
        out /= std
        return out

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


def train_transform() -> Compose:
    """The standard CIFAR-10 training pipeline: pad-4 random crop, flip, to float, normalise.

    uint8 (B, 3, 32, 32) -> float32 (B, 3, 32, 32)
    """
    return Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ToFloat(), Normalize(CIFAR10_MEAN, CIFAR10_STD)])


def test_transform() -> Compose:
    """The CIFAR-10 evaluation pipeline: to float and normalise, nothing random.

    uint8 (B, 3, 32, 32) -> float32 (B, 3, 32, 32)
    """
    return Compose([ToFloat(), Normalize(CIFAR10_MEAN, CIFAR10_STD)])


test_transform.__test__ = False  # a pipeline for the test set, not a test: tell pytest not to collect it
eval_transform = test_transform  # the same pipeline under the name examples/ use
