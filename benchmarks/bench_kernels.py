"""Time each kernel family and all ResNet-20 convolutions: minires (NumPy reference and
Numba) against PyTorch CPU, on the same machine in the same run.

    pip install -e ".[bench]"
    python benchmarks/bench_kernels.py                 # 2 threads, batch 128
    python benchmarks/bench_kernels.py --skip-reference

Each side runs in its own process (benchmarks/sides.py says why) and the sides take
turns --rounds times; every call is timed --repeat times per turn after a warm-up call
(which also compiles the Numba kernels). The table shows the best time in ms and its
ratio to PyTorch's; the last line gives the medians for all ResNet-20 convolutions.
"""

from __future__ import annotations

import argparse
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--repeat", type=int, default=3)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--skip-reference", action="store_true", help="leave out the (slow) NumPy reference")
parser.add_argument("--side", choices=["minires", "torch"], help=argparse.SUPPRESS)  # a child process
args = parser.parse_args()

# ResNet-20 (He et al. 2015, CIFAR): (C_in, C_out, H, stride, needs input gradient) for its 19 convolutions
RESNET20_CONVS = (
    [(3, 16, 32, 1, False)]
    + [(16, 16, 32, 1, True)] * 6
    + [(16, 32, 32, 2, True)] + [(32, 32, 16, 1, True)] * 5
    + [(32, 64, 16, 2, True)] + [(64, 64, 8, 1, True)] * 5
)
CONVS = "ResNet-20: all 19 convolutions"


def cases(side: str, batch: int) -> dict:
    """case name -> a function doing forward + backward once, for one side."""
    import numpy as np

    if side == "torch":
        import torch

        torch.set_num_threads(args.threads)
        F, make = torch.nn.functional, torch.tensor
    else:
        import minires as mr
        import minires.nn.functional as F

        mr.tune_process(args.threads)
        make = mr.tensor

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((batch, 16, 32, 32), dtype=np.float32)
    w_np = rng.standard_normal((16, 16, 3, 3), dtype=np.float32)
    gamma, beta = np.ones(16, np.float32), np.zeros(16, np.float32)

    def one_layer(fn, gy_shape):
        gy = make(rng.standard_normal(gy_shape, dtype=np.float32))

        def run():
            x, g, b = make(x_np, requires_grad=True), make(gamma, requires_grad=True), make(beta, requires_grad=True)
            fn(x, g, b).backward(gy)
        return run

    layers = []
    for c_in, c_out, h, stride, needs_gx in RESNET20_CONVS:
        x = make(rng.standard_normal((batch, c_in, h, h), dtype=np.float32), requires_grad=needs_gx)
        w = make(rng.standard_normal((c_out, c_in, 3, 3), dtype=np.float32) * 0.1, requires_grad=True)
        gy = make(rng.standard_normal((batch, c_out, h // stride, h // stride), dtype=np.float32))
        layers.append((x, w, stride, gy))

    def all_convs():
        for x, w, stride, gy in layers:
            F.conv2d(x, w, stride=stride, padding=1).backward(gy)
            x.grad = w.grad = None

    full = (batch, 16, 32, 32)
    return {
        "conv 3x3 16->16, 32x32": one_layer(lambda x, g, b: F.conv2d(x, make(w_np), padding=1), full),
        "max_pool 3x3/2 p1": one_layer(lambda x, g, b: F.max_pool2d(x, 3, 2, 1), (batch, 16, 16, 16)),
        "avg_pool 2x2/2": one_layer(lambda x, g, b: F.avg_pool2d(x, 2), (batch, 16, 16, 16)),
        "global avg pool": one_layer(lambda x, g, b: F.adaptive_avg_pool2d(x, 1), (batch, 16, 1, 1)),
        "batch_norm train": one_layer(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True), full),
        "relu": one_layer(lambda x, g, b: F.relu(x), full),
        CONVS: all_convs,
    }


def time_side(side: str) -> dict[str, list[float]]:
    times = {}
    for name, fn in cases(side, args.batch).items():
        fn()  # warm-up
        times[name] = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fn()
            times[name].append(1000 * (time.perf_counter() - start))
    return times


def main() -> None:
    from sides import blas_note, print_times, run_sides

    if args.side:  # a child process: nothing may load numpy before time_side imports minires
        print_times(time_side(args.side))
        return
    import numpy as np
    common = ["--batch", str(args.batch), "--threads", str(args.threads)]
    sides = {
        "reference": (["--side", "minires", "--repeat", "1", *common], {"MINIRES_KERNELS": "reference"}),
        "numba": (["--side", "minires", "--repeat", str(args.repeat), *common], {"MINIRES_KERNELS": "numba"}),
        "torch": (["--side", "torch", "--repeat", str(args.repeat), *common], {}),
    }
    if args.skip_reference:
        del sides["reference"]
    times = run_sides(__file__, sides, args.rounds)
    impls = [side for side in sides if side != "torch"]
    print(f"{blas_note()} | forward + backward, ms | batch {args.batch} | {args.threads} threads | float32 | best of "
          f"{args.rounds} rounds x {args.repeat} | each side in its own process, taking turns")
    print(f"{'':34s}" + "".join(f"{impl:>12s} {'ratio':>7s}" for impl in impls) + f"{'torch':>12s}")
    for name in times["torch"]:
        torch_ms = min(times["torch"][name])
        print(f"{name:34s}" + "".join(f"{min(times[i][name]):12.1f} {min(times[i][name]) / torch_ms:6.2f}x"
                                      for i in impls) + f"{torch_ms:12.1f}")
    median = {side: float(np.median(times[side][CONVS])) for side in ("numba", "torch")}
    print(f"{CONVS}, median: numba {median['numba']:.1f} ms, torch {median['torch']:.1f} ms, "
          f"ratio {median['numba'] / median['torch']:.2f}x (bar: 2.0x)")


if __name__ == "__main__":
    main()
