"""Winograd F(4x4, 3x3) (minires/kernels/winograd.py, numba) against the im2col + GEMM
convolution (minires/kernels/conv.py, numba), per layer shape: forward, input gradient, weight gradient,
and both gradients in one call (what Conv2d.backward asks for: winograd_conv3x3_backward_numba).

    python benchmarks/bench_winograd.py                  # 2 threads, batch 128, float32
    python benchmarks/bench_winograd.py --repeat 9 --variants

3x3 convolutions, stride 1, padding 1, C = C_out. Every call is timed --repeat times,
the two implementations taking turns call by call (so a busy neighbour slows both
alike); the table gives the median in ms and the ratio winograd / im2col (below 1:
winograd is faster). --variants also times the forward with other chunk sizes
(_chunks.set_workspace_bytes).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import minires as mr
from minires.kernels import _chunks, conv, winograd

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--repeat", type=int, default=7)
parser.add_argument("--layers", default="16@32,32@16,64@8,128@16,256@8,512@4", help="C@HxW, comma separated")
parser.add_argument("--variants", action="store_true", help="also time the forward with other chunk sizes")
args = parser.parse_args()


def layer_calls(C: int, size: int) -> dict[str, dict[str, callable]]:
    """operation -> implementation -> a function doing it once, for one layer shape."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, C, size, size), dtype=np.float32)
    w = rng.standard_normal((C, C, 3, 3), dtype=np.float32) * 0.1
    gy = rng.standard_normal((args.batch, C, size, size), dtype=np.float32)
    padding = (1, 1)
    geometry = ((1, 1), padding, (1, 1), 1)  # stride, padding, dilation, groups
    calls = {
        "forward": {"winograd": lambda: winograd.winograd_conv3x3_forward_numba(x, w, padding),
                    "im2col": lambda: conv.conv2d_forward_numba(x, w, *geometry)},
        "input grad": {"winograd": lambda: winograd.winograd_conv3x3_input_grad_numba(gy, w, x.shape, padding),
                       "im2col": lambda: conv.conv2d_input_grad_numba(gy, w, x.shape, *geometry)},
        "weight grad": {"winograd": lambda: winograd.winograd_conv3x3_weight_grad_numba(x, gy, padding),
                        "im2col": lambda: conv.conv2d_weight_grad_numba(x, gy, w.shape, *geometry)},
        "both grads": {"winograd": lambda: winograd.winograd_conv3x3_backward_numba(x, gy, w, padding),
                       "im2col": lambda: (conv.conv2d_input_grad_numba(gy, w, x.shape, *geometry),
                                          conv.conv2d_weight_grad_numba(x, gy, w.shape, *geometry))},
    }
    if args.variants:
        for mb in (1, 2, 8):
            def forward_with_workspace(mb=mb):
                old = _chunks.workspace_bytes()
                _chunks.set_workspace_bytes(mb * 2**20)
                try:
                    winograd.winograd_conv3x3_forward_numba(x, w, padding)
                finally:
                    _chunks.set_workspace_bytes(old)
            calls["forward"][f"wino {mb}MiB"] = forward_with_workspace
    return calls


def main() -> None:
    mr.tune_process(args.threads)
    layers = [tuple(int(v) for v in spec.split("@")) for spec in args.layers.split(",")]
    print(f"ms, median of {args.repeat} | batch {args.batch} | {args.threads} threads | float32 | 3x3, stride 1, "
          f"padding 1 | workspace {_chunks.workspace_bytes() / 2**20:g} MiB | ratio = winograd / im2col")
    header = f"{'layer':>10s} {'op':>12s} {'winograd':>9s} {'im2col':>8s} {'ratio':>6s}"
    print(header + ("   variants (ms)" if args.variants else ""))
    for C, size in layers:
        for op, impls in layer_calls(C, size).items():
            for fn in impls.values():
                fn()  # warm-up (and numba compilation)
            times = {name: [] for name in impls}
            for _ in range(args.repeat):
                for name, fn in impls.items():  # interleaved: each round times every implementation once
                    start = time.perf_counter()
                    fn()
                    times[name].append(1000 * (time.perf_counter() - start))
            median = {name: float(np.median(t)) for name, t in times.items()}
            extra = "  ".join(f"{name} {ms:.1f}" for name, ms in median.items()
                              if name not in ("winograd", "im2col"))
            print(f"{f'{C}@{size}x{size}':>10s} {op:>12s} {median['winograd']:9.1f} {median['im2col']:8.1f} "
                  f"{median['winograd'] / median['im2col']:6.2f}   {extra}")


if __name__ == "__main__":
    main()
