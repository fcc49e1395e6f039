"""Saving and loading training state as one file in PyTorch's format, atomically.

    save_checkpoint("run.pth", model=model.state_dict(), optimizer=opt.state_dict(),
                    scheduler=sched.state_dict(), epoch=3, rng=mr.get_rng_state())
    state = load_checkpoint("run.pth")           # the same nested dict back, arrays as numpy arrays
    model.load_state_dict(state["model"])

The file is what torch.save writes (minires.save writes it; docs/pth.md opens one up): the
keyword arguments as one dict, arrays and Tensors as tensors, everything else (numbers,
strings, lists, None, the generator's state) as plain pickled values. So
torch.load("run.pth", weights_only=True) reads it where PyTorch is installed, and
minires.load reads it as Tensors. It is written next to its destination under a temporary
name, flushed to disk and then renamed over it, so an interrupted or killed save never
destroys the last good checkpoint; the next successful save removes the temporary files
that killed saves left behind.

A state with NaN or infinite parameters or buffers (a diverged run) is refused: it would
replace the last good checkpoint with one that can never train again.

load_checkpoint also reads the .npz checkpoints older minires versions wrote (arrays in
.npy entries, everything else as JSON), whatever the file is called: the format is told
by the bytes, not by the name. Loading runs no code from the file (minires.load's
allow-list; the .npz reader reads arrays and JSON only); a file that is truncated, corrupt
or not a checkpoint raises CheckpointError naming it.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from .serialization import LoadError, _reason, _some, load, save, write_atomically
from .tensor import Tensor

__all__ = ["CheckpointError", "is_npz_checkpoint", "load_checkpoint", "save_checkpoint", "write_atomically"]

_JSON_KEY = "__json__"  # the .npz format's entry holding everything that is not an array


class CheckpointError(LoadError, ValueError):
    """A file that load_checkpoint cannot read: truncated, corrupt, or not a minires checkpoint.

    A LoadError (so a pickle.UnpicklingError and a RuntimeError, as minires.load raises) and,
    as it always was, a ValueError."""


# ---------------------------------------------------------------------------- saving
def save_checkpoint(path: str | os.PathLike, /, **state: Any) -> Path:
    """Write the keyword arguments, as one dict, to path in PyTorch's format, atomically.

    Values: nested dicts, lists and tuples of arrays (numpy or cupy) or Tensors, numbers,
    strings and None. Arrays are written as tensors, so the file holds state_dicts in
    PyTorch's layout. Raises ValueError, writing nothing, if a floating-point array or
    Tensor in the state holds NaN or inf. (There is deliberately no switch to override this:
    any keyword would also be a possible state key. To keep a diverged state for
    inspection, minires.save it.)
    """
    path = Path(path)
    tree = _as_tensors(state)
    _refuse_nonfinite(path, tree)
    save(tree, path)  # atomic: a temporary file, then a rename
    return path


def _as_tensors(value: Any) -> Any:
    """value with every numpy or cupy array made a Tensor (minires.save writes Tensors)."""
    if isinstance(value, dict):
        out = OrderedDict() if isinstance(value, OrderedDict) else {}
        for key, item in value.items():
            out[key] = _as_tensors(item)
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(_as_tensors(item) for item in value)
    if isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
        return Tensor(value)
    return value


def _tensors(tree: Any, name: str = "") -> list[tuple[str, Tensor]]:
    """(name, tensor) for every Tensor in tree, named like 'model/layer1.0.conv1.weight'."""
    if isinstance(tree, Tensor):
        return [(name, tree)]
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return []
    return [found for key, item in items for found in _tensors(item, f"{name}/{key}" if name else str(key))]


def _refuse_nonfinite(path: Path, tree: Any) -> None:
    arrays = {name: t.numpy() for name, t in _tensors(tree) if t.dtype.kind in "fc"}
    bad = [name for name, a in arrays.items() if not np.isfinite(a).all()]
    if not bad:
        return
    a = arrays[bad[0]]
    nan = int(np.isnan(a).sum())
    inf = a.size - nan - int(np.isfinite(a).sum())
    more = len(bad) - 1
    more = f"; {more} more {'array is' if more == 1 else 'arrays are'} non-finite too" if more else ""
    raise ValueError(
        f"save_checkpoint: refusing to write {path}: {bad[0]!r} has {nan} NaN and {inf} inf of its "
        f"{a.size} entries{more}. The run has diverged (try a lower learning rate); the previous "
        f"checkpoint, if any, is left as it was"
    )


# ---------------------------------------------------------------------------- loading
def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The dict that save_checkpoint wrote, its Tensors as numpy arrays (minires.load(path)
    gives them as Tensors, as torch.load does). Also reads an older minires .npz checkpoint.

    FileNotFoundError if there is no file; CheckpointError if the file is damaged or not a
    minires checkpoint. No code from the file is run.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    if path.is_dir():
        raise _not_ours(path, "it is a folder; give the path of the checkpoint file")
    with open(path, "rb") as f:  # PermissionError and the like pass through as they are
        head = f.read(4)
        if not head:
            raise _damaged(path, "the file is empty")
        if head == b"PK\x03\x04" and _is_npz(f):
            return _read_npz(path, f)
    if head != b"PK\x03\x04" and head[:1] != b"\x80":  # neither a zip nor a pickle
        raise _not_ours(path, _describe_foreign(head))
    try:
        state = load(path)
    except LoadError as e:
        raise CheckpointError(f"load_checkpoint: {str(e).removeprefix('minires.load: ')}") from e
    if not isinstance(state, dict):
        raise _not_ours(path, f"a PyTorch file holding a {type(state).__name__}, not a dict of training state")
    return _as_arrays(state)


def _as_arrays(value: Any) -> Any:
    """value with every Tensor made a numpy array (what load_checkpoint has always returned)."""
    if isinstance(value, Tensor):
        return value.numpy()
    if isinstance(value, dict):
        out = OrderedDict() if isinstance(value, OrderedDict) else {}
        for key, item in value.items():
            out[key] = _as_arrays(item)
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(_as_arrays(item) for item in value)
    return value


def _damaged(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"load_checkpoint: {path} is damaged (truncated or corrupt: {reason})")


def _not_ours(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"load_checkpoint: {path} is not a minires checkpoint ({reason})")


def _describe_foreign(head: bytes) -> str:
    if head.startswith(b"\x93NUM"):
        return "a single array saved with np.save, not a checkpoint"
    return f"neither a zip archive (PyTorch's format, or an older .npz) nor a pickle: it starts with {head!r}"


# ---------------------------------------------------------------------------- the older .npz format
def _is_npz(f) -> bool:
    """Whether f is a zip whose entries are all .npy arrays (False if it cannot be read as a
    zip: minires.load then says what is wrong)."""
    try:
        with zipfile.ZipFile(f) as zf:
            names = zf.namelist()
    except Exception:  # noqa: BLE001 (not a readable zip: minires.load will say what is wrong)
        return False
    return bool(names) and all(name.endswith(".npy") for name in names)


def _read_npz(path: Path, f) -> dict[str, Any]:
    """The nested dict an older minires wrote as .npz: arrays under "model/layer1.0.conv1.weight"-style
    names, every other value in the JSON entry. Never unpickles."""
    try:
        zf = zipfile.ZipFile(f)
    except Exception as e:
        raise _damaged(path, _reason(e)) from e
    with zf:
        members = zf.namelist()
        if f"{_JSON_KEY}.npy" not in members:
            names = [m[:-4] for m in members]
            raise _not_ours(path, f"an .npz archive of {_some(names)} without the {_JSON_KEY!r} entry "
                                  f"that save_checkpoint wrote")
        arrays: dict[str, np.ndarray] = {}
        for member in members:
            key = member[:-4]
            try:
                with zf.open(member) as entry:
                    # allow_pickle=False: an object array (pickled Python objects) is refused, not run
                    arrays[key] = np.lib.format.read_array(entry, allow_pickle=False)
            except ValueError as e:
                if "allow_pickle" in str(e):
                    raise _not_ours(path, f"entry {key!r} holds pickled Python objects, which save_checkpoint "
                                          f"never wrote and load_checkpoint will not unpickle") from None
                raise _damaged(path, f"entry {key!r}: {_reason(e)}") from e
            except Exception as e:
                raise _damaged(path, f"entry {key!r}: {_reason(e)}") from e
    try:
        plain = json.loads(str(arrays.pop(_JSON_KEY)))
        if not isinstance(plain, dict):
            raise TypeError(f"its {_JSON_KEY!r} entry is a {type(plain).__name__}, not an object")
        tree: dict[str, Any] = {}
        for name in plain.pop("__dicts__", []):
            _node(tree, name.split("/"))
        for name, value in [*arrays.items(), *plain.items()]:
            *parents, leaf = name.split("/")
            _node(tree, parents)[leaf] = value
    except Exception as e:
        raise _damaged(path, f"the {_JSON_KEY!r} entry: {_reason(e)}") from e
    return tree


def _node(tree: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    for part in parts:
        tree = tree.setdefault(part, {})
        if not isinstance(tree, dict):
            raise TypeError(f"{'/'.join(parts)!r} is both a value and a group of values")
    return tree


def is_npz_checkpoint(path: str | os.PathLike) -> bool:
    """Whether path holds a checkpoint in the .npz format of older minires versions (which
    load_checkpoint reads, and the next save_checkpoint replaces with PyTorch's format)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04" and _is_npz(f)
    except OSError:
        return False
