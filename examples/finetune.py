"""Fine-tune a CIFAR-10 ResNet from examples/train_cifar.py on a new task: vehicles vs animals.

    python examples/train_cifar.py --epochs 30                 # first, a trained checkpoint
    python examples/finetune.py --checkpoint checkpoints/train_cifar.npz

The seeds' fine-tuning workflow: load the trained weights, replace the 10-class head
with a 2-class one, freeze everything except the last stage and the head (frozen
BatchNorm layers stay in eval mode, so their running statistics stay as trained),
train briefly with a small learning rate, and compare accuracy before and after.
"""

from __future__ import annotations

import argparse
import os
import time

# Idle BLAS and OpenMP threads must sleep, not spin, or they slow each other down: set
# before numpy and numba load them (see minires/__init__.py, which sets the same).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np
from tqdm import tqdm
from train_cifar import build_model, subset  # examples/ is on sys.path when this file runs as a script

import minires as mr
import minires.nn.functional as F
from minires import nn, optim
from minires.checkpoint import load_checkpoint
from minires.data import CIFAR10, DataLoader, transforms

# CIFAR-10 classes: airplane automobile bird cat deer dog frog horse ship truck
VEHICLES = (0, 1, 8, 9)
NEW_CLASSES = ["vehicle", "animal"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Fine-tune a trained CIFAR-10 ResNet on vehicles vs animals.")
    p.add_argument("--checkpoint", default="checkpoints/train_cifar.npz", help="written by train_cifar.py")
    p.add_argument("--data", default="./data")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--test-subset", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


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
    mr.manual_seed(args.seed)
    state = load_checkpoint(args.checkpoint)
    model_name = state["args"]["model"]

    model = build_model(model_name)  # exactly as train_cifar.py built it
    model.load_state_dict(state["model"])

    # New task, new head: 2 classes instead of 10.
    model.fc = nn.Linear(model.fc.in_features, len(NEW_CLASSES))
    last_stage = getattr(model, f"layer{model.num_stages}")
    model.requires_grad_(False)  # freeze everything ...
    last_stage.requires_grad_(True)  # ... but the last stage
    model.fc.requires_grad_(True)  # ... and the new head
    trainable = [p for p in model.parameters() if p.requires_grad]

    train_set = relabel(CIFAR10(args.data, train=True, download=True, transform=transforms.train_transform()),
                        args.train_subset)
    test_set = relabel(CIFAR10(args.data, train=False, download=True, transform=transforms.eval_transform()),
                       args.test_subset)
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
