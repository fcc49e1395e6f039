"""Time training steps and inference of three ResNets, minires vs PyTorch CPU, and their memory.

    pip install -e ".[bench]"
    python benchmarks/bench_train_step.py                 # batch 128, 2 threads, every row
    python benchmarks/bench_train_step.py --models resnet20 --rounds 5

Rows: ResNet-20 and ResNet-56 (the paper's CIFAR nets, option-A shortcuts) and ResNet-18
with the CIFAR stem (3x3 conv, no max-pool), each as a training step (forward, backward,
SGD with momentum 0.9 and weight decay 5e-4) and as inference (eval mode, no_grad);
then the peak resident memory of a process running ResNet-20 steps, and the ResNet-20
step once more in a minires process that imported numpy before minires. Both frameworks
run the same architecture (PyTorch's twins: tests/torch_resnet.py, proved equal by
tests/test_models.py, and tests/torch_vision_twins.py) on the same random CIFAR-shaped
batch. Every (side, row) runs in its own process (benchmarks/sides.py says why); the
processes take turns --rounds times, --steps timed steps each after a warm-up step, and
the table shows medians. The bar for every ratio is 1.3x.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

MODELS = ("resnet20", "resnet56", "resnet18")
BAR = 1.3

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
parser.add_argument("--side", choices=["minires", "torch"], help=argparse.SUPPRESS)  # a child process
parser.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)
parser.add_argument("--mode", choices=["train", "eval"], help=argparse.SUPPRESS)
parser.add_argument("--numpy-first", action="store_true", help=argparse.SUPPRESS)
args = parser.parse_args()


def minires_model(name: str):
    import minires as mr
    from minires.nn import models

    mr.tune_process(args.threads)  # the explicit speed call the examples make (minires/tuning.py)
    mr.manual_seed(0)
    if name == "resnet18":
        return mr, models.resnet18(num_classes=10, stem="cifar")
    return mr, getattr(models, name)()


def torch_model(name: str):
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from torch_resnet import CifarResNet
    from torch_vision_twins import cifar_resnet18

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if name == "resnet18":
        return torch, cifar_resnet18(num_classes=10)
    return torch, CifarResNet(blocks_per_stage={"resnet20": 3, "resnet56": 9}[name])


def make_step(side: str, x_np, y_np):
    """A function that runs one training step or one inference pass of args.model."""
    framework, model = (minires_model if side == "minires" else torch_model)(args.model)
    F = framework.nn.functional
    x, y = framework.tensor(x_np), framework.tensor(y_np)
    if args.mode == "eval":
        model.eval()

        def infer():
            with framework.no_grad():
                model(x)
        return infer
    opt = framework.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def time_side(side: str) -> dict[str, list[float]]:
    if args.numpy_first:
        import numpy  # noqa: F401  before minires: speed must not depend on the import order
    if side == "minires":
        import minires  # noqa: F401
    import numpy as np

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((args.batch, 3, 32, 32), dtype=np.float32)
    y_np = rng.integers(0, 10, args.batch)
    run = make_step(side, x_np, y_np)
    run()  # warm-up: Numba compilation, allocator
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - start))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"ms": times, "peak_mib": [peak_mib]}


def main() -> None:
    from sides import blas_note, print_times, run_sides

    if args.side:  # a child process: one side, one row
        print_times(time_side(args.side))
        return
    import numpy as np

    common = ["--batch", str(args.batch), "--threads", str(args.threads), "--steps", str(args.steps)]
    rows = [(model, mode) for model in args.models for mode in ("train", "eval")]
    children = {}
    for model, mode in rows:
        for side in ("minires", "torch"):
            children[f"{side} {model} {mode}"] = (["--side", side, "--model", model, "--mode", mode, *common], {})
    if "resnet20" in args.models:
        children["minires resnet20 train numpy-first"] = (
            ["--side", "minires", "--model", "resnet20", "--mode", "train", "--numpy-first", *common], {})
    times = run_sides(__file__, children, args.rounds)
    median = {name: float(np.median(t["ms"])) for name, t in times.items()}

    print(f"batch {args.batch} | {args.threads} threads | float32 | {args.rounds} rounds x {args.steps} steps | "
          f"each row and side in its own process, taking turns | medians | {blas_note()}")
    print(f"{'':24s} {'minires ms':>11s} {'torch ms':>9s} {'ratio':>7s}   (bar {BAR}x)")
    for model, mode in rows:
        ours, theirs = median[f"minires {model} {mode}"], median[f"torch {model} {mode}"]
        label = f"{model} {'training step' if mode == 'train' else 'inference'}"
        print(f"{label:24s} {ours:11.1f} {theirs:9.1f} {ours / theirs:6.2f}x")
    if "resnet20" in args.models:
        peak = {side: max(times[f"{side} resnet20 train"]["peak_mib"]) for side in ("minires", "torch")}
        print(f"{'resnet20 step peak RSS':24s} {peak['minires']:8.0f} MiB {peak['torch']:5.0f} MiB "
              f"{peak['minires'] / peak['torch']:6.2f}x   (bar 1.0x)")
        first, later = median["minires resnet20 train numpy-first"], median["minires resnet20 train"]
        steps = times["minires resnet20 train"]["ms"]  # the yardstick: how much the same child varies
        spread = (max(steps) - min(steps)) / later
        print(f"minires resnet20 step with numpy imported first: {first:.1f} ms vs {later:.1f} ms "
              f"({first / later:.2f}x; bar: no slower; the minires-first steps alone spread over {spread:.0%})")


if __name__ == "__main__":
    main()
