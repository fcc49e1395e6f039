"""Checkpoints: a nested round trip; saves that are interrupted, killed or refused leave the
last good checkpoint intact; damaged or foreign files raise one clear error and run no code."""

from __future__ import annotations

import os
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
from minires import optim
from minires.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minires.nn import models

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes, locks and signals")


def temp_files(folder: Path, name: str = "run.npz") -> list[str]:
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
    path = save_checkpoint(tmp_path / "run.npz", model=model.state_dict(), optimizer=opt.state_dict(),
                           scheduler=sched.state_dict(), epoch=4, rng=mr.get_rng_state(), note=None)
    state = load_checkpoint(path)
    assert state["epoch"] == 4 and state["note"] is None and state["rng"] == mr.get_rng_state()

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


def test_interrupted_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "run.npz", epoch=1, weights=np.ones(3))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the user pressed Ctrl-C in the middle of writing

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, epoch=2, weights=np.zeros(3))
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"], "the temporary file must be removed"


# ------------------------------------------------------------------ non-finite state
def test_a_state_with_nan_or_inf_is_never_written(tmp_path):
    path = save_checkpoint(tmp_path / "run.npz", epoch=1, model={"w": np.ones(4)})
    before = path.read_bytes()
    diverged = mr.tensor(np.array([1.0, np.nan, np.inf, np.nan, -np.inf, 2.0]))
    with pytest.raises(ValueError, match=r"refusing to write .*run.npz: 'model/layer1.0.conv1.weight' "
                                         r"has 2 NaN and 2 inf of its 6 entries; 1 more array is"):
        save_checkpoint(path, epoch=2, model={"bias": np.zeros(2), "layer1.0.conv1.weight": diverged,
                                              "fc.weight": np.full(3, np.nan, np.float32)})
    assert path.read_bytes() == before, "the previous checkpoint must be left as it was"
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]
    # integer buffers and finite values of every float type are fine; so are NaNs outside arrays
    save_checkpoint(path, epoch=3, best_loss=float("nan"),
                    model={"n": np.array(7), "h": np.ones(2, np.float16), "t": mr.tensor(np.ones(2))})
    assert load_checkpoint(path)["epoch"] == 3


# ------------------------------------------------------------------ damaged or foreign files
@pytest.fixture
def good(tmp_path):
    return save_checkpoint(tmp_path / "good.npz", epoch=1, model={"w": np.arange(1000.0)}, note="hello")


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.99, -1])
def test_a_truncated_checkpoint_is_reported_as_damaged(tmp_path, good, cut):
    data = good.read_bytes()
    bad = tmp_path / "cut.npz"
    bad.write_bytes(data[:int(len(data) * cut)] if cut > 0 else data[:-1])
    with pytest.raises(CheckpointError, match=r"load_checkpoint: .*cut.npz is damaged \(truncated or corrupt: "):
        load_checkpoint(bad)


def test_flipped_bytes_and_an_empty_file_are_reported_as_damaged(tmp_path, good):
    data = bytearray(good.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the array data: caught by the zip's CRC
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"flipped.npz is damaged .*CRC"):
        load_checkpoint(bad)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty.npz is damaged \(truncated or corrupt: the file is empty\)"):
        load_checkpoint(empty)
    broken_json = tmp_path / "json.npz"
    np.savez(broken_json, __json__=np.array('{"epoch": 1,'))
    with pytest.raises(CheckpointError, match=r"json.npz is damaged .*'__json__' entry: JSONDecodeError"):
        load_checkpoint(broken_json)


def test_files_that_are_not_checkpoints_say_so(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(bytes(random.Random(0).getrandbits(8) for _ in range(4096)))
    not_npz = tmp_path / "notes.npz"
    with zipfile.ZipFile(not_npz, "w") as zf:
        zf.writestr("readme.txt", "hello")
    torch_like = tmp_path / "model.pt"
    with zipfile.ZipFile(torch_like, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.ones(2), b=np.zeros(3))
    single = tmp_path / "single.npy"
    np.save(single, np.ones(2))
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(b"\x80\x02\x8a\x0alz\xfc\x9cF\xf9 j\xa8P\x19.")  # how an old torch.save file starts
    cases = [(garbage, "not a zip/.npz archive"), (not_npz, "a zip archive holding 'readme.txt'"),
             (torch_like, r"not only .npy arrays; a PyTorch file saved with torch.save\?"),
             (foreign, "an .npz archive of 'a', 'b' without the '__json__' entry"),
             (single, "a single array saved with np.save"),
             (legacy, "a Python pickle, perhaps a legacy torch.save file; load_checkpoint never unpickles"), (tmp_path, "it is a folder")]
    for path, reason in cases:
        with pytest.raises(CheckpointError, match=rf"load_checkpoint: .*{path.name} is not a minires checkpoint "
                                                  rf"\(.*{reason}"):
            load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing.npz"):
        load_checkpoint(tmp_path / "nothing.npz")
    assert issubclass(CheckpointError, ValueError)


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

    leftovers = [".run.npz.abcd1234.tmp", ".run.npz.x_9z0000.tmp"]
    kept = [".run.npz.abc.tmp", ".run.npz.ABCD1234.tmp", "run.npz.abcd1234.tmp", ".run.npz.abcd1234.tmp.bak",
            ".other.npz.abcd1234.tmp", ".run.npz.backup", "notes.txt"]
    for name in leftovers + kept:
        (tmp_path / name).write_bytes(b"x")
    live = tmp_path / ".run.npz.live0000.tmp"  # a save running now in another process holds its lock
    live.write_bytes(b"x")
    with open(live, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        save_checkpoint(tmp_path / "run.npz", epoch=1)
    names = {p.name for p in tmp_path.iterdir()}
    assert not names & set(leftovers)
    assert names == {*kept, live.name, "run.npz"}


@posix_only
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_checkpoints_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / "run.npz", epoch=1)
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
    save_checkpoint(tmp_path / "run.npz", epoch=1)
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
    paths = [tmp_path / f"run{k}.npz" for k in range(4)]
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
    paths = [tmp_path / f"run{k}.npz" for k in range(3)]
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
