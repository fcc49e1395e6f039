"""Checkpoints: a nested round trip, and an interrupted save that leaves the old file intact."""

from __future__ import annotations

import numpy as np
import pytest

import minires as mr
from minires import optim
from minires.checkpoint import load_checkpoint, save_checkpoint
from minires.nn import models


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


def test_corrupt_or_missing_checkpoint_says_which_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing.npz"):
        load_checkpoint(tmp_path / "nothing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="bad.npz is not a readable .npz checkpoint"):
        load_checkpoint(bad)
