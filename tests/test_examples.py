"""End to end: examples/train_cifar.py on a generated CIFAR-format folder (a few hundred
images, 2 epochs): the loss falls, a checkpoint is written, resuming a killed run ends
with exactly the same weights, and examples/finetune.py runs from that checkpoint."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from cifar_fixture import make_cifar_folder

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    sys.path.insert(0, str(EXAMPLES))  # finetune.py imports build_model from train_cifar.py
    try:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    return make_cifar_folder(tmp_path_factory.mktemp("cifar"), n_train=256, n_test=128, seed=0)


def tiny_run(root, tmp_path, name, *extra):
    return ["--data", str(root), "--model", "resnet20", "--epochs", "2", "--batch-size", "32", "--lr", "0.05",
            "--warmup-epochs", "0", "--checkpoint", str(tmp_path / f"{name}.pth"), "--out", str(tmp_path / name),
            "--no-progress", "--skip-content-check", *extra]  # the fixture is not the official CIFAR-10


def test_train_resume_and_finetune(cifar_root, tmp_path, capsys):
    train_cifar = load_example("train_cifar")
    full = train_cifar.main(tiny_run(cifar_root, tmp_path, "full"))
    rows = full["rows"]
    assert len(rows) == 2 and rows[1]["train_loss"] < rows[0]["train_loss"], rows
    assert (tmp_path / "full.pth").exists() and (tmp_path / "full" / "metrics.csv").exists()

    # the same run, killed after epoch 1, then resumed
    train_cifar.main(tiny_run(cifar_root, tmp_path, "killed", "--stop-after", "1"))
    resumed = train_cifar.main(tiny_run(cifar_root, tmp_path, "killed", "--resume"))
    assert [r["epoch"] for r in resumed["rows"]] == [1, 2]
    ours, theirs = resumed["model"].state_dict(), full["model"].state_dict()
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name].numpy(), value.numpy(), err_msg=f"{name} differs after resume")

    finetune = load_example("finetune")
    result = finetune.main(["--checkpoint", str(tmp_path / "full.pth"), "--data", str(cifar_root), "--epochs", "1",
                            "--batch-size", "32", "--no-progress", "--skip-content-check"])
    assert 0.0 <= result["before"] <= 1.0 and 0.0 <= result["after"] <= 1.0
    assert result["model"].fc.out_features == 2
    assert not result["model"].layer1[0].conv1.weight.requires_grad and result["model"].layer3[0].conv1.weight.requires_grad
    out = capsys.readouterr().out
    assert "before fine-tuning" in out and "after fine-tuning" in out
