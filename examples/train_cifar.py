"""Train a ResNet on CIFAR-10 with minires.

    python examples/train_cifar.py                              # ResNet-20, the laptop recipe
    python examples/train_cifar.py --data ../shared/data --epochs 30
    python examples/train_cifar.py --resume                     # continue a killed run
    python examples/train_cifar.py --epochs 182 --schedule multistep --warmup-epochs 0 --weight-decay 1e-4  # the paper's

Every epoch prints one line (train and test loss/accuracy, time, images/s), saves a
checkpoint (model with its BatchNorm buffers, optimizer, scheduler, epoch, RNG state, the
run's settings and metrics) in PyTorch's format, so torch.load(path, weights_only=True)
reads it too, appends to a CSV of metrics and redraws a PNG of the curves. --resume also
reads the .npz checkpoints of older minires versions.

Any --epochs works with the default flags: the default 2 warm-up epochs are shortened to
half the run when they would not fit (--epochs 1 or 2), and the first line says so. A
--warmup-epochs given on the command line that does not fit is refused.

What the script refuses, and how it stops:

- Every flag is checked before any data is read: a bad value is an argparse error
  (exit status 2) that names the flag and its allowed range.
- A new run never replaces an existing --checkpoint unless told: pass --resume to
  continue that run, or --overwrite to start a new one over it. --resume continues only
  the same run: the flags in RUN_FLAGS (model, epochs, batch size, learning rate and
  schedule, optimizer settings, seed, training subset) must equal the saved run's;
  the others (--data, --device, --threads, --checkpoint, --out, --test-subset,
  --stop-after, --no-progress, --skip-content-check) say where and how it runs, and
  may change.
- Missing or unreadable data or checkpoint: one line naming the file or URL (exit 1).
- A loss that is not finite (nan or inf) stops the run at once, naming the epoch and
  step; that epoch is never saved, so the checkpoint keeps the last good one (exit 1).
- Ctrl-C prints where the run stopped, which checkpoint is the last good one and the
  command that continues it (exit 130). Checkpoints are written atomically, so a
  Ctrl-C (or kill -9) in the middle of a save leaves the previous one intact.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

import minires as mr
import minires.nn.functional as F
from minires import optim
from minires.checkpoint import CheckpointError, is_npz_checkpoint, load_checkpoint, save_checkpoint
from minires.data import CIFAR10, DataLoader, transforms
from minires.nn import models

# The default recipe finishes on a 2-core laptop; the paper's is one flag set away.
DEFAULTS = {
    "model": "resnet20",
    "epochs": 30,
    "batch_size": 128,
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "schedule": "cosine",
    "warmup_epochs": 2,
    "label_smoothing": 0.0,
}
MODELS = ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110",  # the paper's CIFAR ResNets
          "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",  # ImageNet's, with a CIFAR stem
          "resnext29",  # a laptop-sized ResNeXt-29 (2x16d)
          "densenet_bc100"]  # DenseNet-BC, L=100, k=12 (Huang et al. 2017)
# The flags that define a run: --resume refuses to continue a checkpoint saved with other values.
RUN_FLAGS = ["model", "epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "schedule",
             "warmup_epochs", "label_smoothing", "seed", "train_subset"]
# What a checkpoint holds, one dict written with minires.save (so torch.load(path, weights_only=True) reads it):
# model, optimizer, scheduler: their state_dicts in PyTorch's layout (tensors under PyTorch's names and keys);
# epoch: the epochs done; rng: minires's generator state (numbers and strings); args: vars(args), the flags;
# metrics: {"names": metrics.csv's columns, "rows": one list per epoch}.
CHECKPOINT_KEYS = ["model", "optimizer", "scheduler", "epoch", "rng", "args", "metrics"]


# ---------------------------------------------------------------------- flags, checked before anything runs


def _number(kind: type, text: str) -> int | float:
    """text as an int or a finite float, or argparse's error."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (epochs, batch size, subset sizes, threads)."""
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (the seed)."""
    value = _number(int, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (the learning rate)."""
    value = _number(float, text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (weight decay, warm-up epochs)."""
    value = _number(float, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1) (momentum, label smoothing)."""
    value = _number(float, text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train_cifar.py", description="Train a ResNet on CIFAR-10 with minires.",
        epilog="--resume continues the run saved in --checkpoint, and refuses if any of --model, --epochs, "
               "--batch-size, --lr, --momentum, --nesterov, --weight-decay, --schedule, --warmup-epochs, "
               "--label-smoothing, --seed or --train-subset differs from the saved run's; the other flags may "
               "change. Exit status: 0 done, 1 data, checkpoint or divergence trouble (one line says which), "
               "2 a bad flag, 130 interrupted (Ctrl-C).")
    p.add_argument("--model", choices=MODELS, default=DEFAULTS["model"], metavar="MODEL",
                   help=f"one of {', '.join(MODELS)} (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=DEFAULTS["epochs"], help="integer >= 1")
    p.add_argument("--batch-size", type=positive_int, default=DEFAULTS["batch_size"], help="integer >= 1")
    p.add_argument("--lr", type=positive_float, default=DEFAULTS["lr"], help="peak learning rate, > 0")
    p.add_argument("--momentum", type=fraction, default=DEFAULTS["momentum"], help="in [0, 1)")
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=nonnegative_float, default=DEFAULTS["weight_decay"], help=">= 0")
    p.add_argument("--schedule", choices=["cosine", "multistep", "onecycle", "constant"],
                   default=DEFAULTS["schedule"], help="multistep: x0.1 at 50%% and 75%% of the epochs (the paper)")
    p.add_argument("--warmup-epochs", type=nonnegative_float, default=None,
                   help=f"linear warm-up before the cosine schedule, >= 0 and less than --epochs (default "
                        f"{DEFAULTS['warmup_epochs']}, or half the run when --epochs is {DEFAULTS['warmup_epochs']} "
                        f"or less; the other schedules ignore it)")
    p.add_argument("--label-smoothing", type=fraction, default=DEFAULTS["label_smoothing"], help="in [0, 1)")
    p.add_argument("--data", default="./data", help="folder holding cifar-10-batches-py/ (downloaded if absent)")
    p.add_argument("--skip-content-check", action="store_true",
                   help="do not compare the batches with the official CIFAR-10's sha256 (for CIFAR-format "
                        "folders of other images, such as the tests' fixtures)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="integer >= 0")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads, integer >= 1 (default: MINIRES_THREADS or all cores)")
    p.add_argument("--checkpoint", default="checkpoints/train_cifar.pth",
                   help="the file saved every epoch, in PyTorch's format whatever its name (torch.load reads it); "
                        "--resume also reads an .npz checkpoint of older minires versions")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start a new run even if --checkpoint exists")
    p.add_argument("--out", default="runs/train_cifar", help="folder for metrics.csv and curves.png")
    p.add_argument("--train-subset", type=positive_int, default=None,
                   help="use only the first N training images (at least --batch-size)")
    p.add_argument("--test-subset", type=positive_int, default=None, help="use only the first N test images")
    p.add_argument("--stop-after", type=positive_int, default=None,
                   help="stop after this many epochs of this run, as if killed (then --resume)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel on every process mpiexec started (mpiexec -n P python train_cifar.py "
                        "--distributed): --batch-size images per process, P x that per step; only rank 0 "
                        "prints and saves (docs/distributed.md)")
    p.add_argument("--sync-bn", action="store_true",
                   help="with --distributed: BatchNorm statistics over all processes' images (SyncBatchNorm)")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, every flag checked (argparse's error, exit status 2, on a bad one)."""
    p = build_parser()
    args = p.parse_args(argv)
    check_args(p, args)
    return args


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The checks that involve more than one flag, or the file system; p.error on the first failure."""
    check_subset_fits_batch(p, args)
    if args.warmup_epochs is None:  # not given: the default, shortened if it does not fit
        args.warmup_epochs = default_warmup(args.epochs, args.schedule)
    elif args.schedule == "cosine" and args.warmup_epochs >= args.epochs:
        p.error(f"--warmup-epochs {args.warmup_epochs:g} must be less than --epochs {args.epochs} with the cosine "
                f"schedule; pass a smaller --warmup-epochs (e.g. {args.epochs / 2:g}, or 0), or leave it out for "
                f"the default, shortened to fit")
    if args.threads is not None:
        limit = os.cpu_count() or 1
        if mr.backend.numba_available():
            import numba

            limit = numba.config.NUMBA_NUM_THREADS
        if args.threads > limit:
            p.error(f"--threads must be at most {limit} on this machine, got {args.threads}")
    if args.device == "cuda" and not mr.backend.gpu_available():
        p.error("--device cuda: no CUDA GPU is usable here (cupy is not installed, or sees no device); "
                "use --device cpu")
    check_writable(p, "--checkpoint", Path(args.checkpoint), folder=False)
    check_writable(p, "--out", Path(args.out), folder=True)
    checkpoint = Path(args.checkpoint)
    if args.sync_bn and not args.distributed:
        p.error("--sync-bn synchronises BatchNorm across the processes of a --distributed run; add --distributed")
    if args.resume and args.overwrite:
        p.error("--resume and --overwrite exclude each other: --resume continues the run in --checkpoint, "
                "--overwrite starts a new one over it")
    if args.resume and not checkpoint.exists():
        older = checkpoint.with_suffix(".npz")  # the default name before checkpoints were PyTorch's format
        hint = f"; an older checkpoint is at {older}" if checkpoint.suffix == ".pth" and older.exists() else ""
        p.error(f"--resume: there is no checkpoint at {checkpoint} to continue{hint} (leave out --resume to start "
                f"a new run, or point --checkpoint at the run's file)")
    if not args.resume and not args.overwrite and checkpoint.exists():
        p.error(f"--checkpoint {checkpoint} already exists; pass --resume to continue that run, or --overwrite "
                f"to start a new run over it (or choose another --checkpoint)")


def check_writable(p: argparse.ArgumentParser, flag: str, path: Path, folder: bool) -> None:
    """p.error unless path is (or can be created as) a writable file, or folder."""
    if folder and path.exists() and not path.is_dir():
        p.error(f"{flag} {path} is a file; it must be a folder (or a name for a new one)")
    if not folder and path.is_dir():
        p.error(f"{flag} {path} is a folder; it must be a file name, such as {path / 'train_cifar.pth'}")
    existing = path if folder and path.is_dir() else path.parent
    while not existing.exists() and existing != existing.parent:  # the nearest folder that is already there
        existing = existing.parent
    if not existing.is_dir():
        p.error(f"{flag} {path}: {existing} is a file, so no folder can be made inside it")
    if not os.access(existing, os.W_OK | os.X_OK):
        p.error(f"{flag} {path}: cannot write in {existing} (permission denied)")


def default_warmup(epochs: int, schedule: str) -> float:
    """--warmup-epochs when it is not given: DEFAULTS' 2, or half the run when 2 would leave the
    cosine schedule nothing to decay (--epochs 1 warms up for half an epoch, then decays)."""
    if schedule == "cosine" and DEFAULTS["warmup_epochs"] >= epochs:
        return epochs / 2
    return DEFAULTS["warmup_epochs"]


def build_model(name: str) -> mr.nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; the models are {', '.join(MODELS)}")
    if name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        return getattr(models, name)(num_classes=10, stem="cifar")
    if name == "resnext29":
        return models.resnext29(num_classes=10, cardinality=2, width_per_group=16)
    return getattr(models, name)(num_classes=10)


def build_schedule(opt: optim.Optimizer, args: argparse.Namespace, steps_per_epoch: int):
    """A per-batch schedule over the whole run."""
    total = args.epochs * steps_per_epoch
    if args.schedule == "cosine":
        warmup = int(args.warmup_epochs * steps_per_epoch)
        return optim.lr_scheduler.WarmupCosineLR(opt, warmup=warmup, total=total, start_factor=0.1)
    if args.schedule == "multistep":
        milestones = [int(0.5 * total), int(0.75 * total)]
        return optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
    if args.schedule == "onecycle":
        return optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total)
    return optim.lr_scheduler.StepLR(opt, step_size=total + 1, gamma=1.0)


def parameter_groups(model: mr.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on BatchNorm weights and biases (1-D parameters), as is standard."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def subset(dataset: CIFAR10, n: int | None) -> CIFAR10:
    if n is not None:
        dataset.data, dataset.targets = dataset.data[:n], dataset.targets[:n]
    return dataset


@mr.no_grad()
def evaluate(model: mr.nn.Module, loader: DataLoader, device: str) -> tuple[float, float]:
    """(mean loss, accuracy) over the loader, in eval mode."""
    model.eval()
    loss_sum = correct = count = 0.0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        loss_sum += F.cross_entropy(logits, labels).item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        count += len(labels)
    model.train()
    return loss_sum / count, correct / count


def save_curves(rows: list[dict], out: Path) -> None:
    """metrics.csv always; curves.png when matplotlib is installed (pip install 'minires[plot]')."""
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot_curves(rows, out / "curves.png")


def plot_curves(rows: list[dict], path: Path) -> None:
    """Loss and accuracy per epoch, train and test, as a PNG (nothing without matplotlib).
    rows: metrics.csv's rows (epoch, train_loss, test_loss, train_acc, test_acc as numbers)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], label="train")
    ax_loss.plot(epochs, [r["test_loss"] for r in rows], label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, [100 * r["train_acc"] for r in rows], label="train")
    ax_acc.plot(epochs, [100 * r["test_acc"] for r in rows], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------- stopping cleanly


class Progress:
    """Where the run is, for the line that a Ctrl-C or a divergence prints."""

    def __init__(self, checkpoint: Path, epochs: int):
        self.checkpoint, self.epochs = checkpoint, epochs
        self.phase = "starting"  # "loading data", "training", "testing", "saving", "writing metrics"
        self.epoch = 0  # the epoch in progress, counted from 1
        self.step = 0  # the step in progress, counted from 1 (0: the epoch's first batch is not there yet)
        self.steps = 0  # steps per epoch
        self.saved_epoch: int | None = None  # the epoch of this run that --checkpoint holds (None: none yet)
        self.before_save: tuple | None = None  # file_id(checkpoint) as the save began

    def where(self) -> str:
        if self.phase == "training" and self.step == 0:
            return f"at the start of epoch {self.epoch}/{self.epochs}"
        if self.phase == "training":
            return f"in epoch {self.epoch}/{self.epochs} at step {self.step}/{self.steps}"
        if self.phase in ("testing", "saving", "writing metrics"):
            return f"while {self.phase} epoch {self.epoch}/{self.epochs}"
        return f"while {self.phase}, before training"

    def last_good(self) -> str:
        if self.saved_epoch is None:
            earlier = " (the file there is an earlier run's)" if self.checkpoint.exists() else ""
            return f"there is no checkpoint of this run yet{earlier}"
        return f"the last good checkpoint is {self.checkpoint} (epoch {self.saved_epoch}/{self.epochs})"


def fail(message: str, status: int = 1):
    """One line on stderr and exit: the script's errors that are not about a flag."""
    print(f"train_cifar: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def command(args: argparse.Namespace, *, resume: bool) -> str:
    """The command line that reruns (or with resume=True, continues) this run: every flag not at its default."""
    try:
        script = os.path.relpath(__file__)
    except ValueError:  # another drive, on Windows
        script = __file__
    defaults = vars(build_parser().parse_args([]))
    words = ["python", script]
    for name, value in vars(args).items():
        if name in ("resume", "overwrite", "stop_after") or value == defaults[name]:
            continue
        if name == "warmup_epochs" and value == default_warmup(args.epochs, args.schedule):
            continue
        flag = "--" + name.replace("_", "-")
        words += [flag] if value is True else [flag, shown(value)]
    if resume:
        words.append("--resume")
    elif Path(args.checkpoint).exists():
        words.append("--overwrite")
    return shlex.join(words)


def interrupted(args: argparse.Namespace, progress: Progress) -> None:
    """Ctrl-C: say where it stopped, which checkpoint is good, and how to go on; exit status 130."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None  # a second Ctrl-C
    try:
        if progress.phase == "saving" and file_id(progress.checkpoint) != progress.before_save:
            progress.saved_epoch = progress.epoch  # the save finished (renamed into place) before the Ctrl-C
        if progress.saved_epoch is None:
            then = f"start again with: {command(args, resume=False)}"
        else:
            then = f"continue with: {command(args, resume=True)}"
        print(f"train_cifar: interrupted {progress.where()}; {progress.last_good()}; {then}", file=sys.stderr,
              flush=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    sys.exit(130)


def diverged(args: argparse.Namespace, progress: Progress, what: str) -> None:
    """A non-finite loss or weights: stop before anything is saved; exit status 1."""
    advice = f"try a lower --lr than {args.lr:g} (e.g. --lr {args.lr / 10:g})"
    if args.schedule == "cosine":
        advice += " or a longer --warmup-epochs"
    advice += f"; {'a new run needs --overwrite' if progress.checkpoint.exists() else 'then run again'}"
    fail(f"stopped: {what}, so epoch {progress.epoch} is not saved; {progress.last_good()}; {advice}")


def file_id(path: Path) -> tuple | None:
    """Changes whenever path is replaced (a save renames a new file over it); None if there is none."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def non_finite(model: mr.nn.Module) -> list[str]:
    """Names of the parameters and buffers holding nan or inf."""
    bad = []
    for name, tensor in model.state_dict().items():
        xp = mr.backend.array_module(tensor.array)
        if tensor.array.dtype.kind == "f" and not bool(xp.isfinite(tensor.array).all()):
            bad.append(name)
    return bad


def shown(value) -> str:
    """A flag's value as the messages print it: on/off, not given, 0.05 rather than 0.05000000000000001."""
    if value is None or isinstance(value, bool):
        return {None: "not given", True: "on", False: "off"}[value]
    if isinstance(value, float) and float(f"{value:g}") == value:
        return f"{value:g}"  # 0 rather than 0.0, 1e+06 rather than 1000000.0, when nothing is lost
    return str(value)


def resume_state(args: argparse.Namespace) -> dict:
    """The checkpoint to continue, once it is known to be readable and to hold this same run."""
    checkpoint = Path(args.checkpoint)
    try:
        state = load_checkpoint(checkpoint)  # PyTorch's format, or an older minires's .npz
    except (OSError, CheckpointError) as e:
        fail(f"--resume: {e}" if str(checkpoint) in str(e) else f"--resume: cannot read {checkpoint}: {e}")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing or not isinstance(state["args"], dict):
        fail(f"--resume: {checkpoint} is not a train_cifar.py checkpoint (it has no {', '.join(missing or ['args'])})")
    saved, now = state["args"], vars(args)
    differ = [name for name in RUN_FLAGS if saved.get(name, "(not recorded)") != now[name]]
    if differ:
        changes = "; ".join(f"--{name.replace('_', '-')} {shown(saved.get(name, '(not recorded)'))} in the "
                            f"checkpoint, {shown(now[name])} now" for name in differ)
        build_parser().error(f"--resume: {checkpoint} holds a run with other settings: {changes}. Pass the "
                             f"checkpoint's values to continue it, or --overwrite to start a new run")
    if not isinstance(state["epoch"], int) or not 0 <= state["epoch"] <= args.epochs:
        fail(f"--resume: {checkpoint} holds a bad epoch count, {state['epoch']!r}")
    return state


# ---------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    progress = Progress(Path(args.checkpoint), args.epochs)
    state = None
    if args.resume:
        state = resume_state(args)
        progress.saved_epoch = int(state["epoch"])
    try:
        return train(args, state, progress)
    except SystemExit as e:  # --distributed: a rank that stops on an error must not leave the others waiting
        if e.code not in (None, 0) and args.distributed:
            import minires.distributed as dist

            if dist.is_initialized():
                dist.abort(e.code if isinstance(e.code, int) else 1)
        raise
    except (KeyboardInterrupt, SystemError) as e:
        if not caused_by_ctrl_c(e):
            raise
        interrupted(args, progress)
        raise  # not reached: interrupted() exits


def caused_by_ctrl_c(error: BaseException) -> bool:
    """A Ctrl-C that lands while a Numba kernel calls back into Python comes out of the kernel as a
    SystemError ("returned a result with an exception set") caused by the KeyboardInterrupt."""
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return True
        error = error.__cause__ or error.__context__
    return False


def train(args: argparse.Namespace, state: dict | None, progress: Progress) -> dict:
    mr.tune_process(args.threads)  # optional: threads are every core by default; this also keeps freed memory (minires/tuning.py)
    mr.manual_seed(args.seed)
    rank, world = 0, 1
    if args.distributed:  # every rank runs all of this; rank 0 alone prints and writes
        import minires.distributed  # noqa: F401  (mr.distributed from here on)

        mr.distributed.init_process_group("nccl" if args.device == "cuda" else "mpi")
        rank, world = mr.distributed.get_rank(), mr.distributed.get_world_size()
    main_rank = rank == 0

    progress.phase = "loading data"
    try:
        train_set, test_set = load_cifar(args)
    except (OSError, ValueError) as e:
        fail(str(e))
    check_sizes(build_parser(), args, len(train_set), len(test_set))
    train_set, test_set = subset(train_set, args.train_subset), subset(test_set, args.test_subset)
    if args.distributed:  # each rank its own 1/world of every epoch, and its own crops and flips
        sampler = mr.utils.data.DistributedSampler(train_set, world, rank, shuffle=True, seed=args.seed)
        train_loader = DataLoader(train_set, batch_size=args.batch_size, drop_last=True, sampler=sampler,
                                  seed=args.seed + 10_000 * rank)
    else:
        train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True, seed=args.seed)
    test_loader = DataLoader(test_set, batch_size=500, shuffle=False)

    progress.phase = "building the model"
    model = build_model(args.model)
    if args.sync_bn:
        model = mr.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(args.device)
    opt = optim.SGD(parameter_groups(model, args.weight_decay), lr=args.lr, momentum=args.momentum,
                    nesterov=args.nesterov)
    sched = build_schedule(opt, args, len(train_loader))
    checkpoint, out = Path(args.checkpoint), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    start_epoch = 0
    older_format = state is not None and is_npz_checkpoint(checkpoint)
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            mr.set_rng_state(state["rng"])
            start_epoch = int(state["epoch"])
            rows = [dict(zip(state["metrics"]["names"], r)) for r in state["metrics"]["rows"]]
        except (KeyError, ValueError, TypeError, IndexError) as e:
            fail(f"--resume: {checkpoint} does not fit this run: {e.args[0] if e.args else e}")
        if main_rank:
            older = (" (an .npz checkpoint of an older minires; it is saved in PyTorch's format from now on, "
                     "under the same name)" if older_format else "")
            print(f"resumed from {checkpoint} after epoch {start_epoch}{older}")
    # the training steps go through DDP (gradients averaged over the ranks); saving and testing use model itself
    net = mr.nn.parallel.DistributedDataParallel(model) if args.distributed else model

    progress.phase, progress.epoch, progress.steps = "training", start_epoch + 1, len(train_loader)
    n_params = sum(p.numel() for p in model.parameters())
    kernels = "cupy" if args.device == "cuda" else mr.backend.cpu_implementation()
    ranks = f" x {world} processes{' (SyncBatchNorm)' if args.sync_bn else ''}" if args.distributed else ""
    if main_rank:
        print(f"minires {mr.__version__} | {args.model} ({n_params / 1e6:.2f}M params) | {args.device} | "
              f"kernels: {kernels} | seed {args.seed} | batch {args.batch_size}{ranks}, lr {args.lr}, "
              f"wd {args.weight_decay}, {schedule_text(args)} | "
              f"{len(train_set)} train / {len(test_set)} test images", flush=True)
    if checkpoint.suffix == ".npz" and not older_format and main_rank:
        print(f"note: {checkpoint} is saved in PyTorch's format, whatever its name says (torch.load reads it)")
    if start_epoch >= args.epochs and main_rank:
        print(f"nothing to do: {checkpoint} holds all {args.epochs} epochs of this run")

    last_epoch = args.epochs if args.stop_after is None else min(args.epochs, start_epoch + args.stop_after)
    for epoch in range(start_epoch, last_epoch):
        progress.phase, progress.epoch, progress.step = "training", epoch + 1, 0
        train_loader.set_epoch(epoch)
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0  # sums stay on the device; read only when printed
        bad_step, bad_loss = -1, 0.0  # the first step with a non-finite loss, kept on the device too
        started = time.perf_counter()
        with tqdm(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}", leave=False, disable=args.no_progress or not main_rank,
                  file=sys.stdout, dynamic_ncols=True) as bar:
            for step, (images, labels) in enumerate(bar):
                progress.step = step + 1
                images, labels = images.to(args.device), labels.to(args.device)
                logits = net(images)
                loss = F.cross_entropy(logits, labels, label_smoothing=args.label_smoothing)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                loss_sum = loss_sum + loss.array * len(labels)
                correct = correct + (logits.argmax(1) == labels).array.sum()
                seen += len(labels)
                xp = mr.backend.array_module(loss.array)
                first = xp.logical_and(bad_step < 0, xp.logical_not(xp.isfinite(loss.array)))
                bad_step, bad_loss = xp.where(first, step, bad_step), xp.where(first, loss.array, bad_loss)
                # On the CPU reading the loss costs nothing, so check every step; on a GPU, with the progress bar.
                check_now = args.device == "cpu" or step % 10 == 0 or step + 1 == len(train_loader)
                if check_now and int(bad_step) >= 0:
                    progress.step = int(bad_step) + 1
                    diverged(args, progress, f"the training loss was {float(bad_loss)} at epoch "
                                             f"{epoch + 1}/{args.epochs}, step {progress.step}/{progress.steps}")
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{float(loss_sum) / seen:.3f}", acc=f"{100 * float(correct) / seen:.1f}%",
                                    img_s=f"{seen / (time.perf_counter() - started):.0f}")
        if args.distributed:  # the epoch's sums over every rank's images
            sums = mr.tensor([float(loss_sum), float(correct), float(seen)], dtype=mr.float64).to(args.device)
            mr.distributed.all_reduce(sums)
            loss_sum, correct, seen = sums.tolist()
        loss_sum, correct = float(loss_sum), float(correct)
        train_seconds = time.perf_counter() - started
        bad = non_finite(model)
        if bad:
            diverged(args, progress, f"{len(bad)} parameters or buffers hold nan or inf after epoch "
                                     f"{epoch + 1}/{args.epochs} (the first is {bad[0]}), although every loss "
                                     f"was finite")
        if not main_rank:
            continue  # rank 0 tests, saves and writes; the others wait for it at the next epoch's first step
        progress.phase = "testing"
        test_loss, test_acc = evaluate(model, test_loader, args.device)
        rows.append({"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "train_loss": loss_sum / seen,
                     "train_acc": correct / seen, "test_loss": test_loss, "test_acc": test_acc,
                     "seconds": train_seconds, "images_per_s": seen / train_seconds})
        print(f"epoch {epoch + 1:3d}/{args.epochs}   lr {opt.param_groups[0]['lr']:.4f}  "
              f"train loss {loss_sum / seen:.4f} acc {100 * correct / seen:5.1f}%  "
              f"test loss {test_loss:.4f} acc {100 * test_acc:5.2f}%  "
              f"{train_seconds:6.1f} s  {seen / train_seconds:5.0f} img/s", flush=True)
        progress.phase, progress.before_save = "saving", file_id(checkpoint)
        save_checkpoint(checkpoint, model=model.state_dict(), optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                        epoch=epoch + 1, rng=mr.get_rng_state(), args=vars(args),
                        metrics={"names": list(rows[0]), "rows": [list(r.values()) for r in rows]})
        progress.phase, progress.saved_epoch = "writing metrics", epoch + 1
        save_curves(rows, out)
        print(f"  saved {checkpoint}, {out / 'metrics.csv'}", flush=True)
    if args.distributed:
        mr.distributed.destroy_process_group()
    if rows and main_rank:
        print(f"final test accuracy {100 * rows[-1]['test_acc']:.2f}% after {rows[-1]['epoch']} epochs")
    return {"rows": rows, "model": model}


def schedule_text(args: argparse.Namespace) -> str:
    """The header's 'cosine schedule, 30 epochs', saying so when the default warm-up was shortened to fit."""
    text = f"{args.schedule} schedule, {args.epochs} epochs"
    default = DEFAULTS["warmup_epochs"]
    if args.schedule == "cosine" and default >= args.epochs and args.warmup_epochs == default_warmup(args.epochs, "cosine"):
        epochs = "epoch" if args.warmup_epochs == 1 else "epochs"
        text += f" (warm-up {args.warmup_epochs:g} {epochs}: the default {default} shortened to fit)"
    return text


def check_subset_fits_batch(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--train-subset holds at least one full batch (drop_last=True would leave an empty epoch)."""
    if args.train_subset is not None and args.train_subset < args.batch_size:
        p.error(f"--train-subset {args.train_subset} is smaller than --batch-size {args.batch_size}: an epoch "
                f"would have no full batch (use at least {args.batch_size} images, or a smaller --batch-size)")


def load_cifar(args: argparse.Namespace) -> tuple[CIFAR10, CIFAR10]:
    """The training and test sets; OSError or ValueError with CIFAR10's one-line message (it names the
    folder or URL, and says how to point --data at a copy)."""
    check = not args.skip_content_check
    return (CIFAR10(args.data, train=True, download=True, transform=transforms.train_transform(), check_content=check),
            CIFAR10(args.data, train=False, download=True, transform=transforms.eval_transform(), check_content=check))


def check_sizes(p: argparse.ArgumentParser, args: argparse.Namespace, n_train: int, n_test: int) -> None:
    """The flags that can be checked only against the data: argparse's error, exit status 2."""
    if args.train_subset is not None and args.train_subset > n_train:
        p.error(f"--train-subset {args.train_subset} is more than the {n_train} training images in {args.data}")
    if args.test_subset is not None and args.test_subset > n_test:
        p.error(f"--test-subset {args.test_subset} is more than the {n_test} test images in {args.data}")
    if n_train < args.batch_size:
        p.error(f"--batch-size {args.batch_size} is more than the {n_train} training images in {args.data}: "
                f"an epoch would have no full batch")
    if n_test == 0:
        p.error(f"{args.data} holds no test images")

if __name__ == "__main__":
    main()
