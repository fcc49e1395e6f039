"""examples/train_cifar.py and examples/finetune.py save PyTorch's format: one dict of model,
optimizer, scheduler, epoch, RNG state, settings and metrics, with the state_dicts in PyTorch's
layout, so torch.load(path, weights_only=True) reads it (tested where torch is installed) and
torch's own modules and optimizers take its parts. --resume reads it, a file torch.save wrote
back, and the .npz checkpoints of older minires versions, which continue bit for bit. --epochs 1
runs with the default flags. The runs are tiny: 64 images of the tests' CIFAR-format fixture,
2 steps an epoch."""

from __future__ import annotations

import contextlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cifar_fixture import make_cifar_folder
from test_checkpoint import write_npz_checkpoint
from test_examples import load_example

import minires as mr
from minires.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    return make_cifar_folder(tmp_path_factory.mktemp("cifar"), n_train=64, n_test=32, seed=0)


@pytest.fixture(scope="module")
def train_cifar():
    return load_example("train_cifar")


def run(main, argv: list[str]) -> tuple[dict, str]:
    """main(argv)'s result and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = main(argv)
    return result, out.getvalue()


def small(root, checkpoint: Path, *extra: str) -> list[str]:
    return ["--data", str(root), "--batch-size", "32", "--lr", "0.05", "--checkpoint", str(checkpoint),
            "--out", str(checkpoint.parent / f"{checkpoint.stem}_out"), "--no-progress", "--skip-content-check",
            *extra]


def is_pytorch_format(path: Path) -> bool:
    with zipfile.ZipFile(path) as zf:
        return "archive/data.pkl" in zf.namelist() and "archive/version" in zf.namelist()


@pytest.fixture(scope="module")
def one_epoch(cifar_root, train_cifar, tmp_path_factory) -> tuple[Path, dict, str]:
    """--epochs 1 and every other recipe flag at its default (the warm-up among them)."""
    checkpoint = tmp_path_factory.mktemp("one_epoch") / "run.pth"
    result, printed = run(train_cifar.main, small(cifar_root, checkpoint, "--epochs", "1"))
    return checkpoint, result, printed


def test_epochs_1_runs_with_the_default_warmup_and_says_so(one_epoch, train_cifar):
    checkpoint, result, printed = one_epoch
    header = printed.splitlines()[0]
    assert header.startswith("minires ") and "cosine schedule, 1 epochs (warm-up 0.5 epochs: the default 2 " \
                                               "shortened to fit)" in header, printed
    assert [r["epoch"] for r in result["rows"]] == [1]
    state = mr.load(checkpoint)
    assert list(state) == train_cifar.CHECKPOINT_KEYS and state["args"]["warmup_epochs"] == 0.5
    assert is_pytorch_format(checkpoint)


def test_the_checkpoint_is_pytorchs_layout(one_epoch):
    checkpoint, result, _ = one_epoch
    state = mr.load(checkpoint)
    model = result["model"]
    assert list(state["model"]) == list(model.state_dict())
    for name, value in model.state_dict().items():
        assert isinstance(state["model"][name], mr.Tensor), name
        np.testing.assert_array_equal(state["model"][name].numpy(), value.numpy(), err_msg=name)
    optimizer = state["optimizer"]
    assert list(optimizer["state"]) == list(range(len(list(model.parameters())))), "int keys, as PyTorch's"
    assert all(isinstance(s["momentum_buffer"], mr.Tensor) for s in optimizer["state"].values())
    assert [len(g["params"]) for g in optimizer["param_groups"]] == [20, 39]  # decay, no decay
    assert state["epoch"] == 1 and state["scheduler"]["last_epoch"] == 2  # 2 steps
    assert state["rng"]["bit_generator"] == "PCG64" and isinstance(state["rng"]["state"]["state"], int)
    assert state["metrics"]["names"][0] == "epoch" and len(state["metrics"]["rows"]) == 1


def test_torch_load_weights_only_reads_it_and_torch_takes_its_parts(one_epoch):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    from torch_resnet import CifarResNet

    checkpoint, result, _ = one_epoch
    by_torch = torch.load(checkpoint, weights_only=True)
    ours = mr.load(checkpoint)
    assert list(by_torch) == list(ours) and by_torch["epoch"] == 1 and by_torch["rng"] == ours["rng"]
    assert by_torch["args"] == ours["args"] and by_torch["scheduler"] == ours["scheduler"]

    twin = CifarResNet()  # the same network in PyTorch, under the same names
    twin.load_state_dict(by_torch["model"], strict=True)
    twin.eval()
    model = result["model"]
    model.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(mr.tensor(x)).numpy(), want, rtol=1e-4, atol=1e-4)

    decay = [p for p in twin.parameters() if p.ndim > 1]  # train_cifar.parameter_groups, in torch
    no_decay = [p for p in twin.parameters() if p.ndim <= 1]
    sgd = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=0.1, momentum=0.9)
    sgd.load_state_dict(by_torch["optimizer"])
    buffers = [sgd.state[p]["momentum_buffer"].numpy() for p in decay + no_decay]
    want = [ours["optimizer"]["state"][i]["momentum_buffer"].numpy() for i in range(len(buffers))]
    for i, (got, expected) in enumerate(zip(buffers, want)):
        np.testing.assert_array_equal(got, expected, err_msg=f"momentum buffer {i}")


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_resume_reads_a_checkpoint_torch_saved(one_epoch, cifar_root, train_cifar, tmp_path, fmt):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    checkpoint, _, _ = one_epoch
    again = tmp_path / "again.pth"
    torch.save(torch.load(checkpoint, weights_only=True), again, _use_new_zipfile_serialization=fmt == "zip")
    result, printed = run(train_cifar.main, small(cifar_root, again, "--epochs", "1", "--resume"))
    assert f"resumed from {again} after epoch 1" in printed and "nothing to do" in printed, printed
    assert [r["epoch"] for r in result["rows"]] == [1]


# ---------------------------------------------------------------------- a .npz name, an older .npz file


@pytest.fixture(scope="module")
def stopped(cifar_root, train_cifar, tmp_path_factory) -> tuple[Path, str]:
    """A 2-epoch run stopped after epoch 1, saved under a .npz name as .ci/run names it."""
    checkpoint = tmp_path_factory.mktemp("stopped") / "ci.npz"
    _, printed = run(train_cifar.main, small(cifar_root, checkpoint, "--epochs", "2", "--warmup-epochs", "0",
                                             "--stop-after", "1"))
    return checkpoint, printed


def test_a_npz_name_still_gets_pytorchs_format(stopped):
    checkpoint, printed = stopped
    assert is_pytorch_format(checkpoint)
    assert f"note: {checkpoint} is saved in PyTorch's format, whatever its name says" in printed, printed


def test_resume_from_an_older_npz_checkpoint_continues_bit_for_bit(stopped, cifar_root, train_cifar, tmp_path):
    checkpoint, _ = stopped
    new = tmp_path / "new.pth"
    shutil.copy(checkpoint, new)
    old = write_npz_checkpoint(tmp_path / "old.npz", **load_checkpoint(checkpoint))  # as an older minires saved it
    assert not is_pytorch_format(old)

    from_new, _ = run(train_cifar.main, small(cifar_root, new, "--epochs", "2", "--warmup-epochs", "0", "--resume"))
    from_old, printed = run(train_cifar.main, small(cifar_root, old, "--epochs", "2", "--warmup-epochs", "0",
                                                    "--resume"))
    assert f"resumed from {old} after epoch 1 (an .npz checkpoint of an older minires; it is saved in PyTorch's " \
           f"format from now on, under the same name)" in printed, printed
    assert [r["epoch"] for r in from_old["rows"]] == [1, 2]
    ours, theirs = from_old["model"].state_dict(), from_new["model"].state_dict()
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name].numpy(), value.numpy(), err_msg=f"{name} differs")
    assert is_pytorch_format(old) and load_checkpoint(old)["epoch"] == 2


# ---------------------------------------------------------------------- finetune.py --save


@pytest.fixture(scope="module")
def finetuned(one_epoch, cifar_root, tmp_path_factory) -> tuple[Path, list[str]]:
    checkpoint, _, _ = one_epoch
    finetune = load_example("finetune")
    saved = tmp_path_factory.mktemp("finetuned") / "finetuned.pth"
    argv = ["--checkpoint", str(checkpoint), "--data", str(cifar_root), "--epochs", "1", "--batch-size", "32",
            "--no-progress", "--skip-content-check", "--save", str(saved)]
    _, printed = run(finetune.main, argv)
    assert f"saved {saved}" in printed, printed
    return saved, argv


def test_finetune_saves_pytorchs_format_and_never_overwrites_unasked(finetuned, capsys):
    saved, argv = finetuned
    state = mr.load(saved)
    assert list(state) == ["model", "optimizer", "epoch", "rng", "args", "source", "metrics"]
    assert state["model"]["fc.weight"].shape == (2, 64) and state["args"]["save"] == str(saved)
    before = saved.read_bytes()
    finetune = load_example("finetune")
    with pytest.raises(SystemExit) as info:
        finetune.main(argv)
    assert info.value.code == 2 and f"--save {saved} already exists; pass --overwrite" in capsys.readouterr().err
    assert saved.read_bytes() == before


def test_torch_load_reads_finetunes_file(finetuned):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    saved, _ = finetuned
    state = torch.load(saved, weights_only=True)
    assert tuple(state["model"]["fc.weight"].shape) == (2, 64) and state["epoch"] == 1
