"""Fine-tune a CIFAR-10 ResNet from examples/train_cifar.py on a new task: vehicles vs animals.

    python examples/train_cifar.py --epochs 30                 # first, a trained checkpoint
    python examples/finetune.py --checkpoint checkpoints/train_cifar.npz

The seeds' fine-tuning workflow: load the trained weights, replace the 10-class head
with a 2-class one, freeze everything except the last stage and the head (frozen
BatchNorm layers stay in eval mode, so their running statistics stay as trained),
train briefly with a small learning rate, and compare accuracy before and after.

Like train_cifar.py, it checks every flag before it reads anything (argparse's error,
exit status 2), says in one line what is wrong with a checkpoint or data folder it
cannot use (exit status 1), and stops on Ctrl-C with one line (exit status 130; it
saves nothing, so there is nothing to resume).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Idle BLAS and OpenMP threads must sleep, not spin, or they slow each other down: set
# before numpy and numba load them (see minires/__init__.py, which sets the same).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np
from tqdm import tqdm
from train_cifar import (  # examples/ is on sys.path when this file runs as a script
    MODELS,
    build_model,
    caused_by_ctrl_c,
    check_sizes,
    check_subset_fits_batch,
    load_cifar,
    nonnegative_int,
    positive_float,
    positive_int,
    subset,
)

import minires as mr
import minires.nn.functional as F
from minires import nn, optim
from minires.checkpoint import load_checkpoint
from minires.data import CIFAR10, DataLoader

# CIFAR-10 classes: airplane automobile bird cat deer dog frog horse ship truck
VEHICLES = (0, 1, 8, 9)
NEW_CLASSES = ["vehicle", "animal"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    check_subset_fits_batch(p, args)
    checkpoint = Path(args.checkpoint)
    if checkpoint.is_dir():
        p.error(f"--checkpoint {checkpoint} is a folder; it must be the .npz file that train_cifar.py wrote")
    if not checkpoint.exists():
        p.error(f"--checkpoint {checkpoint}: no such file; train a model first with examples/train_cifar.py")
    return args


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="finetune.py",
                                description="Fine-tune a trained CIFAR-10 ResNet on vehicles vs animals.")
    p.add_argument("--checkpoint", default="checkpoints/train_cifar.npz", help="written by train_cifar.py")
    p.add_argument("--data", default="./data", help="folder holding cifar-10-batches-py/ (downloaded if absent)")
    p.add_argument("--skip-content-check", action="store_true",
                   help="do not compare the batches with the official CIFAR-10's sha256 (for CIFAR-format "
                        "folders of other images, such as the tests' fixtures)")
    p.add_argument("--epochs", type=positive_int, default=2, help="integer >= 1")
    p.add_argument("--lr", type=positive_float, default=0.01, help="> 0")
    p.add_argument("--batch-size", type=positive_int, default=128, help="integer >= 1")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="integer >= 0")
    p.add_argument("--train-subset", type=positive_int, default=None,
                   help="use only the first N training images (at least --batch-size)")
    p.add_argument("--test-subset", type=positive_int, default=None, help="use only the first N test images")
    p.add_argument("--no-progress", action="store_true")
    return p


def fail(message: str, status: int = 1):
    """One line on stderr and exit: the errors that are not about a flag."""
    print(f"finetune: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def load_trained(path: str) -> tuple[nn.Module, dict]:
    """The model train_cifar.py saved in path, its weights loaded, and the checkpoint; fail() if unusable."""
    try:
        state = load_checkpoint(path)
    except (OSError, ValueError) as e:
        fail(str(e) if str(path) in str(e) else f"cannot read {path}: {e}")
    settings = state.get("args")
    if not isinstance(settings, dict) or "model" not in settings or "model" not in state or "epoch" not in state:
        fail(f"{path} is not a train_cifar.py checkpoint: it needs the weights (model), the epoch and the run's "
             f"settings (args, with args/model), and has only {', '.join(sorted(state)) or 'nothing'}")
    if settings["model"] not in MODELS:
        fail(f"{path} holds a {settings['model']!r}, which is not one of train_cifar.py's models ({', '.join(MODELS)})")
    model = build_model(settings["model"])  # exactly as train_cifar.py built it
    try:
        model.load_state_dict(state["model"])
    except (KeyError, ValueError) as e:
        fail(f"{path}: its weights do not fit a {settings['model']}: {e.args[0] if e.args else e}")
    return model, state


def relabel(dataset: CIFAR10, n: int | None) -> CIFAR10:
    """Keep the first n images and map the 10 classes to vehicle (0) / animal (1)."""
    dataset = subset(dataset, n)
    dataset.targets = np.where(np.isin(dataset.targets, VEHICLES), 0, 1).astype(np.int64)
    dataset.classes = NEW_CLASSES
    return dataset


@mr.no_grad()
def accuracy(model: nn.Module, loader: DataLoader) -> float:
    was_training = model.training
    model.eval()
    correct = count = 0
    for images, labels in loader:
        correct += (model(images).argmax(1) == labels).sum().item()
        count += len(labels)
    model.train(was_training)
    return correct / count


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    try:
        return finetune(args)
    except (KeyboardInterrupt, SystemError) as e:  # see train_cifar.caused_by_ctrl_c
        if not caused_by_ctrl_c(e):
            raise
        fail("interrupted; finetune.py saves nothing, so there is nothing to resume: run it again", status=130)
        raise  # not reached: fail() exits


def finetune(args: argparse.Namespace) -> dict:
    mr.manual_seed(args.seed)
    model, state = load_trained(args.checkpoint)
    model_name = state["args"]["model"]

    # New task, new head: 2 classes instead of 10.
    model.fc = nn.Linear(model.fc.in_features, len(NEW_CLASSES))
    last_stage = getattr(model, f"layer{model.num_stages}")
    model.requires_grad_(False)  # freeze everything ...
    last_stage.requires_grad_(True)  # ... but the last stage
    model.fc.requires_grad_(True)  # ... and the new head
    trainable = [p for p in model.parameters() if p.requires_grad]

    try:
        train_set, test_set = load_cifar(args)
    except (OSError, ValueError) as e:
        fail(str(e))
    check_sizes(build_parser(), args, len(train_set), len(test_set))
    train_set, test_set = relabel(train_set, args.train_subset), relabel(test_set, args.test_subset)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True, seed=args.seed)
    test_loader = DataLoader(test_set, batch_size=500)
    n_frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    print(f"fine-tuning {model_name} from {args.checkpoint} (epoch {int(state['epoch'])}) on vehicles vs animals | "
          f"{sum(p.numel() for p in trainable):,} trainable, {n_frozen:,} frozen parameters | lr {args.lr}")

    before = accuracy(model, test_loader)
    print(f"before fine-tuning: test accuracy {100 * before:.2f}% (new, untrained head)")
    opt = optim.SGD(trainable, lr=args.lr, momentum=0.9, weight_decay=5e-4)
    for epoch in range(args.epochs):
        model.train()
        for name, module in model.named_children():  # frozen parts keep their trained BN statistics
            if name not in (f"layer{model.num_stages}", "fc"):
                module.eval()
        train_loader.set_epoch(epoch)
        started = time.perf_counter()
        for images, labels in tqdm(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}", leave=False,
                                   disable=args.no_progress):
            loss = F.cross_entropy(model(images), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        test_acc = accuracy(model, test_loader)
        print(f"epoch {epoch + 1}/{args.epochs}  loss {loss.item():.4f}  test accuracy {100 * test_acc:.2f}%  "
              f"{time.perf_counter() - started:.1f} s")
    after = accuracy(model, test_loader)
    print(f"after fine-tuning: test accuracy {100 * after:.2f}% (was {100 * before:.2f}%)")
    return {"before": before, "after": after, "model": model}


if __name__ == "__main__":
    main()
