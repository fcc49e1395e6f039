"""torchvision.utils's shape in minires: make_grid and save_image, as torchvision's.

Notation: B images of C channels, H x W each; a grid of ncols = min(nrow, B) columns and
nrows = ceil(B / ncols) rows, every image framed by `padding` pixels of pad_value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..tensor import Tensor


def make_grid(tensor: Tensor | Sequence[Tensor], nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple[float, float] | None = None, scale_each: bool = False,
              pad_value: float = 0.0) -> Tensor:
    """Tile images into one image, row by row.

    tensor: (B, C, H, W), a list of B tensors (C, H, W), or one image (C, H, W) / (H, W)
    returns (C', nrows * (H + padding) + padding, ncols * (W + padding) + padding), C' = 3 if C == 1 else C
    (one-channel images are repeated to RGB, as torchvision). A single image comes back as it is
    (C', H, W), with no padding, as torchvision's does.
    normalize: shift and scale to [0, 1], from value_range (low, high) after clamping to it, or from
    the min and max (of each image when scale_each, else of the whole batch).

    >>> make_grid(Tensor(np.zeros((5, 1, 4, 4), np.float32)), nrow=2).shape
    (3, 20, 14)
    """
    if isinstance(tensor, (list, tuple)):
        if not all(isinstance(t, Tensor) for t in tensor):
            raise TypeError("make_grid: expected a Tensor or a list of Tensors")
        tensor = Tensor(np.stack([t.numpy() for t in tensor]))
    if not isinstance(tensor, Tensor):
        raise TypeError(f"make_grid: expected a Tensor or a list of Tensors, got {type(tensor).__name__}")
    x = tensor.numpy()
    if x.ndim == 2:
        x = x[None]  # (H, W) -> (1, H, W)
    if x.ndim == 3:
        x = x[None]  # (C, H, W) -> (1, C, H, W)
    if x.ndim != 4:
        raise ValueError(f"make_grid: expected (B, C, H, W), (C, H, W) or (H, W), got shape {tensor.shape}")
    if x.shape[1] == 1:
        x = np.concatenate([x, x, x], axis=1)  # gray -> RGB
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("make_grid: value_range has to be a tuple (min, max) if specified")
        x = np.stack([_normalized(img, value_range) for img in x]) if scale_each else _normalized(x, value_range)
    if x.shape[0] == 1:
        return _like(x[0], tensor)
    b, c, h, w = x.shape
    ncols = min(nrow, b)
    nrows = math.ceil(b / ncols)
    cell_h, cell_w = h + padding, w + padding  # each image and the padding above and left of it
    grid = np.full((c, nrows * cell_h + padding, ncols * cell_w + padding), pad_value, dtype=x.dtype)
    for k in range(b):
        row, col = divmod(k, ncols)
        top, left = row * cell_h + padding, col * cell_w + padding
        grid[:, top : top + h, left : left + w] = x[k]
    return _like(grid, tensor)


def _normalized(x: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """Clamp to [low, high] (default: x's min and max), then map it onto [0, 1]."""
    low, high = value_range if value_range is not None else (float(x.min()), float(x.max()))
    x = np.clip(x, x.dtype.type(low), x.dtype.type(high))
    return (x - x.dtype.type(low)) / x.dtype.type(max(high - low, 1e-5))


def _like(array: np.ndarray, like: Tensor) -> Tensor:
    out = Tensor(np.ascontiguousarray(array))
    return out if like.device == "cpu" else out.to(like.device)


def save_image(tensor: Tensor | Sequence[Tensor], fp: Any, format: str | None = None, **kwargs: Any) -> None:
    """make_grid(tensor, **kwargs), then write it with PIL: values in [0, 1] -> uint8 (x * 255 + 0.5, clamped).

    fp: a file name or a file object; format: PIL's ("PNG", ...), else taken from fp's extension.
    An existing file is overwritten, as torchvision's save_image does.
    """
    grid = make_grid(tensor, **kwargs).numpy()
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8)  # torchvision: mul(255).add_(0.5).clamp_(0, 255)
    pixels = pixels.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(fp, format=format)
