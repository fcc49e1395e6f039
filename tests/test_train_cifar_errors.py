"""examples/train_cifar.py and examples/finetune.py when something is wrong: a bad flag fails at
once with argparse's error and the allowed range (exit status 2); a checkpoint is never silently
replaced, and --resume continues only the same run; a diverging run stops before it saves; missing
data, or an unreadable checkpoint, is one line naming the file or URL (exit status 1); Ctrl-C is one
line naming the last good checkpoint and the command that continues (exit status 130); after
kill -9 the run resumes. The runs use the tests' small CIFAR-format fixture, so they pass
--skip-content-check (the fixture is not the official CIFAR-10)."""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from cifar_fixture import make_cifar_folder
from test_examples import EXAMPLES, load_example

from minires.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    return make_cifar_folder(tmp_path_factory.mktemp("cifar"), n_train=256, n_test=128, seed=0)


@pytest.fixture(scope="module")
def train_cifar():
    return load_example("train_cifar")


@pytest.fixture(scope="module")
def finetune():
    return load_example("finetune")


def tiny(root, folder: Path, *extra: str) -> list[str]:
    """A 2-epoch run on the fixture: 8 steps of 32 images per epoch."""
    return ["--data", str(root), "--model", "resnet20", "--epochs", "2", "--batch-size", "32", "--lr", "0.05",
            "--warmup-epochs", "0", "--checkpoint", str(folder / "run.pth"), "--out", str(folder / "out"),
            "--no-progress", "--skip-content-check", *extra]


@pytest.fixture(scope="module")
def epoch_one(cifar_root, train_cifar, tmp_path_factory) -> Path:
    """The checkpoint of tiny()'s run stopped after epoch 1, in a folder of its own."""
    folder = tmp_path_factory.mktemp("epoch_one")
    train_cifar.main(tiny(cifar_root, folder, "--stop-after", "1"))
    return folder / "run.pth"


def copy_run(checkpoint: Path, folder: Path) -> Path:
    shutil.copy(checkpoint, folder / "run.pth")
    return folder / "run.pth"


def exits(main, argv, capsys) -> tuple[int, str]:
    """main(argv)'s exit status and stderr; a Ctrl-C that escapes main fails the test (not the session)."""
    try:
        main(argv)
    except SystemExit as e:
        return e.code, capsys.readouterr().err
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main(): the user would see a traceback")
    pytest.fail(f"main({argv}) did not exit")


# ---------------------------------------------------------------------- flags, checked before anything runs

BAD_FLAGS = [
    (["--epochs", "-1"], "argument --epochs: must be an integer >= 1, got -1"),
    (["--epochs", "0"], "argument --epochs: must be an integer >= 1"),
    (["--epochs", "2.5"], "argument --epochs: must be an integer, got '2.5'"),
    (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
    (["--train-subset", "-5"], "argument --train-subset: must be an integer >= 1, got -5"),
    (["--train-subset", "10"], "--train-subset 10 is smaller than --batch-size 32"),
    (["--test-subset", "0"], "argument --test-subset: must be an integer >= 1, got 0"),
    (["--train-subset", "1000"], "--train-subset 1000 is more than the 256 training images"),
    (["--test-subset", "1000"], "--test-subset 1000 is more than the 128 test images"),
    (["--batch-size", "512"], "--batch-size 512 is more than the 256 training images"),
    (["--model", "resnetfoo"], "argument --model: invalid choice: 'resnetfoo' (choose from 'resnet20'"),
    (["--warmup-epochs", "2"], "--warmup-epochs 2 must be less than --epochs 2 with the cosine schedule"),
    (["--warmup-epochs", "3", "--epochs", "1"], "--warmup-epochs 3 must be less than --epochs 1"),
    (["--warmup-epochs", "-1"], "argument --warmup-epochs: must be a number >= 0"),
    (["--lr", "0"], "argument --lr: must be a number > 0, got 0"),
    (["--lr", "nan"], "argument --lr: must be a finite number, got 'nan'"),
    (["--lr", "fast"], "argument --lr: must be a number, got 'fast'"),
    (["--momentum", "1"], "argument --momentum: must be a number in [0, 1), got 1"),
    (["--momentum", "-0.1"], "argument --momentum: must be a number in [0, 1)"),
    (["--weight-decay", "-0.0001"], "argument --weight-decay: must be a number >= 0"),
    (["--label-smoothing", "1"], "argument --label-smoothing: must be a number in [0, 1)"),
    (["--seed", "-1"], "argument --seed: must be an integer >= 0"),
    (["--threads", "0"], "argument --threads: must be an integer >= 1"),
    (["--threads", "100000"], "--threads must be at most"),
    (["--stop-after", "0"], "argument --stop-after: must be an integer >= 1"),
    (["--schedule", "linear"], "argument --schedule: invalid choice: 'linear'"),
    (["--checkpoint", "{folder}"], "is a folder; it must be a file name"),
    (["--checkpoint", "{file}/run.pth"], "is a file, so no folder can be made inside it"),
    (["--out", "{file}"], "is a file; it must be a folder"),
    (["--out", "{file}/out"], "is a file, so no folder can be made inside it"),
    (["--resume"], "--resume: there is no checkpoint at"),
    (["--resume", "--overwrite"], "--resume and --overwrite exclude each other"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_train_cifar_bad_flag_fails_at_once(flags, message, cifar_root, train_cifar, tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    flags = [f.format(folder=tmp_path, file=tmp_path / "a_file") for f in flags]
    status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path, *flags), capsys)
    assert status == 2, err
    assert message in err, err
    assert "train_cifar.py: error:" in err and "Traceback" not in err
    assert not (tmp_path / "run.pth").exists() and not (tmp_path / "out").exists(), "it started anyway"


def test_train_cifar_unwritable_checkpoint_and_out(cifar_root, train_cifar, tmp_path, capsys, monkeypatch):
    """os.access is the check (the tests run as root, for whom every folder is writable)."""
    monkeypatch.setattr(train_cifar.os, "access", lambda path, mode: Path(path) != tmp_path / "locked")
    (tmp_path / "locked").mkdir()
    for flag, value in (("--checkpoint", tmp_path / "locked" / "sub" / "run.pth"), ("--out", tmp_path / "locked")):
        status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path, flag, str(value)), capsys)
        assert status == 2 and f"{flag} {value}: cannot write in {tmp_path / 'locked'}" in err, err


def test_train_cifar_cuda_without_a_gpu(cifar_root, train_cifar, tmp_path, capsys):
    import minires.backend

    if minires.backend.gpu_available():
        pytest.skip("this machine has a GPU")
    status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path, "--device", "cuda"), capsys)
    assert status == 2 and "--device cuda: no CUDA GPU is usable here" in err, err


WARMUPS = [  # (flags, the warm-up the run gets): a left-out --warmup-epochs is the default 2, shortened to fit
    ([], 2), (["--epochs", "3"], 2), (["--epochs", "2"], 1), (["--epochs", "1"], 0.5),
    (["--epochs", "1", "--schedule", "multistep"], 2),  # the other schedules ignore it
    (["--epochs", "1", "--warmup-epochs", "0.25"], 0.25),
]


@pytest.mark.parametrize(("flags", "warmup"), WARMUPS, ids=[" ".join(f) or "defaults" for f, _ in WARMUPS])
def test_the_default_warmup_shortens_to_fit_small_epochs(flags, warmup, train_cifar, tmp_path):
    args = train_cifar.parse_args(["--checkpoint", str(tmp_path / "run.pth"), "--out", str(tmp_path / "out"), *flags])
    assert args.warmup_epochs == warmup
    shortened = "(warm-up 0.5 epochs: the default 2 shortened to fit)"
    assert (shortened in train_cifar.schedule_text(args)) == (warmup == 0.5 and "0.25" not in flags), \
        train_cifar.schedule_text(args)
    continue_with = train_cifar.command(args, resume=True)  # leaves out what the default gives anyway
    assert ("--warmup-epochs" in continue_with) == ("0.25" in flags), continue_with
    (tmp_path / "run.pth").write_bytes(b"a checkpoint, for --resume to find")
    assert train_cifar.parse_args(shlex.split(continue_with)[2:]).warmup_epochs == warmup


def test_resume_names_an_older_npz_checkpoint_beside_the_missing_one(cifar_root, train_cifar, tmp_path, capsys):
    (tmp_path / "run.npz").write_bytes(b"an older minires's checkpoint")
    status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path, "--resume"), capsys)
    assert status == 2 and f"no checkpoint at {tmp_path / 'run.pth'} to continue; an older checkpoint is at " \
                           f"{tmp_path / 'run.npz'}" in err, err


# ---------------------------------------------------------------------- the checkpoint: never replaced unasked


def test_new_run_refuses_an_existing_checkpoint(cifar_root, train_cifar, tmp_path, capsys):
    (tmp_path / "run.pth").write_bytes(b"epoch 14 of an earlier run")
    status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path), capsys)
    assert status == 2 and "already exists; pass --resume to continue that run, or --overwrite" in err, err
    assert (tmp_path / "run.pth").read_bytes() == b"epoch 14 of an earlier run"

    result = train_cifar.main(tiny(cifar_root, tmp_path, "--overwrite", "--epochs", "1"))
    assert [r["epoch"] for r in result["rows"]] == [1]
    assert (tmp_path / "run.pth").read_bytes() != b"epoch 14 of an earlier run"


def test_resume_refuses_other_settings(cifar_root, train_cifar, epoch_one, tmp_path, capsys):
    copy_run(epoch_one, tmp_path)
    before = (tmp_path / "run.pth").read_bytes()
    changed = ["--epochs", "3", "--lr", "0.2", "--batch-size", "64", "--nesterov", "--schedule", "multistep",
               "--seed", "7", "--resume"]
    status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path, *changed), capsys)
    assert status == 2, err
    for difference in ("--epochs 2 in the checkpoint, 3 now", "--lr 0.05 in the checkpoint, 0.2 now",
                       "--batch-size 32 in the checkpoint, 64 now", "--nesterov off in the checkpoint, on now",
                       "--schedule cosine in the checkpoint, multistep now", "--seed 0 in the checkpoint, 7 now"):
        assert difference in err, err
    error = err.strip().splitlines()[-1]  # after argparse's usage
    assert "--momentum" not in error and "--overwrite" in error, error
    assert (tmp_path / "run.pth").read_bytes() == before

    # where and how it runs may change: another --out, --test-subset, progress bar
    result = train_cifar.main(tiny(cifar_root, tmp_path, "--resume", "--test-subset", "64", "--out",
                                   str(tmp_path / "elsewhere")))
    assert [r["epoch"] for r in result["rows"]] == [1, 2]


def test_resume_from_an_unusable_checkpoint(cifar_root, train_cifar, epoch_one, tmp_path, capsys):
    checkpoint = tmp_path / "run.pth"
    checkpoint.write_bytes(epoch_one.read_bytes()[:3000])  # truncated, as by a full disk
    status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path, "--resume"), capsys)
    assert status == 1 and err.startswith("train_cifar: --resume:") and str(checkpoint) in err, err
    assert err.count("\n") == 1 and "Traceback" not in err

    save_checkpoint(checkpoint, weights=np.zeros(3))  # readable, but not train_cifar.py's
    status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path, "--resume"), capsys)
    assert status == 1 and f"{checkpoint} is not a train_cifar.py checkpoint" in err, err


# ---------------------------------------------------------------------- divergence: stopped, never saved


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow warnings, on the way to nan
def test_divergence_stops_before_the_first_save(cifar_root, train_cifar, tmp_path, capsys):
    status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path, "--lr", "1e6"), capsys)
    assert status == 1, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("train_cifar: stopped: the training loss was nan at epoch 1/2, step "), line
    assert "there is no checkpoint of this run yet" in line and "try a lower --lr than 1e+06" in line, line
    assert not (tmp_path / "run.pth").exists()


def test_divergence_keeps_the_last_good_checkpoint(cifar_root, train_cifar, epoch_one, tmp_path, capsys,
                                                   monkeypatch):
    """The loss turns nan at the third step of epoch 2; the epoch-1 checkpoint must survive."""
    checkpoint = copy_run(epoch_one, tmp_path)
    before = checkpoint.read_bytes()
    real, steps = train_cifar.F.cross_entropy, []

    def cross_entropy(logits, labels, **kwargs):
        loss = real(logits, labels, **kwargs)
        if logits.requires_grad:  # a training step, not the evaluation
            steps.append(1)
            if len(steps) >= 3:
                loss = loss * float("nan")
        return loss

    monkeypatch.setattr(train_cifar, "F", types.SimpleNamespace(cross_entropy=cross_entropy))
    status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path, "--resume"), capsys)
    assert status == 1, err
    assert "the training loss was nan at epoch 2/2, step 3/8, so epoch 2 is not saved" in err, err
    assert f"the last good checkpoint is {checkpoint} (epoch 1/2)" in err, err
    assert checkpoint.read_bytes() == before


# ---------------------------------------------------------------------- no data, offline


def test_no_data_and_no_network(cifar_root, train_cifar, tmp_path, capsys, monkeypatch):
    nowhere = (tmp_path / "offline" / "cifar-10-python.tar.gz").as_uri()  # fails as an unreachable https:// does
    monkeypatch.setattr(train_cifar.CIFAR10, "url", nowhere)
    argv = tiny(cifar_root, tmp_path)
    argv[argv.index("--data") + 1] = str(tmp_path / "data")
    status, err = exits(train_cifar.main, argv, capsys)
    assert status == 1, err
    assert err.count("\n") == 1 and err.startswith("train_cifar: ") and "Traceback" not in err, err
    assert nowhere in err and "--data" in err, err


# ---------------------------------------------------------------------- Ctrl-C and kill -9


@pytest.mark.parametrize("when", ["before the rename", "after the rename"])
def test_ctrl_c_during_a_save(when, cifar_root, train_cifar, epoch_one, tmp_path, capsys, monkeypatch):
    """A Ctrl-C while epoch 2 is saved: the checkpoint holds epoch 1 or epoch 2, never a torn file,
    and the message says which."""
    checkpoint = copy_run(epoch_one, tmp_path)
    before = checkpoint.read_bytes()
    real = train_cifar.save_checkpoint

    def save_checkpoint(path, **state):
        if when == "after the rename":
            real(path, **state)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cifar, "save_checkpoint", save_checkpoint)
    status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path, "--resume"), capsys)
    assert status == 130, err
    saved = 1 if when == "before the rename" else 2
    assert f"interrupted while saving epoch 2/2; the last good checkpoint is {checkpoint} (epoch {saved}/2); " \
           f"continue with: python " in err and err.strip().endswith("--resume"), err
    assert (checkpoint.read_bytes() == before) == (saved == 1)


# Runs a script as `python script args` does, but with Ctrl-C raising KeyboardInterrupt even where
# this test process was started with SIGINT ignored (a background job), which its children inherit.
AS_SCRIPT = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def start(argv: list[str]) -> subprocess.Popen:
    """train_cifar.py in a process of its own."""
    return subprocess.Popen([sys.executable, "-c", AS_SCRIPT, str(EXAMPLES / "train_cifar.py"), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)


def wait_for(proc: subprocess.Popen, text: str) -> str:
    """Read stdout until a line holds text; returns what was read."""
    seen = ""
    for line in proc.stdout:
        seen += line
        if text in line:
            return seen
    proc.wait(timeout=30)
    pytest.fail(f"the run ended (status {proc.returncode}) before printing {text!r}:\n{seen}\n{proc.stderr.read()}")


def test_ctrl_c_mid_epoch(cifar_root, train_cifar, tmp_path):
    argv = tiny(cifar_root, tmp_path, "--epochs", "40")
    argv.remove("--no-progress")  # with the progress bar, as a user runs it
    proc = start(argv)
    try:
        wait_for(proc, "saved")  # epoch 1 is saved; epoch 2 runs
        time.sleep(0.3)  # a few steps into it
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    line = err.strip()
    assert line.startswith("train_cifar: interrupted ") and "/40" in line, line
    assert f"the last good checkpoint is {tmp_path / 'run.pth'} (epoch " in line, line
    command = line.split("continue with: ")[1]
    assert command.startswith("python ") and command.endswith(" --resume"), line

    saved = int(line.split("(epoch ")[1].split("/")[0])
    result = train_cifar.main([*shlex.split(command)[2:], "--stop-after", "1", "--no-progress"])  # the command works
    assert result["rows"][-1]["epoch"] == saved + 1


def test_ctrl_c_in_the_first_epoch(cifar_root, tmp_path):
    proc = start(tiny(cifar_root, tmp_path, "--epochs", "40"))
    try:
        wait_for(proc, "minires")  # the header: data loaded, model built, epoch 1 starting
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert "train_cifar: interrupted " in err and "epoch 1/40" in err, err
    assert "there is no checkpoint of this run yet; start again with: python " in err, err
    assert not (tmp_path / "run.pth").exists()


def test_kill_9_mid_epoch_then_resume(cifar_root, train_cifar, tmp_path, capsys):
    proc = start(tiny(cifar_root, tmp_path, "--epochs", "40"))
    try:
        wait_for(proc, "saved")
        time.sleep(0.2)  # into epoch 2
        proc.kill()  # SIGKILL: no handler runs
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL

    status, err = exits(train_cifar.main, tiny(cifar_root, tmp_path, "--epochs", "40"), capsys)
    assert status == 2 and "--resume" in err, "a new run must not replace the killed run's checkpoint"
    result = train_cifar.main(tiny(cifar_root, tmp_path, "--epochs", "40", "--resume", "--stop-after", "1"))
    assert len(result["rows"]) >= 2 and [r["epoch"] for r in result["rows"]] == list(range(1, len(result["rows"]) + 1))


# ---------------------------------------------------------------------- finetune.py


def finetune_argv(root, checkpoint, *extra: str) -> list[str]:
    return ["--checkpoint", str(checkpoint), "--data", str(root), "--epochs", "1", "--batch-size", "32",
            "--no-progress", "--skip-content-check", *extra]


FINETUNE_BAD_FLAGS = [
    (["--epochs", "0"], "argument --epochs: must be an integer >= 1"),
    (["--lr", "-0.01"], "argument --lr: must be a number > 0"),
    (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
    (["--seed", "-3"], "argument --seed: must be an integer >= 0"),
    (["--train-subset", "0"], "argument --train-subset: must be an integer >= 1"),
    (["--train-subset", "16"], "--train-subset 16 is smaller than --batch-size 32"),
    (["--test-subset", "1000"], "--test-subset 1000 is more than the 128 test images"),
    (["--checkpoint", "{missing}"], "no such file; train a model first with examples/train_cifar.py"),
    (["--checkpoint", "{folder}"], "is a folder; it must be the checkpoint file that train_cifar.py wrote"),
]


@pytest.mark.parametrize(("flags", "message"), FINETUNE_BAD_FLAGS, ids=[" ".join(f) for f, _ in FINETUNE_BAD_FLAGS])
def test_finetune_bad_flag(flags, message, cifar_root, finetune, epoch_one, tmp_path, capsys):
    flags = [f.format(missing=tmp_path / "none.pth", folder=tmp_path) for f in flags]
    status, err = exits(finetune.main, finetune_argv(cifar_root, epoch_one, *flags), capsys)
    assert status == 2 and message in err and "finetune.py: error:" in err, err


def test_finetune_unusable_checkpoint(cifar_root, finetune, epoch_one, tmp_path, capsys):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(epoch_one.read_bytes()[:3000])
    status, err = exits(finetune.main, finetune_argv(cifar_root, truncated), capsys)
    assert status == 1 and err.startswith("finetune: ") and str(truncated) in err and err.count("\n") == 1, err

    bare = tmp_path / "bare.pth"  # the weights without the run's settings (which model?)
    save_checkpoint(bare, model={"fc.weight": np.zeros((10, 64), np.float32)}, epoch=1)
    status, err = exits(finetune.main, finetune_argv(cifar_root, bare), capsys)
    assert status == 1 and f"{bare} is not a train_cifar.py checkpoint" in err and "args" in err, err


# ---------------------------------------------------------------------- finetune.py --weights


def pretrained_argv(root, weights, *extra: str) -> list[str]:
    return ["--weights", str(weights), "--data", str(root), "--skip-content-check", "--epochs", "1",
            "--batch-size", "32", "--train-subset", "64", "--test-subset", "64", "--no-progress", *extra]


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory) -> Path:
    """A torchvision-named ResNet-18's state_dict (ImageNet's 1000-class head), written with minires.save."""
    import minires
    from minires.vision import models

    minires.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    minires.save(models.resnet18().state_dict(), path)
    return path


def test_finetune_a_pretrained_resnet18_file(cifar_root, finetune, resnet18_file, capsys):
    result = finetune.main(pretrained_argv(cifar_root, resnet18_file, "--lr", "0.01", "--head-lr-mult", "10"))
    assert 0.0 <= result["before"] <= 1.0 and 0.0 <= result["after"] <= 1.0
    model, opt = result["model"], result["optimizer"]
    assert model.fc.in_features == 512 and model.fc.out_features == 2
    frozen = [p for name, p in model.named_parameters() if not name.startswith(("layer4.", "fc."))]
    assert frozen and all(not p.requires_grad and p.grad is None for p in frozen), "frozen layers got gradients"
    assert all(p.requires_grad and p.grad is not None for p in model.layer4.parameters())
    head = next(g for g in opt.param_groups if any(p is model.fc.weight for p in g["params"]))
    assert head["lr"] == pytest.approx(0.1) and len(head["params"]) == 2
    assert [g["lr"] for g in opt.param_groups if g is not head] == [0.01]
    import minires
    saved = minires.load(resnet18_file)  # frozen BN layers stayed in eval mode: their statistics are as loaded
    for name in ("bn1", "layer1.0.bn1", "layer3.1.bn2"):
        np.testing.assert_array_equal(model.state_dict()[f"{name}.running_mean"].numpy(),
                                      saved[f"{name}.running_mean"].numpy(), err_msg=name)
    assert not np.array_equal(model.layer4[0].bn1.running_mean.numpy(), saved["layer4.0.bn1.running_mean"].numpy())
    out = capsys.readouterr().out
    assert f"resnet18 from {resnet18_file}" in out and "head lr 0.1" in out and "after fine-tuning" in out


def test_finetune_head_only_and_frozen_bn_in_train_mode(cifar_root, finetune, resnet18_file, capsys):
    result = finetune.main(pretrained_argv(cifar_root, resnet18_file, "--unfreeze", "head", "--frozen-bn", "train",
                                           "--epochs", "1", "--train-subset", "32"))
    model, opt = result["model"], result["optimizer"]
    assert [len(g["params"]) for g in opt.param_groups] == [2]
    assert all(p.grad is None for name, p in model.named_parameters() if not name.startswith("fc."))
    import minires
    saved = minires.load(resnet18_file)  # --frozen-bn train: frozen BN layers normalise with batch statistics
    assert not np.array_equal(model.bn1.running_mean.numpy(), saved["bn1.running_mean"].numpy())


def test_frozen_conv_between_trainable_layers_computes_no_weight_gradient(monkeypatch):
    """A frozen layer after a trainable one is in the graph (the gradient flows through it),
    but Conv2d.backward skips its weight gradient."""
    import minires
    from minires import nn
    from minires.kernels import conv

    computed = []
    original = conv.conv2d_backward

    def backward(x, gy, w, stride, padding, dilation, groups, need_gx, need_gw):
        if need_gw:
            computed.append(w.shape)
        return original(x, gy, w, stride, padding, dilation, groups, need_gx, need_gw)

    monkeypatch.setattr(conv, "conv2d_backward", backward)
    first, frozen = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 5, 3, padding=1)
    frozen.requires_grad_(False)
    frozen(first(minires.randn(2, 3, 8, 8))).sum().backward()
    assert frozen.weight.grad is None and frozen.bias.grad is None
    assert first.weight.grad is not None and computed == [(4, 3, 3, 3)]


def test_finetune_weights_bad_flags(cifar_root, finetune, resnet18_file, tmp_path, capsys):
    status, err = exits(finetune.main, pretrained_argv(cifar_root, tmp_path / "none.pth"), capsys)
    assert status == 2 and "--weights" in err and "no such file" in err, err
    status, err = exits(finetune.main, pretrained_argv(cifar_root, "IMAGENET9K_V7"), capsys)
    assert status == 2 and "IMAGENET1K_V1" in err, err
    status, err = exits(finetune.main, pretrained_argv(cifar_root, resnet18_file, "--checkpoint", "run.pth"), capsys)
    assert status == 2 and "not allowed with argument" in err, err
    status, err = exits(finetune.main, pretrained_argv(cifar_root, resnet18_file, "--head-lr-mult", "0"), capsys)
    assert status == 2 and "argument --head-lr-mult: must be a number > 0" in err, err


def test_finetune_weights_not_a_resnet18(cifar_root, finetune, tmp_path, capsys):
    import minires

    wrong = tmp_path / "wrong.pth"
    minires.save({"fc.weight": minires.zeros(10, 64)}, wrong)
    status, err = exits(finetune.main, pretrained_argv(cifar_root, wrong), capsys)
    assert status == 1 and err.startswith("finetune: ") and str(wrong) in err and err.count("\n") == 1, err


def test_finetune_weight_name_offline_names_the_url(cifar_root, finetune, tmp_path, monkeypatch, capsys):
    import socket
    import urllib.error
    import urllib.request

    def urlopen(url, *args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    status, err = exits(finetune.main, pretrained_argv(cifar_root, "IMAGENET1K_V1"), capsys)
    url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert status == 1 and err.startswith(f"finetune: --weights IMAGENET1K_V1: could not download {url} ") and \
        "pass --weights '/path/to/resnet18-f37072fd.pth'" in err and err.count("\n") == 1, err
