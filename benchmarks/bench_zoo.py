"""Time training steps and inference of a zoo of CIFAR nets, minires vs PyTorch CPU, run as plain PyTorch scripts run them.

    pip install -e ".[bench]"
    python benchmarks/bench_zoo.py                                  # every model, batch 64 and 128, both modes
    python benchmarks/bench_zoo.py --models resnet20 wrn16-4 --batches 128 --modes train --rounds 5
    python benchmarks/bench_zoo.py --threads 2                      # set_num_threads(2) on both sides

benchmarks/bench_train_step.py times minires as its examples run it (tune_process(), a
thread count); this file times it as a PyTorch script copied from the web would run, with
`import minires as torch` its only change: no minires-specific call on either side, each
framework with its default threads (--threads N calls set_num_threads(N) on both), and the
models written the way their popular sources write them. The rows:

    resnet20, resnet56      the paper's CIFAR ResNets (option-A shortcuts): minires.nn.models.resnet20
                            and resnet56, and their PyTorch twin CifarResNet (tests/torch_resnet.py)
    resnet18                ResNet-18 with the CIFAR stem, as bench_train_step.py's row
    densenet-bc100          DenseNet-BC (L=100, k=12): minires.nn.models.densenet_bc100, and its
                            PyTorch twin benchmarks/zoo/densenet_bc.py
    wrn16-4                 WRN-16-4, benchmarks/zoo/wide_resnet.py on both sides
    kuangliu-*              kuangliu/pytorch-cifar's ResNet18, PreActResNet18, VGG16, MobileNetV2,
                            densenet_cifar and ResNeXt29_2x64d: the zoo's kuangliu_*.py files, on
                            both sides (under minires with only the imports swapped: zoo/__init__.py)

Each row is one (model, batch, mode): a training step (forward, cross-entropy, backward, SGD
with momentum 0.9 and weight decay 5e-4) or inference (eval mode, no_grad) on a random
CIFAR-shaped batch. Every (side, row) runs in its own process (benchmarks/sides.py says why);
the processes take turns --rounds times, --steps timed steps each after a warm-up step, and
the table shows medians and their ratio, marked where a training step is over 1.3x or
inference over 1.0x. Then the peak resident memory of each side's process for one row: the
first model's training step at the largest batch. Without PyTorch installed, the minires
column alone. A full run with the defaults takes long: progress goes to stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import statistics
import sys
import time
from pathlib import Path

BUILT_IN = ("resnet20", "resnet56", "resnet18", "densenet-bc100")  # minires.nn.models vs a PyTorch twin
ZOO = ("wrn16-4", "kuangliu-resnet18", "kuangliu-preact18", "kuangliu-vgg16", "kuangliu-mobilenetv2",
       "kuangliu-densenet", "kuangliu-resnext29")  # one plain PyTorch file, both sides
MODELS = BUILT_IN + ZOO
BAR = {"train": 1.3, "eval": 1.0}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
parser.add_argument("--batches", nargs="+", type=int, default=[64, 128])
parser.add_argument("--modes", nargs="+", choices=["train", "eval"], default=["train", "eval"])
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--threads", type=int, help="call set_num_threads(N) on both sides (default: not called)")
parser.add_argument("--side", choices=["minires", "torch"], help=argparse.SUPPRESS)  # a child process
parser.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)
parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
parser.add_argument("--mode", choices=["train", "eval"], help=argparse.SUPPRESS)
args = parser.parse_args()

HERE = Path(__file__).resolve().parent


def minires_model(name: str):
    import zoo

    import minires as mr
    from minires.nn import models

    if args.threads:
        mr.set_num_threads(args.threads)
    mr.manual_seed(0)
    if name == "resnet18":
        return mr, models.resnet18(num_classes=10, stem="cifar")
    if name == "densenet-bc100":
        return mr, models.densenet_bc100()
    if name in ("resnet20", "resnet56"):
        return mr, getattr(models, name)()
    return mr, zoo.build(name, "minires")


def torch_model(name: str):
    import torch
    import zoo

    sys.path.insert(0, str(HERE.parent / "tests"))
    from torch_resnet import CifarResNet
    from torch_vision_twins import cifar_resnet18

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if name == "resnet18":
        return torch, cifar_resnet18(num_classes=10)
    if name in ("resnet20", "resnet56"):
        return torch, CifarResNet(blocks_per_stage={"resnet20": 3, "resnet56": 9}[name])
    return torch, zoo.build(name, "torch")  # densenet-bc100: the twin in zoo/densenet_bc.py


def make_step(side: str, x_np, y_np):
    """(a function that runs one training step or one inference pass of args.model, the side's threads)."""
    framework, model = (minires_model if side == "minires" else torch_model)(args.model)
    F = framework.nn.functional
    x, y = framework.tensor(x_np), framework.tensor(y_np)
    threads = framework.get_num_threads()
    if args.mode == "eval":
        model.eval()

        def infer():
            with framework.no_grad():
                model(x)
        return infer, threads
    opt = framework.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, threads


def time_side(side: str) -> dict[str, list[float]]:
    if side == "minires":
        import minires  # noqa: F401  first, as `import minires as torch` at a script's top
    else:
        import torch  # noqa: F401
    import numpy as np

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((args.batch, 3, 32, 32), dtype=np.float32)
    y_np = rng.integers(0, 10, args.batch)
    run, threads = make_step(side, x_np, y_np)
    run()  # warm-up: Numba compilation, allocator
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - start))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"ms": times, "peak_mib": [peak_mib], "threads": [threads]}


def row_label(model: str, batch: int, mode: str) -> str:
    return f"{model} b{batch} {'training step' if mode == 'train' else 'inference'}"


def cell(value: float | str, width: int) -> str:
    return f"{value:{width}.1f}" if isinstance(value, float) else f"{value:>{width}s}"


def gather(children: dict[str, list[str]]) -> tuple[dict[str, dict], dict[str, str]]:
    """run_sides's turns, one child at a time so that progress can go to stderr: ({child: times}, {child: error})."""
    from sides import run_sides

    times: dict[str, dict] = {}
    failed: dict[str, str] = {}
    start = time.perf_counter()
    total = args.rounds * len(children)
    done = 0
    for r in range(args.rounds):
        for name, arguments in children.items():
            done += 1
            if name in failed:
                continue
            print(f"[{done}/{total}, round {r + 1}/{args.rounds}, {time.perf_counter() - start:.0f} s] {name} ...",
                  end="", file=sys.stderr, flush=True)
            try:
                result = run_sides(__file__, {name: (arguments, {})}, 1)[name]
            except RuntimeError as e:  # one model a side cannot run must not cost the others' rows
                failed[name] = str(e).strip().splitlines()[-1]
                print(f" failed: {failed[name]}", file=sys.stderr, flush=True)
                continue
            for case, values in result.items():
                times.setdefault(name, {}).setdefault(case, []).extend(values)
            print(f" {statistics.median(result['ms']):.1f} ms", file=sys.stderr, flush=True)
    return times, failed


def main() -> None:
    from sides import blas_note, print_times

    if args.side:  # a child process: one side, one row
        print_times(time_side(args.side))
        return
    import numpy as np

    have_torch = importlib.util.find_spec("torch") is not None
    sides = ("minires", "torch") if have_torch else ("minires",)
    common = ["--steps", str(args.steps)] + (["--threads", str(args.threads)] if args.threads else [])
    rows = [(model, batch, mode) for model in args.models for batch in args.batches for mode in args.modes]
    children = {f"{side} {row_label(*row)}": ["--side", side, "--model", row[0], "--batch", str(row[1]),
                                              "--mode", row[2], *common]
                for row in rows for side in sides}
    times, failed = gather(children)
    median = {name: float(np.median(t["ms"])) for name, t in times.items()}

    if args.threads:
        threads = f"set_num_threads({args.threads}) on both sides"
    else:
        found = {side: sorted({n for name, t in times.items() if name.startswith(side + " ") for n in t["threads"]})
                 for side in sides}
        threads = "default threads (" + ", ".join(f"{side} {'/'.join(map(str, n)) or '?'}"
                                                  for side, n in found.items()) + ")"
    print(f"{threads} | float32 | {args.rounds} rounds x {args.steps} steps | each row and side in its own process, "
          f"taking turns | medians | {blas_note()}")
    if not have_torch:
        print("PyTorch is not installed: the minires column only (pip install -e \".[bench]\" for both)")
    width = max(len(row_label(*row)) for row in rows)
    print(f"{'':{width}s} {'minires ms':>11s} {'torch ms':>9s} {'ratio':>7s}   "
          f"(! over the bar: training {BAR['train']}x, inference {BAR['eval']}x)")
    for model, batch, mode in rows:
        label = row_label(model, batch, mode)
        ours, theirs = (median.get(f"{side} {label}", "failed" if f"{side} {label}" in failed else "-")
                        for side in ("minires", "torch"))
        ratio = ours / theirs if isinstance(ours, float) and isinstance(theirs, float) else None
        text = "" if ratio is None else f"{ratio:6.2f}x" + (" !" if ratio > BAR[mode] else "")
        print(f"{label:{width}s} {cell(ours, 11)} {cell(theirs, 9)} {text}".rstrip())
    for name, error in failed.items():
        print(f"failed: {name}: {error}")

    row = next((r for r in rows if r[2] == "train" and r[0] == rows[0][0] and r[1] == max(args.batches)), rows[0])
    peak = {side: max(times[f"{side} {row_label(*row)}"]["peak_mib"]) for side in sides
            if f"{side} {row_label(*row)}" in times}
    if peak:
        line = " | ".join(f"{side} {mib:.0f} MiB" for side, mib in peak.items())
        if len(peak) == 2:
            line += f" | {peak['minires'] / peak['torch']:.2f}x"
        print(f"peak RSS of the process, {row_label(*row)}: {line}")


if __name__ == "__main__":
    main()
