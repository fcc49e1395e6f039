"""weights=: a local file, or one of torchvision's published ImageNet files by name.

    resnet18(weights="/path/to/resnet18-f37072fd.pth")   minires.load, then load_state_dict(strict=True)
    resnet18(weights="IMAGENET1K_V1")                     torchvision's file, downloaded once into the cache
    resnet18(weights=ResNet18_Weights.DEFAULT)            the same, spelled as torchvision >= 0.13 does

The cache is torch.hub's, so a file torchvision already downloaded is reused and one
downloaded here serves torchvision too: $TORCH_HOME/hub/checkpoints, else
$XDG_CACHE_HOME/torch/hub/checkpoints, else ~/.cache/torch/hub/checkpoints.

The hash check is torch.hub's check_hash: the name of each published file carries the
first hex digits of its sha256 (resnet18-f37072fd.pth: sha256 starts f37072fd). A
download is hashed while it is written to a temporary file and renamed into the cache
only when the digest matches; a file already in the cache is hashed before it is used,
and one that does not match is refused, not replaced (minires overwrites nothing it was
not asked to).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from enum import Enum
from pathlib import Path
from typing import Any

from ...checkpoint import write_atomically
from ...nn.module import Module
from ...serialization import load

_URL = "https://download.pytorch.org/models/"

# architecture -> {weight name: torchvision's published file}; DEFAULT is the last one listed
WEIGHT_FILES: dict[str, dict[str, str]] = {
    "resnet18": {"IMAGENET1K_V1": "resnet18-f37072fd.pth"},
    "resnet34": {"IMAGENET1K_V1": "resnet34-b627a593.pth"},
    "resnet50": {"IMAGENET1K_V1": "resnet50-0676ba61.pth", "IMAGENET1K_V2": "resnet50-11ad3fa6.pth"},
    "resnet101": {"IMAGENET1K_V1": "resnet101-63fe2227.pth", "IMAGENET1K_V2": "resnet101-cd907fc2.pth"},
    "resnet152": {"IMAGENET1K_V1": "resnet152-394f9c45.pth", "IMAGENET1K_V2": "resnet152-f82ba261.pth"},
    "resnext50_32x4d": {"IMAGENET1K_V1": "resnext50_32x4d-7cdf4587.pth",
                        "IMAGENET1K_V2": "resnext50_32x4d-1a0047aa.pth"},
    "densenet121": {"IMAGENET1K_V1": "densenet121-a639ec97.pth"},
    "densenet161": {"IMAGENET1K_V1": "densenet161-8d451a50.pth"},
    "densenet169": {"IMAGENET1K_V1": "densenet169-b2777c0a.pth"},
    "densenet201": {"IMAGENET1K_V1": "densenet201-c1103571.pth"},
}

HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's: the hex between '-' and the extension


class WeightsEnum(Enum):
    """torchvision's ResNet18_Weights and friends: members IMAGENET1K_V1 (..._V2) and the alias
    DEFAULT, each holding its file's URL. (torchvision's members also carry meta and transforms;
    these carry only what loading needs.)"""

    @property
    def url(self) -> str:
        return self.value

    def get_state_dict(self, progress: bool = True) -> dict[str, Any]:
        return load_state_dict_from_url(self.url, progress=progress)

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


def weights_enum(class_name: str, arch: str) -> type[WeightsEnum]:
    files = WEIGHT_FILES[arch]
    members = {name: _URL + file for name, file in files.items()}
    members["DEFAULT"] = _URL + list(files.values())[-1]  # the same URL: DEFAULT becomes an alias
    enum = WeightsEnum(class_name, members)
    enum.__module__ = "minires.vision.models"
    return enum


def hub_dir() -> Path:
    """torch.hub.get_dir()'s folder + /checkpoints, where torchvision keeps its downloads."""
    if os.environ.get("TORCH_HOME"):
        torch_home = Path(os.environ["TORCH_HOME"]).expanduser()
    else:
        torch_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "torch"
    return torch_home / "hub" / "checkpoints"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, path: Path, hash_prefix: str | None, progress: bool) -> None:
    """url -> path, through a temporary file that is renamed only when the sha256 matches."""
    def write(f) -> None:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=60) as response:
            total, done = int(response.headers.get("Content-Length") or 0), 0
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                f.write(block)
                done += len(block)
                if progress and total:
                    print(f"\rdownloading {path.name}: {100 * done // total}%", end="", file=sys.stderr, flush=True)
        if progress and total:
            print(file=sys.stderr)
        if hash_prefix and not digest.hexdigest().startswith(hash_prefix):
            raise RuntimeError(f"downloaded {url}, but its sha256 is {digest.hexdigest()}, not {hash_prefix}... "
                               f"as its name says; nothing was saved (try again, or download it yourself)")

    try:
        write_atomically(path, write)
    except OSError as e:  # urllib's URLError is an OSError; its .reason says why (no network, HTTP 404)
        reason = e if isinstance(e, urllib.error.HTTPError) else getattr(e, "reason", e)
        raise OSError(f"could not download {url} ({reason}); download it elsewhere and pass "
                      f"weights='/path/to/{path.name}', or place it in {path.parent}/") from e


def load_state_dict_from_url(url: str, model_dir: str | os.PathLike | None = None, progress: bool = True,
                             check_hash: bool = True, file_name: str | None = None) -> dict[str, Any]:
    """torch.hub.load_state_dict_from_url: the file in the cache (downloaded first if it is
    not there), hash-checked, read with minires.load."""
    folder = Path(model_dir) if model_dir is not None else hub_dir()
    path = folder / (file_name or os.path.basename(urllib.parse.urlparse(url).path))
    match = HASH_REGEX.search(path.name) if check_hash else None
    hash_prefix = match.group(1) if match else None
    if path.exists():
        if hash_prefix and not (digest := _sha256(path)).startswith(hash_prefix):
            raise RuntimeError(f"{path}: its sha256 is {digest}, but its name says it starts with {hash_prefix}: "
                               f"the file is damaged or not {url}; delete it to download a fresh copy "
                               f"(or pass weights='{path}' to load it as it is)")
    else:
        _download(url, path, hash_prefix, progress)
    return load(path)


# torchvision's DenseNet files were saved when a layer's modules were named norm.1, conv.2, ...;
# torchvision renames them on loading (densenet.py, _load_state_dict), and so does minires.
_OLD_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def _renamed(state_dict: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in state_dict.items():
        match = _OLD_DENSENET_KEY.match(key)
        out[match.group(1) + match.group(2) if match else key] = value
    return out


def resolve(arch: str, weights: Any, kwargs: dict[str, Any]) -> tuple[str | Path | None, str]:
    """What weights= (and the deprecated pretrained=) ask for: (None | a path | a URL, how to name it).
    A torchvision weight name also fixes num_classes at 1000, as torchvision does."""
    if "pretrained" in kwargs:
        pretrained = kwargs.pop("pretrained")
        if weights is not None:
            raise ValueError(f"{arch}: pass weights= or the deprecated pretrained=, not both")
        import warnings

        warnings.warn(f"{arch}: pretrained= is deprecated (as in torchvision >= 0.13); use "
                      f"weights={'IMAGENET1K_V1' if pretrained else None!r} instead", UserWarning, stacklevel=3)
        weights = "IMAGENET1K_V1" if pretrained else None
    if weights is None:
        return None, ""
    files = WEIGHT_FILES[arch]
    if isinstance(weights, WeightsEnum):
        url, label = weights.url, repr(weights)
    elif isinstance(weights, os.PathLike) or (isinstance(weights, str) and (
            os.sep in weights or "/" in weights or weights.endswith((".pth", ".pt")) or os.path.exists(weights))):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{arch}: weights={str(weights)!r}: no such file")
        return path, str(path)
    elif isinstance(weights, str):
        name = weights.rpartition(".")[2]  # "ResNet18_Weights.IMAGENET1K_V1" works too
        if name == "DEFAULT":
            name = list(files)[-1]
        if name not in files:
            raise ValueError(f"{arch}: weights={weights!r} is neither a file nor one of torchvision's weight names "
                             f"for it ({', '.join([*files, 'DEFAULT'])})")
        url, label = _URL + files[name], f"{arch} {name}"
    else:
        raise TypeError(f"{arch}: weights must be None, a file path or a weight name, got {type(weights).__name__}")
    if kwargs.get("num_classes", 1000) != 1000:
        raise ValueError(f"{arch}: {label} has 1000 classes, but num_classes={kwargs['num_classes']} was asked for; "
                         f"load them into a 1000-class model and replace its last layer")
    kwargs["num_classes"] = 1000
    return url, label


def load_weights(model: Module, source: str | Path, progress: bool) -> None:
    """Load source (a path, or a URL through the cache) into model with strict=True."""
    state_dict = load(source) if isinstance(source, Path) else load_state_dict_from_url(source, progress=progress)
    if not isinstance(state_dict, dict):
        raise TypeError(f"{source}: holds a {type(state_dict).__name__}, not a state_dict")
    model.load_state_dict(_renamed(state_dict), strict=True)
