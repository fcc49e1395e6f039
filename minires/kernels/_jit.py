"""Jitting the kernel loops, in one place.

Each kernel file writes its loops as plain Python functions and, at the bottom, turns
them into parallel machine code with `parallel_jit(loops)` -- or, for the im2col
family, whose callers already run one chunk per worker thread (kernels/_chunks.py), into
one-thread code with `serial_jit(loops)`. With NUMBA_DISABLE_JIT=1,
numba hands the plain function back (and `prange` acts as `range`), so pdb steps
straight into the loops; without numba at all the loops stay plain Python too (and
backend.choose picks the NumPy reference anyway).
"""

from __future__ import annotations

from collections.abc import Callable

try:
    from numba import njit, prange
except ImportError:  # numba missing
    njit, prange = None, range

__all__ = ["inline_jit", "parallel_jit", "prange", "serial_jit"]


def parallel_jit(loops: Callable, reassociate_sums: bool = False) -> Callable:
    """numba.njit(parallel=True, cache=True)(loops), or loops itself without numba.

    No fastmath, so the loops do the reference's floating-point operations, with one
    exception on request: reassociate_sums=True (LLVM's `reassoc` flag alone) lets a
    running sum such as `total += x[i]` be split over the SIMD lanes and added up at
    the end. Without it, each addition waits for the one before, and batch norm's
    float64 channel sums ran 1.5-2x slower. The sums then differ from the reference's
    in their last bits only; NaN and infinity keep their meaning."""
    if njit is None:
        return loops
    return njit(parallel=True, cache=True, fastmath={"reassoc"} if reassociate_sums else False)(loops)


def serial_jit(loops: Callable, fused_multiply_add: bool = False) -> Callable:
    """numba.njit(nogil=True, cache=True)(loops), or loops itself without numba: one
    thread, with the GIL released, for kernels that kernels/_chunks.py runs side by side
    on chunks of a batch (a `prange` in such loops acts as `range`).

    fused_multiply_add=True (LLVM's `contract` flag alone) lets `a * k + b` become one
    FMA instruction, rounded once instead of twice: the Winograd F(4x4) transforms, made
    of such terms, took up to 30% less time (measured: docs/fast.md)."""
    if njit is None:
        return loops
    return njit(nogil=True, cache=True, fastmath={"contract"} if fused_multiply_add else False)(loops)


def inline_jit(helper: Callable) -> Callable:
    """numba.njit(inline="always")(helper), or helper itself without numba: a small
    function (a 1-D transform, say) that numba pastes into each jitted loop calling it,
    so the loop reads like the maths and runs as if written out."""
    return helper if njit is None else njit(inline="always")(helper)
