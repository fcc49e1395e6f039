"""Saving and loading training state as one .npz file, atomically.

    save_checkpoint("run.npz", model=model.state_dict(), optimizer=opt.state_dict(),
                    scheduler=sched.state_dict(), epoch=3, rng=mr.get_rng_state())
    state = load_checkpoint("run.npz")           # the same nested dict back
    model.load_state_dict(state["model"])

Nested dicts are flattened to "model/layer1.0.conv1.weight"-style keys; arrays (and
Tensors) are stored as arrays, every other value (numbers, strings, lists, None, the
generator's state) as JSON. The file is written next to its destination under a
temporary name, flushed to disk and then renamed over it, so an interrupted or killed
save never destroys the last good checkpoint; the next successful save removes the
temporary files that killed saves left behind.

A state with NaN or infinite parameters or buffers (a diverged run) is refused: it would
replace the last good checkpoint with one that can never train again. Loading reads
arrays and JSON only, never pickles, so it runs no code from the file; a file that is
truncated, corrupt or not a checkpoint raises CheckpointError naming it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .tensor import Tensor

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there, which protects it as well
    fcntl = None

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]

_JSON_KEY = "__json__"


class CheckpointError(ValueError):
    """A file that load_checkpoint cannot read: truncated, corrupt, or not a minires checkpoint."""


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


def save_checkpoint(path: str | os.PathLike, /, **state: Any) -> Path:
    """Write the keyword arguments (nested dicts of arrays and plain values) to path, atomically.

    Raises ValueError, writing nothing, if a floating-point array or Tensor in the state
    holds NaN or inf. (There is deliberately no switch to override this: any keyword would
    also be a possible state key. To keep a diverged state for inspection, np.savez it.)
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    plain: dict[str, Any] = {}
    _flatten(state, "", arrays, plain)
    _refuse_nonfinite(path, arrays)
    try:
        arrays[_JSON_KEY] = np.array(json.dumps(plain, default=_json_default))
    except TypeError as e:
        raise TypeError(f"save_checkpoint: {e}") from e
    write_atomically(path, lambda f: np.savez(f, **arrays))
    return path


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call write(f) on a temporary file next to path, then rename it over path (used by
    save_checkpoint and minires.save): a save that fails or is killed midway leaves the
    previous file as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:  # rename while still holding the lock (see _remove_leftover_temps)
                os.replace(temp_name, path)  # atomic on POSIX
        if fcntl is None:  # Windows renames only closed files
            os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    _remove_leftover_temps(path)


def _refuse_nonfinite(path: Path, arrays: dict[str, np.ndarray]) -> None:
    bad = [name for name, a in arrays.items() if a.dtype.kind in "fc" and not np.isfinite(a).all()]
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


# The temporary file is ".{name}.{8 characters}.tmp" next to the checkpoint; older minires
# versions made the same names with tempfile.mkstemp, whose 8 characters are [a-z0-9_].
def _temp_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.tmp")


def _create_temp(path: Path) -> tuple[int, str]:
    """A new, exclusively created and (on POSIX) flock-ed temporary file next to path.

    It is created with mode 0o666, which the kernel reduces by the umask (or the folder's
    default ACL) exactly as for any file the user's programs create. This avoids reading
    the umask, which can only be done race-free on Linux (/proc/self/status): the usual
    os.umask(0)-then-restore briefly changes it for every thread of the process.
    mkstemp, used before, makes 0o600 files that no group member can read.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for extra in ("O_BINARY", "O_NOFOLLOW", "O_CLOEXEC"):
        flags |= getattr(os, extra, 0)
    for _ in range(100):
        name = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(name, flags, 0o666)
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, name
        # Another process's _remove_leftover_temps may have locked and deleted the file
        # between our open and our lock; if our name no longer leads to our file, start over.
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(name, follow_symlinks=False)):
                return fd, name
        except FileNotFoundError:
            pass
        os.close(fd)
    raise FileExistsError(f"save_checkpoint: could not create a temporary file next to {path}")


def _remove_leftover_temps(path: Path) -> None:
    """Delete the temporary files of saves of this checkpoint that were killed (SIGKILL, a
    power cut) before they could clean up. Only names of exactly our pattern are touched,
    and only files no live save holds: a save keeps its temporary file flock-ed, and the
    kernel drops the lock of a killed process."""
    pattern = _temp_pattern(path)
    try:
        names = [entry.name for entry in os.scandir(path.parent) if pattern.fullmatch(entry.name)]
    except OSError:
        return
    for name in names:
        leftover = path.parent / name
        try:
            if fcntl is None:
                leftover.unlink()  # fails on Windows if a live save still has it open
                continue
            fd = os.open(leftover, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                leftover.unlink()
            finally:
                os.close(fd)
        except OSError:  # in use by a running save, already gone, or not ours to delete
            continue


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable: until the folder is synced, a power cut can bring back
    the previous checkpoint (intact, but older than what the run reported as saved). One
    small sync per save. Not possible on Windows or some filesystems; then skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint")


# ---------------------------------------------------------------------------- loading
def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The nested dict that save_checkpoint wrote (arrays as numpy arrays).

    FileNotFoundError if there is no file; CheckpointError (a ValueError) if the file is
    damaged or not a minires checkpoint. Nothing in the file is unpickled or executed.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    if path.is_dir():
        raise _not_ours(path, "it is a folder; give the path of the .npz file")
    with open(path, "rb") as f:  # PermissionError and the like pass through as they are
        head = f.read(4)
        size = os.fstat(f.fileno()).st_size
        if not head:
            raise _damaged(path, "the file is empty")
        if head != b"PK\x03\x04":
            raise _not_ours(path, _describe_foreign(head))
        try:
            zf = zipfile.ZipFile(f)
        except zipfile.BadZipFile:
            raise _damaged(path, f"{size} bytes, and the table of contents that ends every complete "
                                 f".npz file is missing") from None
        except Exception as e:
            raise _damaged(path, _reason(e)) from e
        with zf:
            return _read_archive(path, zf)


def _read_archive(path: Path, zf: zipfile.ZipFile) -> dict[str, Any]:
    members = zf.namelist()
    others = [m for m in members if not m.endswith(".npy")]
    if others:
        hint = "; a PyTorch file saved with torch.save?" if any(m.endswith("data.pkl") for m in others) else ""
        raise _not_ours(path, f"a zip archive holding {_some(others)}, not only .npy arrays{hint}")
    if f"{_JSON_KEY}.npy" not in members:
        names = [m[:-4] for m in members]
        raise _not_ours(path, f"an .npz archive of {_some(names)} without the {_JSON_KEY!r} entry "
                              f"that save_checkpoint writes")
    arrays: dict[str, np.ndarray] = {}
    for member in members:
        key = member[:-4]
        try:
            with zf.open(member) as f:
                # allow_pickle=False: an object array (pickled Python objects) is refused, not run
                arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
        except ValueError as e:
            if "allow_pickle" in str(e):
                raise _not_ours(path, f"entry {key!r} holds pickled Python objects, which save_checkpoint "
                                      f"never writes and load_checkpoint will not unpickle") from None
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


def _damaged(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"load_checkpoint: {path} is damaged (truncated or corrupt: {reason})")


def _not_ours(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"load_checkpoint: {path} is not a minires checkpoint ({reason})")


def _reason(e: BaseException) -> str:
    text = str(e).strip() or "no details"
    return f"{type(e).__name__}: {text[:200]}"


def _some(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _describe_foreign(head: bytes) -> str:
    if head.startswith(b"\x93NUM"):
        return "a single array saved with np.save, not an .npz archive"
    if head[:1] == b"\x80":
        return "a Python pickle, perhaps a legacy torch.save file; load_checkpoint never unpickles"
    return f"not a zip/.npz archive: it starts with {head!r}"
