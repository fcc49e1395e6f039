"""Which array module (numpy or cupy) and which kernel implementation runs.

Everything that has to choose between CPU and GPU, or between the three kernel
implementations, asks this file, so the choice is made in exactly one place.

    xp = backend.array_module(x)        # numpy for numpy arrays, cupy for cupy arrays
    f = backend.choose(x, im2col_reference, im2col_numba, im2col_cupy)   # one of the three

Every kernel family (minires/kernels/) calls `choose` in the public function of each kernel,
naming the three implementations, so an editor's go-to-definition follows the call from
the op to the loop. The choice, in order:
1. cupy arrays            -> the `_cupy` implementation
2. MINIRES_KERNELS=reference in the environment -> `_reference`
3. numba importable       -> `_numba`
4. otherwise              -> `_reference`

The CPU path never imports cupy: `array_module` only looks at the array's type
name, and cupy is imported only when a cupy array has been seen (which means
the user already imported it) or when the user asks for the GPU.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

IMPLEMENTATIONS = ("reference", "numba", "cupy")

# name -> implementation of the most recent call that went through choose();
# lets a user (or a test) ask "which implementation ran?"
last_used: dict[str, str] = {}


def is_cupy_array(x: Any) -> bool:
    """True when x is a cupy ndarray; never imports cupy."""
    return type(x).__module__.split(".")[0] == "cupy"


def array_module(x: Any) -> ModuleType:
    """numpy or cupy, whichever module x's array belongs to (numpy for scalars)."""
    if is_cupy_array(x):
        return sys.modules["cupy"]  # x is a cupy array, so cupy is already imported
    return np


def device_of(x: Any) -> str:
    """'cuda' for cupy arrays, 'cpu' for everything else."""
    return "cuda" if is_cupy_array(x) else "cpu"


def cupy_module() -> ModuleType:
    """Import cupy on demand, with a clear error when it or a GPU is missing."""
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            "device 'cuda' needs CuPy and an NVIDIA GPU: pip install 'minires[gpu]'"
        ) from e
    return cupy


def gpu_available() -> bool:
    """True when cupy imports and sees at least one CUDA device."""
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except (ImportError, OSError, RuntimeError):  # no driver, no device: no usable GPU
        return False


def numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


def cpu_implementation() -> str:
    """The kernel implementation used for numpy arrays: 'numba' or 'reference'."""
    forced = os.environ.get("MINIRES_KERNELS", "").strip().lower()
    if forced not in ("", "reference", "numba"):
        raise ValueError(
            f"MINIRES_KERNELS must be 'reference' or 'numba', got {forced!r}"
        )
    if forced == "reference" or not numba_available():
        return "reference"
    return "numba"


def implementation(x: Any) -> str:
    """Which kernel implementation runs for array x: 'cupy', 'numba' or 'reference'.

    >>> implementation(np.zeros(3)) in ("numba", "reference")
    True
    """
    return "cupy" if is_cupy_array(x) else cpu_implementation()


def choose(x: Any, reference: Callable, numba: Callable, cupy: Callable) -> Callable:
    """The implementation of one kernel that runs for array x: `cupy` for a cupy array,
    else `numba` or `reference` (cpu_implementation()). The choice is remembered in
    `last_used[<kernel name>]`, so you can ask which one ran.

    >>> def twice_reference(x): return 2 * x
    >>> choose(np.ones(1), twice_reference, twice_reference, twice_reference) is twice_reference
    True
    """
    impl = implementation(x)
    last_used[reference.__name__.removesuffix("_reference")] = impl
    return {"reference": reference, "numba": numba, "cupy": cupy}[impl]
