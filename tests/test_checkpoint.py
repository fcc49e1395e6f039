"""Checkpoints: a nested round trip; saves that are interrupted, killed or refused leave the
last good checkpoint intact; damaged or foreign files raise one clear error and run no code.
The files are PyTorch's format (tests/test_checkpoint_format.py has torch.load read them);
the .npz files of older minires versions, made here by write_npz_checkpoint, still load."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minires as mr
from minires import optim, serialization
from minires.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minires.nn import models
from minires.serialization import LoadError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes, locks and signals")


def write_npz_checkpoint(path: Path, **state) -> Path:
    """A checkpoint as minires wrote them before they were PyTorch's format: np.savez of the
    arrays under "model/layer1.0.conv1.weight"-style names, everything else in one JSON entry."""
    arrays, plain = {}, {}

    def flatten(tree, prefix):
        for key, value in tree.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                flatten(value, name + "/")
                plain.setdefault("__dicts__", []).append(name)
            elif isinstance(value, (np.ndarray, mr.Tensor)):
                arrays[name] = np.asarray(value.numpy() if isinstance(value, mr.Tensor) else value)
            else:
                plain[name] = value

    flatten(state, "")
    np.savez(path, __json__=np.array(json.dumps(plain)), **arrays)
    return Path(path)


def temp_files(folder: Path, name: str = "run.pth") -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}.") and p.name.endswith(".tmp"))


def test_round_trip_of_a_training_state(tmp_path):
    mr.manual_seed(0)
    model = models.ResNet(models.BasicBlock, [1], [4], num_classes=3)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
    loss = mr.nn.functional.cross_entropy(model(mr.randn(2, 3, 8, 8)), np.array([0, 2]))
    loss.backward()
    opt.step()
    sched.step()
    path = save_checkpoint(tmp_path / "run.pth", model=model.state_dict(), optimizer=opt.state_dict(),
                           scheduler=sched.state_dict(), epoch=4, rng=mr.get_rng_state(), note=None)
    state = load_checkpoint(path)
    assert state["epoch"] == 4 and state["note"] is None and state["rng"] == mr.get_rng_state()
    assert list(state["optimizer"]["state"]) == list(range(len(list(model.parameters())))), "int keys, as PyTorch's"

    twin = models.ResNet(models.BasicBlock, [1], [4], num_classes=3)
    twin.load_state_dict(state["model"])
    for (name, a), (_, b) in zip(model.state_dict().items(), twin.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name
    opt2 = optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(state["optimizer"])
    buffers = [s["momentum_buffer"] for s in opt2.state.values()]
    assert len(buffers) == len(list(model.parameters()))
    sched2 = optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=5)
    sched2.load_state_dict(state["scheduler"])
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_an_older_npz_checkpoint_still_loads(tmp_path):
    mr.manual_seed(0)
    model = models.ResNet(models.BasicBlock, [1], [4], num_classes=3)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    mr.nn.functional.cross_entropy(model(mr.randn(2, 3, 8, 8)), np.array([0, 2])).backward()
    opt.step()
    old = write_npz_checkpoint(tmp_path / "old.npz", model=model.state_dict(), optimizer=opt.state_dict(),
                               epoch=2, rng=mr.get_rng_state())
    state = load_checkpoint(old)
    assert state["epoch"] == 2 and state["rng"] == mr.get_rng_state()
    twin = models.ResNet(models.BasicBlock, [1], [4], num_classes=3)
    twin.load_state_dict(state["model"])
    optim.SGD(twin.parameters(), lr=0.1, momentum=0.9).load_state_dict(state["optimizer"])  # JSON's "0" keys
    # saved again, it is PyTorch's format, whatever the name says
    save_checkpoint(old, **state)
    assert old.read_bytes()[:4] == b"PK\x03\x04" and "archive/data.pkl" in zipfile.ZipFile(old).namelist()
    assert load_checkpoint(old)["epoch"] == 2


def test_interrupted_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "run.pth", epoch=1, weights=np.ones(3))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the user pressed Ctrl-C in the middle of writing

    monkeypatch.setattr(serialization, "_write_zip", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, epoch=2, weights=np.zeros(3))
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.pth"], "the temporary file must be removed"


# ------------------------------------------------------------------ non-finite state
def test_a_state_with_nan_or_inf_is_never_written(tmp_path):
    path = save_checkpoint(tmp_path / "run.pth", epoch=1, model={"w": np.ones(4)})
    before = path.read_bytes()
    diverged = mr.tensor(np.array([1.0, np.nan, np.inf, np.nan, -np.inf, 2.0]))
    with pytest.raises(ValueError, match=r"refusing to write .*run.pth: 'model/layer1.0.conv1.weight' "
                                         r"has 2 NaN and 2 inf of its 6 entries; 1 more array is"):
        save_checkpoint(path, epoch=2, model={"bias": np.zeros(2), "layer1.0.conv1.weight": diverged,
                                              "fc.weight": np.full(3, np.nan, np.float32)})
    assert path.read_bytes() == before, "the previous checkpoint must be left as it was"
    assert [p.name for p in tmp_path.iterdir()] == ["run.pth"]
    # integer buffers and finite values of every float type are fine; so are NaNs outside arrays
    save_checkpoint(path, epoch=3, best_loss=float("nan"),
                    model={"n": np.array(7), "h": np.ones(2, np.float16), "t": mr.tensor(np.ones(2))})
    assert load_checkpoint(path)["epoch"] == 3


# ------------------------------------------------------------------ damaged or foreign files
@pytest.fixture(params=["pth", "npz"])
def good(tmp_path, request):
    """A good checkpoint in PyTorch's format, or in the older .npz one."""
    if request.param == "pth":
        return save_checkpoint(tmp_path / "good.pth", epoch=1, model={"w": np.arange(1000.0)}, note="hello")
    return write_npz_checkpoint(tmp_path / "good.npz", epoch=1, model={"w": np.arange(1000.0)}, note="hello")


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.99, -1])
def test_a_truncated_checkpoint_is_reported_as_damaged(tmp_path, good, cut):
    data = good.read_bytes()
    bad = tmp_path / f"cut{good.suffix}"
    bad.write_bytes(data[:int(len(data) * cut)] if cut > 0 else data[:-1])
    with pytest.raises(CheckpointError, match=rf"load_checkpoint: .*cut{good.suffix} is damaged \(truncated or corrupt: "):
        load_checkpoint(bad)


def test_flipped_bytes_and_an_empty_file_are_reported_as_damaged(tmp_path, good):
    data = bytearray(good.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the array data: caught by the zip's CRC
    bad = tmp_path / f"flipped{good.suffix}"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=rf"flipped{good.suffix} is damaged .*CRC"):
        load_checkpoint(bad)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty.pth is damaged \(truncated or corrupt: the file is empty\)"):
        load_checkpoint(empty)
    broken_json = tmp_path / "json.npz"
    np.savez(broken_json, __json__=np.array('{"epoch": 1,'))
    with pytest.raises(CheckpointError, match=r"json.npz is damaged .*'__json__' entry: JSONDecodeError"):
        load_checkpoint(broken_json)


def test_files_that_are_not_checkpoints_say_so(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(bytes(random.Random(0).getrandbits(8) for _ in range(4096)))
    notes = tmp_path / "notes.pth"
    with zipfile.ZipFile(notes, "w") as zf:
        zf.writestr("readme.txt", "hello")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.ones(2), b=np.zeros(3))
    single = tmp_path / "single.npy"
    np.save(single, np.ones(2))
    tensor = tmp_path / "tensor.pth"
    mr.save(mr.ones(3), tensor)
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))  # how an old torch.save file starts
    cases = [(garbage, "is not a minires checkpoint .*neither a zip archive .* nor a pickle"),
             (notes, r"is not a torch.save file \(a zip archive of 'readme.txt', with no <name>/data.pkl"),
             (foreign, "is not a minires checkpoint .*an .npz archive of 'a', 'b' without the '__json__' entry"),
             (single, "is not a minires checkpoint .*a single array saved with np.save"),
             (tensor, "is not a minires checkpoint .*a PyTorch file holding a Tensor, not a dict"),
             (legacy, r"is damaged \(truncated or corrupt: "),
             (tmp_path, "is not a minires checkpoint .*it is a folder")]
    for path, reason in cases:
        with pytest.raises(CheckpointError, match=rf"load_checkpoint: .*{path.name} {reason}"):
            load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing.pth"):
        load_checkpoint(tmp_path / "nothing.pth")
    assert issubclass(CheckpointError, ValueError) and issubclass(CheckpointError, LoadError)


class _Payload:
    """Unpickling this calls open(marker, "w"): it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_loading_never_unpickles_code_from_the_file(tmp_path):
    proof, marker = tmp_path / "proof", tmp_path / "marker"
    np.savez(tmp_path / "proof.npz", __json__=np.array("{}"), x=np.array([_Payload(proof)], dtype=object))
    np.load(tmp_path / "proof.npz", allow_pickle=True)["x"]  # the payload works when unpickled ...
    assert proof.exists()

    evil = tmp_path / "evil.npz"
    np.savez(evil, __json__=np.array('{"epoch": 1}'), x=np.array([_Payload(marker)], dtype=object))
    with pytest.raises(CheckpointError, match=r"evil.npz is not a minires checkpoint \(entry 'x' holds pickled"):
        load_checkpoint(evil)
    assert not marker.exists(), "load_checkpoint ran code from the file"  # ... and is never unpickled


# ------------------------------------------------------------------ temporary files, modes
@posix_only
def test_the_next_save_removes_leftover_temp_files_and_nothing_else(tmp_path):
    import fcntl

    leftovers = [".run.pth.abcd1234.tmp", ".run.pth.x_9z0000.tmp"]
    kept = [".run.pth.abc.tmp", ".run.pth.ABCD1234.tmp", "run.pth.abcd1234.tmp", ".run.pth.abcd1234.tmp.bak",
            ".other.pth.abcd1234.tmp", ".run.pth.backup", "notes.txt"]
    for name in leftovers + kept:
        (tmp_path / name).write_bytes(b"x")
    live = tmp_path / ".run.pth.live0000.tmp"  # a save running now in another process holds its lock
    live.write_bytes(b"x")
    with open(live, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        save_checkpoint(tmp_path / "run.pth", epoch=1)
    names = {p.name for p in tmp_path.iterdir()}
    assert not names & set(leftovers)
    assert names == {*kept, live.name, "run.pth"}


@posix_only
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_checkpoints_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / "run.pth", epoch=1)
        assert path.stat().st_mode & 0o777 == mode
        save_checkpoint(path, epoch=2)  # replacing keeps it so
        assert path.stat().st_mode & 0o777 == mode
        (tmp_path / "plain").write_text("a file made the ordinary way")
        assert (tmp_path / "plain").stat().st_mode & 0o777 == mode
    finally:
        os.umask(old)


@posix_only
def test_the_rename_is_made_durable_by_syncing_the_folder(tmp_path, monkeypatch):
    import stat

    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    save_checkpoint(tmp_path / "run.pth", epoch=1)
    assert synced == [False, True], "the file, then its folder"


# ------------------------------------------------------------------ real processes, real signals
_SAVER = """
import sys
import numpy as np
from minires.checkpoint import save_checkpoint
path = sys.argv[1]
weights = np.random.default_rng(0).standard_normal(128 * 1024)  # 1 MB
i = 0
try:
    while True:
        i += 1
        save_checkpoint(path, epoch=i, model={"w": weights + i})
        if i == 1:
            print("saved", flush=True)
except KeyboardInterrupt:
    sys.exit(3)
"""


def _start_savers(paths):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    children = [subprocess.Popen([sys.executable, "-c", _SAVER, str(p)], stdout=subprocess.PIPE, env=env)
                for p in paths]
    for child in children:
        assert child.stdout.readline() == b"saved\n"
    return children


def _assert_consistent(path):
    state = load_checkpoint(path)
    weights = np.random.default_rng(0).standard_normal(128 * 1024)
    assert state["epoch"] >= 1 and np.array_equal(state["model"]["w"], weights + state["epoch"])


@posix_only
def test_kill_9_during_saves_always_leaves_a_loadable_checkpoint(tmp_path):
    rng = random.Random(0)
    paths = [tmp_path / f"run{k}.pth" for k in range(4)]
    children = _start_savers(paths)  # in parallel, to keep the test fast
    for child in children:
        time.sleep(rng.uniform(0, 0.03))
        child.kill()
    for child, path in zip(children, paths):
        child.wait()
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        _assert_consistent(path)
        save_checkpoint(path, epoch=0)  # the next save cleans up what the killed one left
        assert temp_files(tmp_path, path.name) == []


@posix_only
def test_ctrl_c_during_a_save_keeps_the_previous_checkpoint(tmp_path):
    rng = random.Random(1)
    paths = [tmp_path / f"run{k}.pth" for k in range(3)]
    children = _start_savers(paths)
    for child in children:
        time.sleep(rng.uniform(0, 0.03))
        child.send_signal(signal.SIGINT)
    for child, path in zip(children, paths):
        assert child.wait(timeout=10) == 3
        child.stdout.close()
        _assert_consistent(path)
        save_checkpoint(path, epoch=0)
        assert temp_files(tmp_path, path.name) == []
