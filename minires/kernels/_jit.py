"""Jitting the kernel loops, in one place.

Each kernel file writes its loops as plain Python functions and, at the bottom, turns
them into parallel machine code with `parallel_jit(loops)`. With NUMBA_DISABLE_JIT=1,
numba hands the plain function back (and `prange` acts as `range`), so pdb steps
straight into the loops; without numba at all the loops stay plain Python too (and
backend.kernel picks the NumPy reference anyway).
"""

from __future__ import annotations

from collections.abc import Callable

try:
    from numba import njit, prange
except ImportError:  # numba missing
    njit, prange = None, range

__all__ = ["parallel_jit", "prange"]


def parallel_jit(loops: Callable) -> Callable:
    """numba.njit(parallel=True, cache=True)(loops), or loops itself without numba.
    No fastmath: the results must match the reference."""
    return loops if njit is None else njit(parallel=True, cache=True)(loops)
