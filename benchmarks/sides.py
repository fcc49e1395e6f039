"""Run a benchmark's sides (minires, PyTorch, ...) in separate processes, taking turns.

Each side gets a process of its own, so each keeps its own thread settings: minires
makes idle OpenMP threads sleep (`mr.tune_process()`, minires/tuning.py), while PyTorch's threads spin
between calls, and in one shared process either choice would slow the other side down.
The sides take turns for several rounds, so the machine's drifting load hits all alike.

Which kernels NumPy's OpenBLAS runs (AVX2 or AVX-512, say) decides much of minires's
speed, and an environment can force them (OPENBLAS_CORETYPE): `blas_note()` names them
for the benchmark's header, so a printed table says what it measured.

A benchmark script calls `run_sides(...)` in its parent process; the same script, started
with `--side NAME`, times that side alone and prints its times as one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_sides(script: str, sides: dict[str, tuple[list[str], dict[str, str]]], rounds: int) -> dict:
    """{side: {case: [ms, ...]}} gathered over `rounds` turns of every side.

    sides: side name -> (the arguments for `script`, environment variables to add)."""
    times: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    for _ in range(rounds):
        for side, (arguments, env) in sides.items():
            result = subprocess.run([sys.executable, script, *arguments], env={**os.environ, **env},
                                    capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"{script} {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}")
            for case, ms in json.loads(result.stdout.strip().splitlines()[-1]).items():
                times[side].setdefault(case, []).extend(ms)
    return times


def blas_note() -> str:
    """One line for a benchmark's header: the kernels NumPy's OpenBLAS runs in this environment."""
    import numpy  # noqa: F401  loads OpenBLAS, so that threadpoolctl can ask it
    from threadpoolctl import threadpool_info

    found = [f"{pool['internal_api']} {pool.get('architecture')}" for pool in threadpool_info()
             if pool["user_api"] == "blas"]
    forced = f" (OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']})" if "OPENBLAS_CORETYPE" in os.environ else ""
    return f"numpy's BLAS: {', '.join(found) or 'unknown'}{forced}"


def print_times(times: dict[str, list[float]]) -> None:
    """The child's answer: one JSON line on stdout."""
    print(json.dumps(times))
