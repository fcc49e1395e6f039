"""Fine-tune a trained ResNet on a new CIFAR-10 task: vehicles vs animals.

    python examples/train_cifar.py --epochs 30                 # first, a trained checkpoint
    python examples/finetune.py --checkpoint checkpoints/train_cifar.pth --save checkpoints/finetuned.pth
    python examples/finetune.py --weights IMAGENET1K_V1        # or torchvision's ImageNet ResNet-18
    python examples/finetune.py --weights resnet18-f37072fd.pth

The articles' fine-tuning workflow: load the trained weights (a train_cifar.py checkpoint,
or with --weights a torchvision-named ResNet-18: a .pth/.pt file or a torchvision weight
name, read by minires.vision.models.resnet18), replace the head with a 2-class one
(model.fc = nn.Linear(512, 2) for the ResNet-18), freeze the early layers with
requires_grad_(False) (by default everything but the last stage and the head; see
--unfreeze), keep the frozen BatchNorm layers in eval mode so their running statistics
stay as trained (--frozen-bn), give the new head a larger learning rate than the rest
through a second parameter group (--head-lr-mult), train briefly, and compare the test
accuracy before and after. With --save it writes the fine-tuned model, the optimizer, the
RNG state and the run's settings at the end, in PyTorch's format as train_cifar.py does
(torch.load(path, weights_only=True) reads it). It reads train_cifar.py's checkpoints in
that format and in the .npz format of older minires versions.

The ImageNet ResNet-18 gets the 32x32 CIFAR images as they are, not resized to 224: its
stem (stride-2 conv, max-pool) makes 8x8 maps of them and layer4 1x1 ones. That runs,
fast; upsampling the images would suit the weights better but costs ~50x the compute.

Like train_cifar.py, it checks every flag before it reads anything (argparse's error,
exit status 2), never replaces an existing --save file without --overwrite, says in one
line what is wrong with a checkpoint or data folder it cannot use (exit status 1), and
stops on Ctrl-C with one line (exit status 130; it saves only at the end, so there is
nothing to resume).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm
from train_cifar import (  # examples/ is on sys.path when this file runs as a script
    MODELS,
    build_model,
    caused_by_ctrl_c,
    check_sizes,
    check_subset_fits_batch,
    check_writable,
    load_cifar,
    nonnegative_int,
    positive_float,
    positive_int,
    subset,
)

import minires as mr
import minires.nn.functional as F
from minires import nn, optim
from minires.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minires.data import CIFAR10, DataLoader
from minires.vision import models as vision_models
from minires.vision.models import _weights

# CIFAR-10 classes: airplane automobile bird cat deer dog frog horse ship truck
VEHICLES = (0, 1, 8, 9)
NEW_CLASSES = ["vehicle", "animal"]
DEFAULT_CHECKPOINT = "checkpoints/train_cifar.pth"
UNFREEZE = ("head", "last-stage", "all")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    check_subset_fits_batch(p, args)
    if args.save is not None:
        save = Path(args.save)
        check_writable(p, "--save", save, folder=False)
        if save.exists() and not args.overwrite:
            p.error(f"--save {save} already exists; pass --overwrite to replace it, or choose another --save")
    if args.weights is not None:
        try:  # a missing file or an unknown weight name is a bad flag: say so before reading anything
            _weights.resolve("resnet18", args.weights, {})
        except (OSError, ValueError) as e:
            p.error(f"--weights {args.weights}: {str(e).removeprefix('resnet18: ')}")
        return args
    if args.checkpoint is None:
        args.checkpoint = DEFAULT_CHECKPOINT
    checkpoint = Path(args.checkpoint)
    if checkpoint.is_dir():
        p.error(f"--checkpoint {checkpoint} is a folder; it must be the checkpoint file that train_cifar.py wrote")
    if not checkpoint.exists():
        older = checkpoint.with_suffix(".npz")  # the default name before checkpoints were PyTorch's format
        hint = f" (an older checkpoint is at {older}: pass --checkpoint {older})" if older.exists() else ""
        p.error(f"--checkpoint {checkpoint}: no such file{hint}; train a model first with examples/train_cifar.py")
    return args


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="finetune.py",
                                description="Fine-tune a trained CIFAR-10 ResNet on vehicles vs animals.")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", default=None,
                        help=f"written by train_cifar.py, in PyTorch's format or an older minires's .npz "
                             f"(default {DEFAULT_CHECKPOINT})")
    source.add_argument("--weights", default=None, metavar="FILE_OR_NAME",
                        help="instead, a torchvision-named ResNet-18: a .pth/.pt state_dict file, or one of "
                             "torchvision's weight names (IMAGENET1K_V1, DEFAULT), downloaded once into "
                             "torch.hub's cache and hash-checked")
    p.add_argument("--unfreeze", choices=UNFREEZE, default="last-stage",
                   help="what trains: only the new head, the last stage and the head (default), or everything")
    p.add_argument("--frozen-bn", choices=("eval", "train"), default="eval",
                   help="frozen BatchNorm layers in eval mode, keeping their trained running statistics "
                        "(default), or in train mode, normalising with each batch's")
    p.add_argument("--data", default="./data", help="folder holding cifar-10-batches-py/ (downloaded if absent)")
    p.add_argument("--skip-content-check", action="store_true",
                   help="do not compare the batches with the official CIFAR-10's sha256 (for CIFAR-format "
                        "folders of other images, such as the tests' fixtures)")
    p.add_argument("--epochs", type=positive_int, default=2, help="integer >= 1")
    p.add_argument("--lr", type=positive_float, default=0.01, help="> 0; the learning rate of the unfrozen layers")
    p.add_argument("--head-lr-mult", type=positive_float, default=10.0,
                   help="> 0; the new head learns at --lr times this (its own parameter group)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="integer >= 1")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="integer >= 0")
    p.add_argument("--train-subset", type=positive_int, default=None,
                   help="use only the first N training images (at least --batch-size)")
    p.add_argument("--test-subset", type=positive_int, default=None, help="use only the first N test images")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--save", default=None, metavar="FILE",
                   help="at the end, write the fine-tuned model, optimizer, RNG state and settings to FILE, in "
                        "PyTorch's format (torch.load and minires.load read it)")
    p.add_argument("--overwrite", action="store_true", help="let --save replace an existing file")
    return p


def fail(message: str, status: int = 1):
    """One line on stderr and exit: the errors that are not about a flag."""
    print(f"finetune: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def load_trained(path: str) -> tuple[nn.Module, dict]:
    """The model train_cifar.py saved in path, its weights loaded, and the checkpoint; fail() if unusable."""
    try:
        state = load_checkpoint(path)  # PyTorch's format, or an older minires's .npz
    except (OSError, CheckpointError) as e:
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


def load_pretrained(weights: str) -> nn.Module:
    """A torchvision-named ResNet-18 with weights (a file or a weight name) loaded; fail() if unusable."""
    try:
        return vision_models.resnet18(weights=weights)
    except (OSError, RuntimeError, ValueError, KeyError, TypeError) as e:  # offline, bad hash, not a ResNet-18
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        if message.startswith("load_state_dict"):  # a list of every missing key: the start says enough
            message = f"not a torchvision ResNet-18 state_dict ({message[:160]}...)" if len(message) > 200 else message
        message = message.replace("pass weights=", "pass --weights ")  # the library's advice, in flags
        fail(message if weights in message else f"--weights {weights}: {message}")


def last_stage_name(model: nn.Module) -> str:
    """layer4 in torchvision's ResNets, layer{num_stages} in train_cifar.py's."""
    return f"layer{getattr(model, 'num_stages', 4)}"


def freeze(model: nn.Module, unfreeze: str) -> None:
    """requires_grad_(False) on everything, then True on what trains. Frozen layers then build no
    graph (when nothing before them trains) or compute no weight gradients (Conv2d.backward skips
    gw when its weight does not need one)."""
    model.requires_grad_(unfreeze == "all")
    if unfreeze == "last-stage":
        getattr(model, last_stage_name(model)).requires_grad_(True)
    model.fc.requires_grad_(True)


def frozen_bn_eval(model: nn.Module) -> None:
    """Every BatchNorm whose parameters are frozen to eval mode (after model.train())."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d) and not any(p.requires_grad for p in module.parameters()):
            module.eval()


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
        fail("interrupted; finetune.py saves only at the end (--save), so there is nothing to resume: run it again",
             status=130)
        raise  # not reached: fail() exits


def finetune(args: argparse.Namespace) -> dict:
    mr.tune_process()  # optional: threads are every core by default; this also keeps freed memory (minires/tuning.py)
    mr.manual_seed(args.seed)
    if args.weights is not None:
        model = load_pretrained(args.weights)
        source = f"resnet18 from {args.weights}"
    else:
        model, state = load_trained(args.checkpoint)
        source = f"{state['args']['model']} from {args.checkpoint} (epoch {int(state['epoch'])})"

    # New task, new head: 2 classes instead of 10 (or ImageNet's 1000): nn.Linear(512, 2) for a ResNet-18.
    model.fc = nn.Linear(model.fc.in_features, len(NEW_CLASSES))
    freeze(model, args.unfreeze)
    head = list(model.fc.parameters())
    body = [p for p in model.parameters() if p.requires_grad and all(p is not h for h in head)]
    trainable = body + head

    try:
        train_set, test_set = load_cifar(args)
    except (OSError, ValueError) as e:
        fail(str(e))
    check_sizes(build_parser(), args, len(train_set), len(test_set))
    train_set, test_set = relabel(train_set, args.train_subset), relabel(test_set, args.test_subset)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True, seed=args.seed)
    test_loader = DataLoader(test_set, batch_size=500)
    n_frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    head_lr = args.lr * args.head_lr_mult
    print(f"fine-tuning {source} on vehicles vs animals | {sum(p.numel() for p in trainable):,} trainable, "
          f"{n_frozen:,} frozen parameters | lr {args.lr}, head lr {head_lr:g}")

    before = accuracy(model, test_loader)
    print(f"before fine-tuning: test accuracy {100 * before:.2f}% (new, untrained head)")
    groups = [{"params": head, "lr": head_lr}]  # the new head starts from random: larger steps
    if body:
        groups.insert(0, {"params": body})  # takes the default lr
    opt = optim.SGD(groups, lr=args.lr, momentum=0.9, weight_decay=5e-4)
    for epoch in range(args.epochs):
        model.train()
        if args.frozen_bn == "eval":
            frozen_bn_eval(model)  # frozen parts keep their trained BN statistics
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
    if args.save is not None:  # laid out as train_cifar.py's checkpoints; there is no scheduler here
        save_checkpoint(args.save, model=model.state_dict(), optimizer=opt.state_dict(), epoch=args.epochs,
                        rng=mr.get_rng_state(), args=vars(args), source=source,
                        metrics={"test_acc_before": before, "test_acc_after": after})
        print(f"saved {args.save}")
    return {"before": before, "after": after, "model": model, "optimizer": opt}


if __name__ == "__main__":
    main()
