"""minires.load on damaged and foreign files: every one raises LoadError, naming the file,
or (when the damage hit a byte nothing reads) loads exactly the original. Never another
exception, never a wrong value, never a hang.

The damage is seeded, so a failure reproduces: a few hundred mutations of a small
checkpoint-shaped file (byte flips, random bytes, truncations, inserted and deleted bytes),
and files that are not torch.save files at all (empty, text, a plain pickle, an .npz, a
zip of other things, ...). load_checkpoint gets the same treatment, on PyTorch's format and
on the .npz of older minires versions, with its CheckpointError (a LoadError)."""

from __future__ import annotations

import io
import os
import pickle
import random
import signal
import threading
import zipfile
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from test_checkpoint import write_npz_checkpoint

import minires as mr
from minires.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minires.serialization import LoadError

SEED = 0
PER_KIND = 60  # mutations of each kind below: 300 for minires.load
KINDS = ["flip", "random byte", "truncate", "insert", "delete"]


def checkpoint_like() -> dict:
    """A small dict shaped like train_cifar.py's checkpoint: tensors of several dtypes, int keys,
    big ints (the generator's state), floats, strings, None, lists."""
    rng = np.random.default_rng(0)
    return {
        "model": OrderedDict([("conv.weight", mr.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))),
                              ("bn.running_var", mr.tensor(rng.uniform(0.5, 1.5, 4).astype(np.float32))),
                              ("bn.num_batches_tracked", mr.tensor(np.array(7, dtype=np.int64)))]),
        "optimizer": {"state": {0: {"momentum_buffer": mr.tensor(rng.standard_normal(4).astype(np.float32))}},
                      "param_groups": [{"lr": 0.1, "momentum": 0.9, "nesterov": False, "params": [0, 1]}]},
        "epoch": 3,
        "rng": mr.get_rng_state(),
        "args": {"model": "resnet20", "train_subset": None, "lr": 0.1},
        "metrics": {"names": ["epoch", "test_acc"], "rows": [[1, 0.25], [2, 0.5]]},
    }


def same(a, b) -> bool:
    """a and b are equal in structure, types, dtypes and every value."""
    if isinstance(a, mr.Tensor) or isinstance(b, mr.Tensor):
        return (isinstance(a, mr.Tensor) and isinstance(b, mr.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and np.array_equal(a.numpy(), b.numpy()))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and np.array_equal(a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def mutate(data: bytes, kind: str, rng: random.Random) -> tuple[bytes, str]:
    """One seeded mutation of data, and a description that says how to repeat it."""
    at = rng.randrange(len(data))
    if kind == "flip":
        bit = rng.randrange(8)
        return data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1:], f"bit {bit} of byte {at} flipped"
    if kind == "random byte":
        value = rng.choice([b for b in range(256) if b != data[at]])
        return data[:at] + bytes([value]) + data[at + 1:], f"byte {at} set to {value}"
    if kind == "truncate":
        return data[:at], f"cut to {at} bytes"
    if kind == "insert":
        extra = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        return data[:at] + extra + data[at:], f"{extra!r} inserted at byte {at}"
    n = rng.randint(1, 8)
    return data[:at] + data[at + n:], f"{n} bytes deleted at byte {at}"


class Hang(BaseException):
    """Raised by the alarm when a load runs too long (a BaseException, so no loader catches it)."""


@contextmanager
def no_hang(seconds: float = 10.0):
    """Fail, rather than wait forever, if the body runs longer than seconds (POSIX, main thread)."""
    if os.name != "posix" or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise Hang(f"still loading after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(load, path: Path, original, error_type: type[Exception]) -> str | None:
    """None if load(path) raised error_type naming the file, or returned exactly original;
    otherwise what happened instead."""
    try:
        with no_hang():
            loaded = load(path)
    except error_type as e:
        return None if str(path) in str(e) else f"{type(e).__name__} without the file's name: {e}"
    except Hang as e:
        return f"hung: {e}"
    except Exception as e:  # noqa: BLE001 (exactly what the test is looking for)
        return f"{type(e).__name__} (not {error_type.__name__}): {str(e)[:200]}"
    return None if same(loaded, original) else "loaded, but not equal to the original"


def check_mutations(load, good: Path, original, error_type, kinds, per_kind, seed, folder: Path) -> None:
    data = good.read_bytes()
    rng = random.Random(seed)
    failures, count = [], 0
    for kind in kinds:
        for i in range(per_kind):
            damaged, how = mutate(data, kind, rng)
            path = folder / f"{kind.replace(' ', '_')}-{i:03d}{good.suffix}"
            path.write_bytes(damaged)
            wrong = outcome(load, path, original, error_type)
            count += 1
            if wrong:
                failures.append(f"  {path.name} ({how}): {wrong}")
            else:
                path.unlink()
    assert not failures, (f"{len(failures)} of {count} damaged copies of {good.name} (seed {seed}) did not raise "
                          f"{error_type.__name__} naming the file, nor load equal:\n" + "\n".join(failures[:10]))


# ---------------------------------------------------------------------- minires.load


def test_damaged_copies_raise_load_error_or_load_equal(tmp_path):
    good = tmp_path / "good.pt"
    mr.save(checkpoint_like(), good)
    original = mr.load(good)
    assert same(original, checkpoint_like())
    check_mutations(mr.load, good, original, LoadError, KINDS, PER_KIND, SEED, tmp_path)


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _npz() -> bytes:
    out = io.BytesIO()
    np.savez(out, a=np.ones(3), b=np.arange(4))
    return out.getvalue()


def _npy() -> bytes:
    out = io.BytesIO()
    np.save(out, np.ones(3))
    return out.getvalue()


def _torch_zip_without_storages() -> bytes:
    out = io.BytesIO()
    mr.save({"w": mr.ones(3)}, out)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as zf:
        return _zip({name: zf.read(name) for name in zf.namelist() if "/data/" not in name})


FOREIGN = {  # name: (the file's bytes, what the message says about it)
    "empty.pt": (b"", "the file is empty"),
    "notes.pt": (b"epoch 14 of an earlier run\n", "text starting 'epoch 14"),
    "random.pt": (bytes(random.Random(1).getrandbits(8) for _ in range(4096)), "is not a torch.save file"),
    "dict.pkl": (pickle.dumps({"epoch": 3, "lr": 0.1}), "a pickle of a dict"),
    "array.pkl": (pickle.dumps(np.ones(3)), "names the global 'numpy."),
    "arrays.npz": (_npz(), "a zip archive of 'a.npy', 'b.npy', with no <name>/data.pkl; an .npz file?"),
    "array.npy": (_npy(), "a single numpy array, saved with np.save"),
    "other.zip": (_zip({"readme.txt": b"hello", "data.bin": b"\x00" * 10}), "a zip archive of 'readme.txt'"),
    "empty.zip": (_zip({}), "a zip archive of nothing"),
    "no_storage.pt": (_torch_zip_without_storages(), "there is no entry 'archive/data/0'"),
    "magic_only.pt": (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2), "is damaged"),
    "zip_head.pt": (b"PK\x03\x04" + b"\x00" * 40, "table of contents that ends every complete zip file"),
}


@pytest.mark.parametrize("name", FOREIGN)
def test_foreign_files_raise_load_error_naming_the_file(tmp_path, name):
    data, says = FOREIGN[name]
    path = tmp_path / name
    path.write_bytes(data)
    with no_hang(), pytest.raises(LoadError) as info:
        mr.load(path)
    message = str(info.value)
    assert message.startswith(f"minires.load: {path} ") and says in message, message
    assert isinstance(info.value, pickle.UnpicklingError) and isinstance(info.value, RuntimeError)


def test_an_older_npz_checkpoint_given_to_minires_load_says_where_it_is_read(tmp_path):
    old = write_npz_checkpoint(tmp_path / "old.npz", epoch=1, model={"w": np.ones(3)})
    with pytest.raises(LoadError, match=r"old.npz is not a torch.save file .*load_checkpoint minires's older .npz"):
        mr.load(old)
    assert load_checkpoint(old)["epoch"] == 1


def test_a_folder_or_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        mr.load(tmp_path / "nothing.pt")
    with pytest.raises(IsADirectoryError if os.name == "posix" else OSError):
        mr.load(tmp_path)


# ---------------------------------------------------------------------- load_checkpoint, both formats


def test_damaged_checkpoints_raise_checkpoint_error_or_load_equal(tmp_path):
    state = checkpoint_like()
    good = save_checkpoint(tmp_path / "good.pth", **state)
    check_mutations(load_checkpoint, good, load_checkpoint(good), CheckpointError, KINDS, 12, SEED + 1, tmp_path)


def test_damaged_older_npz_checkpoints_raise_checkpoint_error_or_load_equal(tmp_path):
    good = write_npz_checkpoint(tmp_path / "good.npz", epoch=3, model={"w": np.arange(12.0).reshape(3, 4)},
                                args={"lr": 0.1, "subset": None})
    check_mutations(load_checkpoint, good, load_checkpoint(good), CheckpointError, KINDS, 12, SEED + 2, tmp_path)
