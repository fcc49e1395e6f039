"""Train a ResNet on CIFAR-10 with minires.

    python examples/train_cifar.py                              # ResNet-20, the laptop recipe
    python examples/train_cifar.py --data ../shared/data --epochs 30
    python examples/train_cifar.py --resume                     # continue a killed run
    python examples/train_cifar.py --epochs 182 --schedule multistep --warmup-epochs 0 --weight-decay 1e-4  # the paper's

Every epoch prints one line (train and test loss/accuracy, time, images/s), saves a
checkpoint (model with its BatchNorm buffers, optimizer, scheduler, epoch, RNG state),
appends to a CSV of metrics and redraws a PNG of the curves.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

# Idle BLAS and OpenMP threads must sleep, not spin, or they slow each other down: set
# before numpy and numba load them (see minires/__init__.py, which sets the same).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from tqdm import tqdm

import minires as mr
import minires.nn.functional as F
from minires import optim
from minires.checkpoint import load_checkpoint, save_checkpoint
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train a ResNet on CIFAR-10 with minires.")
    p.add_argument("--model", default=DEFAULTS["model"], help="resnet20/32/44/56/110, resnet18/34/50, resnext29")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--momentum", type=float, default=DEFAULTS["momentum"])
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=DEFAULTS["weight_decay"])
    p.add_argument("--schedule", choices=["cosine", "multistep", "onecycle", "constant"],
                   default=DEFAULTS["schedule"], help="multistep: x0.1 at 50%% and 75%% of the epochs (the paper)")
    p.add_argument("--warmup-epochs", type=float, default=DEFAULTS["warmup_epochs"],
                   help="linear warm-up before the cosine schedule")
    p.add_argument("--label-smoothing", type=float, default=DEFAULTS["label_smoothing"])
    p.add_argument("--data", default="./data", help="folder holding cifar-10-batches-py/ (downloaded if absent)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for BLAS and Numba (default: all)")
    p.add_argument("--checkpoint", default="checkpoints/train_cifar.npz")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--out", default="runs/train_cifar", help="folder for metrics.csv and curves.png")
    p.add_argument("--train-subset", type=int, default=None, help="use only the first N training images")
    p.add_argument("--test-subset", type=int, default=None, help="use only the first N test images")
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop after this many epochs of this run, as if killed (then --resume)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    return p.parse_args(argv)


def build_model(name: str) -> mr.nn.Module:
    if name.startswith("resnet") and int(name[6:]) in (18, 34, 50, 101, 152):
        return getattr(models, name)(num_classes=10, stem="cifar")
    if name == "resnext29":
        return models.resnext29(num_classes=10, cardinality=2, width_per_group=16)
    if not hasattr(models, name):
        raise SystemExit(f"train_cifar: unknown --model {name!r}")
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


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        import numba
        from threadpoolctl import threadpool_limits

        numba.set_num_threads(args.threads)
        mr.threads.set_cpu_threads(args.threads)
        threadpool_limits(args.threads)
    mr.manual_seed(args.seed)

    train_set = subset(CIFAR10(args.data, train=True, download=True, transform=transforms.train_transform()),
                       args.train_subset)
    test_set = subset(CIFAR10(args.data, train=False, download=True, transform=transforms.eval_transform()),
                      args.test_subset)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True, seed=args.seed)
    test_loader = DataLoader(test_set, batch_size=500, shuffle=False)

    model = build_model(args.model).to(args.device)
    opt = optim.SGD(parameter_groups(model, args.weight_decay), lr=args.lr, momentum=args.momentum,
                    nesterov=args.nesterov)
    sched = build_schedule(opt, args, len(train_loader))
    checkpoint, out = Path(args.checkpoint), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    start_epoch = 0
    if args.resume:
        state = load_checkpoint(checkpoint)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        mr.set_rng_state(state["rng"])
        start_epoch = int(state["epoch"])
        rows = [dict(zip(state["metrics"]["names"], r)) for r in state["metrics"]["rows"]]
        print(f"resumed from {checkpoint} after epoch {start_epoch}")

    n_params = sum(p.numel() for p in model.parameters())
    kernels = "cupy" if args.device == "cuda" else mr.backend.cpu_implementation()
    print(f"minires {mr.__version__} | {args.model} ({n_params / 1e6:.2f}M params) | {args.device} | "
          f"kernels: {kernels} | seed {args.seed} | batch {args.batch_size}, lr {args.lr}, "
          f"wd {args.weight_decay}, {args.schedule} schedule, {args.epochs} epochs | "
          f"{len(train_set)} train / {len(test_set)} test images")

    last_epoch = args.epochs if args.stop_after is None else min(args.epochs, start_epoch + args.stop_after)
    for epoch in range(start_epoch, last_epoch):
        train_loader.set_epoch(epoch)
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0  # sums stay on the device; read only when printed
        started = time.perf_counter()
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}", leave=False, disable=args.no_progress,
                   file=sys.stdout, dynamic_ncols=True)
        for step, (images, labels) in enumerate(bar):
            images, labels = images.to(args.device), labels.to(args.device)
            logits = model(images)
            loss = F.cross_entropy(logits, labels, label_smoothing=args.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum = loss_sum + loss.data * len(labels)
            correct = correct + (logits.argmax(1) == labels).data.sum()
            seen += len(labels)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{float(loss_sum) / seen:.3f}", acc=f"{100 * float(correct) / seen:.1f}%",
                                img_s=f"{seen / (time.perf_counter() - started):.0f}")
        bar.close()
        loss_sum, correct = float(loss_sum), float(correct)
        train_seconds = time.perf_counter() - started
        test_loss, test_acc = evaluate(model, test_loader, args.device)
        rows.append({"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "train_loss": loss_sum / seen,
                     "train_acc": correct / seen, "test_loss": test_loss, "test_acc": test_acc,
                     "seconds": train_seconds, "images_per_s": seen / train_seconds})
        print(f"epoch {epoch + 1:3d}/{args.epochs}   lr {opt.param_groups[0]['lr']:.4f}  "
              f"train loss {loss_sum / seen:.4f} acc {100 * correct / seen:5.1f}%  "
              f"test loss {test_loss:.4f} acc {100 * test_acc:5.2f}%  "
              f"{train_seconds:6.1f} s  {seen / train_seconds:5.0f} img/s", flush=True)
        save_checkpoint(checkpoint, model=model.state_dict(), optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                        epoch=epoch + 1, rng=mr.get_rng_state(), args=vars(args),
                        metrics={"names": list(rows[0]), "rows": [list(r.values()) for r in rows]})
        save_curves(rows, out)
        print(f"  saved {checkpoint}, {out / 'metrics.csv'}", flush=True)
    if rows:
        print(f"final test accuracy {100 * rows[-1]['test_acc']:.2f}% after {rows[-1]['epoch']} epochs")
    return {"rows": rows, "model": model}


if __name__ == "__main__":
    main()
