"""torchvision.transforms's shape in minires: per-image transforms for Dataset.__getitem__.

An image is a PIL Image, or a Tensor (C, H, W) (any leading dims: (..., H, W)), as in torchvision:

    train = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(), Normalize(mean, std)])
    x = train(pil_image)          # PIL (32x32 RGB) -> Tensor (3, 32, 32) float32

Each result equals torchvision's for the same input and the same random draws. The draws differ:
torchvision draws from torch's global generator, minires from its own (minires/random.py), so
`minires.manual_seed(s)` makes every random transform here repeatable, but the crops it picks are
not the crops torch.manual_seed(s) picks. Tensors are handled with numpy on the CPU (a CUDA tensor
comes back on CUDA). Anything torchvision does that is not here raises NotImplementedError.

The functional forms (to_tensor, normalize, pad, crop, hflip, resize, center_crop, resized_crop,
to_pil_image) are importable as `minires.vision.transforms.functional`, like torchvision's.

Notation: C channels, H x W the image, (top, left) a crop's corner, (h, w) its size.
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from .. import random as _random
from ..tensor import Tensor


class InterpolationMode(Enum):
    """torchvision's names for the resampling filters (Resize, RandomResizedCrop)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


# PIL's filter for each mode (torchvision's pil_modes_mapping); PIL images always antialias.
_PIL_FILTER = {
    InterpolationMode.NEAREST: Image.Resampling.NEAREST, InterpolationMode.NEAREST_EXACT: Image.Resampling.NEAREST,
    InterpolationMode.BILINEAR: Image.Resampling.BILINEAR, InterpolationMode.BICUBIC: Image.Resampling.BICUBIC,
    InterpolationMode.BOX: Image.Resampling.BOX, InterpolationMode.HAMMING: Image.Resampling.HAMMING,
    InterpolationMode.LANCZOS: Image.Resampling.LANCZOS,
}
_FROM_PIL_INT = {int(f): m for m, f in reversed(_PIL_FILTER.items())}  # torchvision still accepts PIL's ints


# ---------------------------------------------------------------------- helpers


def _is_pil(img: Any) -> bool:
    return isinstance(img, Image.Image)


def _check_image(name: str, img: Any) -> None:
    if _is_pil(img):
        return
    if not isinstance(img, Tensor):
        raise TypeError(f"{name}: img should be a PIL Image or a Tensor (C, H, W), got {type(img).__name__}")
    if img.ndim < 2:
        raise ValueError(f"{name}: a tensor image needs at least 2 dims (..., H, W), got shape {img.shape}")


def _hw(img: Any) -> tuple[int, int]:
    """(H, W) of a PIL image or a tensor (..., H, W)."""
    return (img.height, img.width) if _is_pil(img) else img.shape[-2:]


def _like(array: np.ndarray, like: Tensor) -> Tensor:
    """array as a Tensor on like's device."""
    out = Tensor(np.ascontiguousarray(array))
    return out if like.device == "cpu" else out.to(like.device)


def _pair(name: str, size: int | Sequence[int]) -> tuple[int, int]:
    """torchvision's size argument: int s -> (s, s); [s] -> (s, s); [h, w] -> (h, w)."""
    if isinstance(size, int):
        return size, size
    if isinstance(size, Sequence) and len(size) in (1, 2):
        return (size[0], size[0]) if len(size) == 1 else (size[0], size[1])
    raise ValueError(f"{name}: size should be an int or a sequence of 1 or 2 ints, got {size!r}")


def _ltrb(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """torchvision's padding: p (all sides), [lr, tb], or [left, top, right, bottom]."""
    p = [padding] if isinstance(padding, int) else list(padding)
    if len(p) not in (1, 2, 4) or not all(isinstance(v, int) for v in p):
        raise ValueError(f"pad: padding should be an int or a sequence of 1, 2 or 4 ints, got {padding!r}")
    if any(v < 0 for v in p):
        raise NotImplementedError(f"pad: negative padding (which crops) is not supported, got {padding!r}")
    if len(p) == 1:
        return p[0], p[0], p[0], p[0]
    return (p[0], p[1], p[0], p[1]) if len(p) == 2 else (p[0], p[1], p[2], p[3])


def _interpolation(name: str, interpolation: Any) -> InterpolationMode:
    if isinstance(interpolation, int) and interpolation in _FROM_PIL_INT:
        return _FROM_PIL_INT[interpolation]
    if isinstance(interpolation, InterpolationMode):
        return interpolation
    raise NotImplementedError(f"{name}: interpolation {interpolation!r} is not supported; use an InterpolationMode")


# ---------------------------------------------------------------------- functional forms


def to_tensor(pic: Any) -> Tensor:
    """PIL Image or ndarray (H, W, C) / (H, W) -> Tensor (C, H, W), as torchvision's to_tensor.

    uint8 (and PIL modes L, RGB, RGBA, P, 1, ...) become float32 / 255, in [0, 1]; other dtypes keep
    their dtype and values (a float64 ndarray stays float64; PIL "I" -> int32, "I;16" -> int16, "F" -> float32).

    >>> to_tensor(np.full((2, 3, 1), 255, np.uint8)).shape, to_tensor(np.zeros((2, 3), np.uint8)).dtype
    ((1, 2, 3), dtype('float32'))
    """
    if _is_pil(pic):
        dtype = {"I": np.int32, "I;16": np.int16, "F": np.float32}.get(pic.mode, np.uint8)
        array = np.array(pic, dtype=dtype)
        if pic.mode == "1":
            array = array * np.uint8(255)  # mode "1" reads as 0/1
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"to_tensor: pic should be 2 or 3 dimensional (H, W[, C]), got shape {pic.shape}")
        array = pic
    else:
        raise TypeError(f"to_tensor: pic should be a PIL Image or an ndarray, got {type(pic).__name__}")
    if array.ndim == 2:
        array = array[:, :, None]  # (H, W) -> (H, W, 1)
    chw = np.ascontiguousarray(array.transpose(2, 0, 1))  # (H, W, C) -> (C, H, W)
    return Tensor(chw.astype(np.float32) / np.float32(255) if chw.dtype == np.uint8 else chw)


def normalize(tensor: Tensor, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> Tensor:
    """(tensor - mean[c]) / std[c] for each channel c.   tensor: float (..., C, H, W) -> same shape.

    >>> normalize(Tensor(np.ones((2, 1, 1), np.float32)), [0.5, 0.0], [0.5, 2.0]).numpy().ravel().tolist()
    [1.0, 0.5]
    """
    if not isinstance(tensor, Tensor) or tensor.dtype.kind != "f":
        raise TypeError(f"normalize: expected a floating-point Tensor, got {getattr(tensor, 'dtype', type(tensor))}")
    if tensor.ndim < 3:
        raise ValueError(f"normalize: expected a tensor image of shape (..., C, H, W), got shape {tensor.shape}")
    mean_c = np.asarray(mean, dtype=tensor.dtype).reshape(-1, 1, 1)  # (C, 1, 1), broadcast over H, W
    std_c = np.asarray(std, dtype=tensor.dtype).reshape(-1, 1, 1)
    if (std_c == 0).any():
        raise ValueError(f"normalize: std evaluated to zero after conversion to {tensor.dtype}: {std!r}")
    x = tensor.numpy()
    if inplace:
        return tensor.copy_(_like((x - mean_c) / std_c, tensor))  # writes into tensor, as torchvision's sub_/div_
    return _like((x - mean_c) / std_c, tensor)


def pad(img: Any, padding: int | Sequence[int], fill: Any = 0, padding_mode: str = "constant") -> Any:
    """Pad every side: PIL (H, W) -> (H + top + bottom, W + left + right); tensor (..., H, W) likewise.

    padding: p, [left/right, top/bottom] or [left, top, right, bottom].   padding_mode:
    constant (fill; a tuple per channel for PIL), edge (repeat the border), reflect (mirror, border
    not repeated: 2 1 | 1 2 3 | 3 2), symmetric (mirror, border repeated: 2 1 | 1 2 3 | 3 2 ... as numpy.pad).
    """
    _check_image("pad", img)
    left, top, right, bottom = _ltrb(padding)
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError(f"pad: padding_mode should be constant, edge, reflect or symmetric, got {padding_mode!r}")
    if _is_pil(img):
        if padding_mode == "constant":
            bands = len(img.getbands())
            if isinstance(fill, (int, float)) or len(fill) == 1:  # one number for every band, as torchvision
                fill = fill if bands == 1 else (fill if isinstance(fill, (int, float)) else fill[0],) * bands
            elif len(fill) != bands:
                raise ValueError(f"pad: fill has {len(fill)} values for an image of {bands} bands")
            return ImageOps.expand(img, border=(left, top, right, bottom), fill=fill)
        array = np.asarray(img)
        widths = [(top, bottom), (left, right)] + [(0, 0)] * (array.ndim - 2)  # (H, W[, C])
        out = Image.fromarray(np.pad(array, widths, mode=padding_mode))
        if img.mode == "P":
            out.putpalette(img.getpalette())
        return out
    if padding_mode == "constant" and not isinstance(fill, (int, float)):
        raise TypeError(f"pad: a tensor image takes a number as fill, got {fill!r}")
    widths = [(0, 0)] * (img.ndim - 2) + [(top, bottom), (left, right)]  # (..., H, W)
    kwargs = {"constant_values": fill} if padding_mode == "constant" else {}
    return _like(np.pad(img.numpy(), widths, mode=padding_mode, **kwargs), img)


def crop(img: Any, top: int, left: int, height: int, width: int) -> Any:
    """The (height, width) window whose corner is (top, left); parts outside the image are 0, as torchvision."""
    _check_image("crop", img)
    if _is_pil(img):
        return img.crop((left, top, left + width, top + height))
    h, w = _hw(img)
    if top < 0 or left < 0 or top + height > h or left + width > w:  # pad with zeros to reach the window
        padded = pad(img, [max(-left, 0), max(-top, 0), max(left + width - w, 0), max(top + height - h, 0)])
        return crop(padded, max(top, 0), max(left, 0), height, width)
    return _like(img.numpy()[..., top : top + height, left : left + width], img)


def hflip(img: Any) -> Any:
    """Mirror left <-> right.   (..., H, W) -> (..., H, W)"""
    _check_image("hflip", img)
    if _is_pil(img):
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _like(img.numpy()[..., ::-1], img)


def _resized_hw(h: int, w: int, size: int | Sequence[int], max_size: int | None) -> tuple[int, int]:
    """torchvision's output size: [h, w] as given, or an int s for the shorter edge (the other keeps the ratio)."""
    if not isinstance(size, int) and len(size) == 2:
        return size[0], size[1]
    short, long = (w, h) if w <= h else (h, w)
    new_short = size if isinstance(size, int) else size[0]
    new_long = int(new_short * long / short)
    if max_size is not None:
        if max_size <= new_short:
            raise ValueError(f"resize: max_size={max_size} must be larger than the requested size {size}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


def resize(img: Any, size: int | Sequence[int], interpolation: Any = InterpolationMode.BILINEAR,
           max_size: int | None = None, antialias: bool | None = True) -> Any:
    """Resample to size: [h, w], or an int for the shorter edge.   (..., H, W) -> (..., h, w)

    PIL images go through PIL's resize, as torchvision's do (PIL always antialiases, so antialias is
    ignored for them, as in torchvision). Float tensors support bilinear with antialias only: that is
    the filter torch's interpolate shares with PIL, so minires runs PIL's on each channel (mode "F").
    """
    _check_image("resize", img)
    mode = _interpolation("resize", interpolation)
    h, w = _hw(img)
    out_h, out_w = _resized_hw(h, w, size, max_size)
    if (out_h, out_w) == (h, w):
        return img  # torchvision returns the input itself
    if _is_pil(img):
        return img.resize((out_w, out_h), _PIL_FILTER[mode])
    if mode != InterpolationMode.BILINEAR or not antialias or img.dtype.kind != "f":
        raise NotImplementedError(f"resize: a tensor image supports bilinear with antialias=True on float tensors only, "
                                  f"got {mode.name}, antialias={antialias}, dtype {img.dtype}; resize the PIL image")
    planes = img.numpy().reshape(-1, h, w).astype(np.float32)  # (..., H, W) -> (P, H, W)
    out = [np.asarray(Image.fromarray(p, mode="F").resize((out_w, out_h), Image.Resampling.BILINEAR)) for p in planes]
    return _like(np.stack(out).reshape(*img.shape[:-2], out_h, out_w).astype(img.dtype), img)


def center_crop(img: Any, output_size: int | Sequence[int]) -> Any:
    """The (h, w) window in the middle; an image smaller than it is zero-padded first, as torchvision."""
    _check_image("center_crop", img)
    crop_h, crop_w = _pair("center_crop", output_size)
    h, w = _hw(img)
    if crop_h > h or crop_w > w:
        pad_w, pad_h = max(crop_w - w, 0), max(crop_h - h, 0)
        img = pad(img, [pad_w // 2, pad_h // 2, (pad_w + 1) // 2, (pad_h + 1) // 2])
        h, w = _hw(img)
    top, left = round((h - crop_h) / 2.0), round((w - crop_w) / 2.0)  # Python's round, as torchvision
    return crop(img, top, left, crop_h, crop_w)


def resized_crop(img: Any, top: int, left: int, height: int, width: int, size: int | Sequence[int],
                 interpolation: Any = InterpolationMode.BILINEAR, antialias: bool | None = True) -> Any:
    """crop, then resize to size."""
    return resize(crop(img, top, left, height, width), size, interpolation, antialias=antialias)


def to_pil_image(pic: Any, mode: str | None = None) -> Image.Image:
    """Tensor (C, H, W) / (H, W) or ndarray (H, W, C) / (H, W) -> PIL Image, as torchvision's to_pil_image.

    A float tensor becomes uint8 as torchvision's pic.mul(255).byte() (truncation, not rounding).
    Mode by channels: 1 -> L (uint8), I;16 (int16), I (int32), F (float32); 2 -> LA; 3 -> RGB; 4 -> RGBA.
    """
    if isinstance(pic, Tensor):
        if pic.ndim not in (2, 3):
            raise ValueError(f"to_pil_image: pic should be 2 or 3 dimensional (C, H, W), got shape {pic.shape}")
        array = pic.numpy() if pic.ndim == 3 else pic.numpy()[None]
        if array.dtype.kind == "f" and mode != "F":
            array = (array * array.dtype.type(255)).astype(np.uint8)  # torchvision: pic.mul(255).byte()
        array = array.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"to_pil_image: pic should be 2 or 3 dimensional (H, W, C), got shape {pic.shape}")
        array = pic if pic.ndim == 3 else pic[:, :, None]
    else:
        raise TypeError(f"to_pil_image: pic should be a Tensor or an ndarray, got {type(pic).__name__}")
    channels = array.shape[2]
    if channels > 4:
        raise ValueError(f"to_pil_image: pic should not have more than 4 channels, got {channels}")
    if channels == 1:  # the mode follows the dtype
        array = array[:, :, 0]
        allowed = [{np.uint8: "L", np.int16: "I;16", np.int32: "I", np.float32: "F"}.get(array.dtype.type)]
    else:  # uint8 only; the first mode is the default
        allowed = {2: ["LA"], 3: ["RGB", "YCbCr", "HSV"], 4: ["RGBA", "CMYK", "RGBX"]}[channels]
        allowed = allowed if array.dtype == np.uint8 else [None]
    if allowed[0] is None:
        raise TypeError(f"to_pil_image: input type {array.dtype} with {channels} channel(s) is not supported")
    if mode is not None and mode not in allowed:
        raise ValueError(f"to_pil_image: mode {mode!r} does not fit {channels} channel(s) of {array.dtype}: use {allowed}")
    h, w = array.shape[:2]
    return Image.frombytes(mode or allowed[0], (w, h), np.ascontiguousarray(array).tobytes())


# ---------------------------------------------------------------------- transforms


class Compose:
    """Apply transforms in order.   img -> transforms[-1](... transforms[0](img))"""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        return "Compose(\n" + "".join(f"    {t}\n" for t in self.transforms) + ")"


class ToTensor:
    """PIL Image or ndarray (H, W, C) uint8 -> Tensor (C, H, W) float32 in [0, 1].   See to_tensor."""

    def __call__(self, pic: Any) -> Tensor:
        return to_tensor(pic)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """(x - mean[c]) / std[c] per channel.   Tensor float (..., C, H, W) -> same shape.   See normalize."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False):
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, tensor: Tensor) -> Tensor:
        return normalize(tensor, self.mean, self.std, self.inplace)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class RandomCrop:
    """Pad (optional), then cut a random (h, w) window.   (..., H, W) -> (..., h, w)

    padding, fill, padding_mode: as pad(). pad_if_needed pads an image smaller than size up to it.
    The corner is uniform: top in [0, H' - h], left in [0, W' - w] of the padded H' x W'.
    """

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, fill: Any = 0, padding_mode: str = "constant"):
        self.size = _pair("RandomCrop", size)
        self.padding, self.pad_if_needed, self.fill, self.padding_mode = padding, pad_if_needed, fill, padding_mode

    @staticmethod
    def get_params(img: Any, output_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """(top, left, h, w) of a random crop, drawn from minires's global generator."""
        h, w = _hw(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than the input image size {(h, w)}")
        if (h, w) == (th, tw):
            return 0, 0, h, w
        rng = _random.default_generator()
        return int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1)), th, tw

    def __call__(self, img: Any) -> Any:
        if self.padding is not None:
            img = pad(img, self.padding, self.fill, self.padding_mode)
        h, w = _hw(img)
        if self.pad_if_needed and w < self.size[1]:
            img = pad(img, [self.size[1] - w, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and h < self.size[0]:
            img = pad(img, [0, self.size[0] - h], self.fill, self.padding_mode)
        return crop(img, *self.get_params(img, self.size))

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror left <-> right with probability p.   (..., H, W) -> (..., H, W)"""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, img: Any) -> Any:
        return hflip(img) if _random.default_generator().random() < self.p else img

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Resize:
    """Resample to size ([h, w], or an int for the shorter edge).   See resize."""

    def __init__(self, size: int | Sequence[int], interpolation: Any = InterpolationMode.BILINEAR,
                 max_size: int | None = None, antialias: bool | None = True):
        self.size, self.max_size, self.antialias = size, max_size, antialias
        self.interpolation = _interpolation("Resize", interpolation)

    def __call__(self, img: Any) -> Any:
        return resize(img, self.size, self.interpolation, self.max_size, self.antialias)

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, interpolation={self.interpolation.value})"


class CenterCrop:
    """The (h, w) window in the middle.   (..., H, W) -> (..., h, w)   See center_crop."""

    def __init__(self, size: int | Sequence[int]):
        self.size = _pair("CenterCrop", size)

    def __call__(self, img: Any) -> Any:
        return center_crop(img, self.size)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class RandomResizedCrop:
    """Crop a random area (a fraction in scale) of random aspect ratio (w/h in ratio), resize to size.

    (..., H, W) -> (..., size[0], size[1]).   get_params is torchvision's: 10 tries to fit the
    window in the image, then a center crop with the ratio clamped into range.
    """

    def __init__(self, size: int | Sequence[int], scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
                 interpolation: Any = InterpolationMode.BILINEAR, antialias: bool | None = True):
        self.size, self.scale, self.ratio, self.antialias = _pair("RandomResizedCrop", size), scale, ratio, antialias
        self.interpolation = _interpolation("RandomResizedCrop", interpolation)

    @staticmethod
    def get_params(img: Any, scale: Sequence[float], ratio: Sequence[float]) -> tuple[int, int, int, int]:
        """(top, left, h, w), drawn from minires's global generator."""
        height, width = _hw(img)
        area, rng = height * width, _random.default_generator()
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * rng.uniform(scale[0], scale[1])
            aspect_ratio = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
            w = round(math.sqrt(target_area * aspect_ratio))
            h = round(math.sqrt(target_area / aspect_ratio))
            if 0 < w <= width and 0 < h <= height:
                return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
        in_ratio = width / height  # fallback: the whole image, cut to the nearest allowed ratio, centered
        if in_ratio < min(ratio):
            w, h = width, round(width / min(ratio))
        elif in_ratio > max(ratio):
            w, h = round(height * max(ratio)), height
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img: Any) -> Any:
        top, left, h, w = self.get_params(img, self.scale, self.ratio)
        return resized_crop(img, top, left, h, w, list(self.size), self.interpolation, self.antialias)

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


class Lambda:
    """Apply a user function: Lambda(lambda x: x * 2)."""

    def __init__(self, lambd: Callable):
        if not callable(lambd):
            raise TypeError(f"Lambda: argument should be callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return "Lambda()"


class ToPILImage:
    """Tensor (C, H, W) or ndarray (H, W, C) -> PIL Image.   See to_pil_image."""

    def __init__(self, mode: str | None = None):
        self.mode = mode

    def __call__(self, pic: Any) -> Image.Image:
        return to_pil_image(pic, self.mode)

    def __repr__(self) -> str:
        return f"ToPILImage(mode={self.mode})"


# `import minires.vision.transforms.functional as F` works as torchvision's does: a module of the forms above.
functional = types.ModuleType(__name__ + ".functional", "The functional forms of minires.vision.transforms.")
for _name in ("InterpolationMode", "to_tensor", "normalize", "pad", "crop", "hflip", "resize", "center_crop",
              "resized_crop", "to_pil_image"):
    setattr(functional, _name, globals()[_name])
sys.modules[functional.__name__] = functional
del _name

__all__ = ["CenterCrop", "Compose", "InterpolationMode", "Lambda", "Normalize", "RandomCrop", "RandomHorizontalFlip",
           "RandomResizedCrop", "Resize", "ToPILImage", "ToTensor", "functional"]
