"""A reader can follow, and pdb can stop in, every kernel loop.

1. From `Tensor.backward` to the loop of any kernel is at most four calls (the op's
   backward, the kernel's public function, its implementation, the loop), counted on
   the real call stack under NUMBA_DISABLE_JIT=1. A function defined inside the one
   that uses it (a chunk's body) is on the same screen and is not counted, nor is the
   runner in kernels/_chunks.py that hands chunks out.
2. With NUMBA_DISABLE_JIT=1 and the process tuned for several threads (mr.tune_process(2),
   as the examples do), a pdb breakpoint in the im2col, col2im, pooling, batch-norm and
   ReLU loops stops: everything runs on the calling thread.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")

# A small net that reaches every CPU kernel family in its backward pass
NET = textwrap.dedent(
    """
    import numpy as np
    import minires as mr
    import minires.nn.functional as F

    mr.tune_process(2)  # as the examples: two workers, which must not matter when stepping
    mr.manual_seed(0)
    x = mr.randn(2, 2, 6, 6, requires_grad=True)
    w1, w2 = mr.randn(3, 2, 3, 3, requires_grad=True), mr.randn(3, 3, 3, 3, requires_grad=True)
    gamma, beta = mr.ones(3, requires_grad=True), mr.zeros(3, requires_grad=True)
    h = F.relu(F.batch_norm(F.conv2d(x, w1, padding=1), None, None, gamma, beta, training=True))
    h = F.conv2d(F.max_pool2d(h, 3, 1, 1), w2, stride=2, padding=1)   # stride 2: col2im in backward
    h = F.add(F.avg_pool2d(h, 1), h)
    w3 = mr.randn(32, 3, 3, 3, requires_grad=True)
    w4 = mr.randn(32, 32, 3, 3, requires_grad=True)
    h = F.conv2d(F.conv2d(h, w3, padding=1), w4, padding=1)   # 32 channels, 3x3, stride 1: Winograd
    loss = F.adaptive_avg_pool2d(h, 1).sum()
    loss.backward()
    """
)

TRACER = textwrap.dedent(
    """
    import json, sys

    paths = {}

    def counted(frame):
        code = frame.f_code
        return "<locals>" not in code.co_qualname and not code.co_filename.endswith("_chunks.py") \\
            and not code.co_name.startswith("<")

    def profile(frame, event, arg):
        if event != "call" or not frame.f_code.co_name.endswith("_loops"):
            return
        between, f = [], frame.f_back
        while f is not None and not (f.f_code.co_name == "_run_backward" and f.f_code.co_filename.endswith("engine.py")):
            if counted(f):
                between.append(f.f_code.co_qualname)
            f = f.f_back
        if f is not None:  # reached from Tensor.backward
            paths.setdefault(frame.f_code.co_name, ["Tensor.backward", *reversed(between), frame.f_code.co_name])

    sys.setprofile(profile)
    exec(compile(NET, "net.py", "exec"))
    sys.setprofile(None)
    print(json.dumps(paths))
    """
)

BACKWARD_LOOPS = {"_im2col_loops", "_col2im_loops", "_max_pool2d_backward_loops", "_avg_pool2d_backward_loops",
                  "_global_avg_pool2d_backward_loops", "_batch_norm_backward_loops", "_relu_backward_loops",
                  "_input_grad_scatter_loops", "_weight_grad_transform_loops", "_output_grad_transform_loops"}


def run(*arguments: str, stdin: str | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """python <arguments> with the numba loops as plain Python (and the numba kernels chosen)."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    env.pop("MINIRES_KERNELS", None)
    return subprocess.run([sys.executable, *arguments], input=stdin, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_every_kernel_loop_is_at_most_four_calls_from_tensor_backward():
    import json

    result = run("-c", f"NET = {NET!r}\n{TRACER}")
    assert result.returncode == 0, result.stderr
    paths = json.loads(result.stdout.strip().splitlines()[-1])
    assert BACKWARD_LOOPS <= set(paths), f"loops never reached from Tensor.backward: {BACKWARD_LOOPS - set(paths)}"
    too_long = {loop: " -> ".join(path) for loop, path in paths.items() if len(path) - 1 > 4}
    assert not too_long, "more than 4 calls from Tensor.backward to the loop:\n" + "\n".join(too_long.values())


def loop_line(module, function: str, text: str) -> tuple[str, int]:
    """(file, line) of the first line of `function` in `module` that contains `text`."""
    lines, start = inspect.getsourcelines(getattr(module, function))
    for offset, line in enumerate(lines):
        if text in line:
            return inspect.getsourcefile(module), start + offset
    raise AssertionError(f"{module.__name__}.{function} has no line with {text!r}")


def test_pdb_stops_in_every_kernel_loop_when_stepping(tmp_path):
    from minires.kernels import batchnorm, elementwise, im2col, pooling

    stops = {
        "im2col": loop_line(im2col, "_im2col_loops", "col[c, i, j, n, oh, ow] = x[n, c, h, w]"),
        "col2im": loop_line(im2col, "_col2im_loops", "total += col[c, i, j, n, oh, ow]"),
        "max_pool": loop_line(pooling, "_max_pool2d_forward_loops", "for j in range(KW)"),
        "batch_norm": loop_line(batchnorm, "_batch_norm_train_forward_loops", "total += x[n, c, h, w]"),
        "batch_norm_backward": loop_line(batchnorm, "_batch_norm_backward_loops", "sum_gy += gy[n, c, h, w]"),
        "relu": loop_line(elementwise, "_relu_forward_loops", "y[i] ="),
    }
    script = tmp_path / "net.py"
    script.write_text(NET)
    commands = []
    for number, (name, (path, line)) in enumerate(stops.items(), start=1):
        # on the first stop: say where, which thread, then never stop here again
        commands += [f"break {path}:{line}", f"commands {number}", "silent",
                     f"p ('stopped in {name}', __import__('threading').current_thread().name)",
                     f"disable {number}", "continue", "end"]
    commands += ["continue", "quit"]
    result = run("-m", "pdb", str(script), stdin="\n".join(commands) + "\n", timeout=180)
    missed = [name for name in stops if f"('stopped in {name}', 'MainThread')" not in result.stdout]
    assert not missed, f"pdb did not stop (on the main thread) in: {missed}\n{result.stdout[-3000:]}\n{result.stderr}"
