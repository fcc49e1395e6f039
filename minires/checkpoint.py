"""Saving and loading training state as one .npz file, atomically.

    save_checkpoint("run.npz", model=model.state_dict(), optimizer=opt.state_dict(),
                    scheduler=sched.state_dict(), epoch=3, rng=mr.get_rng_state())
    state = load_checkpoint("run.npz")           # the same nested dict back
    model.load_state_dict(state["model"])

Nested dicts are flattened to "model/layer1.0.conv1.weight"-style keys; arrays (and
Tensors) are stored as arrays, every other value (numbers, strings, lists, None, the
generator's state) as JSON. The file is written next to its destination under a
temporary name and then renamed over it, so an interrupted save never destroys the
last good checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .tensor import Tensor

_JSON_KEY = "__json__"


def _flatten(tree: dict[str, Any], prefix: str, arrays: dict[str, np.ndarray], plain: dict[str, Any]) -> None:
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if "/" in str(key):
            raise ValueError(f"save_checkpoint: keys may not contain '/', got {name!r}")
        if isinstance(value, dict):
            _flatten(value, name + "/", arrays, plain)
            plain.setdefault("__dicts__", []).append(name)
        elif isinstance(value, Tensor):
            arrays[name] = value.numpy()
        elif isinstance(value, np.ndarray) or hasattr(value, "get"):  # numpy or cupy array
            arrays[name] = value.get() if hasattr(value, "get") else value
        else:
            plain[name] = value


def save_checkpoint(path: str | os.PathLike, **state: Any) -> Path:
    """Write the keyword arguments (nested dicts of arrays and plain values) to path, atomically."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    plain: dict[str, Any] = {}
    _flatten(state, "", arrays, plain)
    try:
        arrays[_JSON_KEY] = np.array(json.dumps(plain, default=_json_default))
    except TypeError as e:
        raise TypeError(f"save_checkpoint: {e}") from e
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp_name, path)  # atomic on POSIX and Windows
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The nested dict that save_checkpoint wrote (arrays as numpy arrays)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"load_checkpoint: {path} is not a readable .npz checkpoint ({e})") from e
    if _JSON_KEY not in arrays:
        raise ValueError(f"load_checkpoint: {path} has no {_JSON_KEY!r} entry; it was not written by save_checkpoint")
    plain = json.loads(str(arrays.pop(_JSON_KEY)))
    tree: dict[str, Any] = {}
    for name in plain.pop("__dicts__", []):
        _node(tree, name.split("/"))
    for name, value in [*arrays.items(), *plain.items()]:
        *parents, leaf = name.split("/")
        _node(tree, parents)[leaf] = value
    return tree


def _node(tree: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    for part in parts:
        tree = tree.setdefault(part, {})
    return tree
