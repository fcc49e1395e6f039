"""Jitting the kernel loops, in one place.

Each kernel file writes its loops as plain Python functions and, at the bottom, turns
them into one-thread machine code that releases the GIL with `serial_jit(loops)`.
minires's own workers (kernels/_chunks.py) run them side by side: a convolution one chunk
of its batch per worker, a pooling or batch-norm loop a range of its planes or channels
per worker (`run_loops`). Numba's own parallel loops (prange) are not used: their OpenMP
threads spin while they wait and steal the cores from minires's workers. With
NUMBA_DISABLE_JIT=1, numba hands the plain function back, so pdb steps straight into the
loops; without numba at all the loops stay plain Python too (and backend.choose picks
the NumPy reference anyway).
"""

from __future__ import annotations

from collections.abc import Callable

try:
    from numba import njit
except ImportError:  # numba missing
    njit = None

__all__ = ["inline_jit", "serial_jit"]


def serial_jit(loops: Callable, fused_multiply_add: bool = False, reassociate_sums: bool = False) -> Callable:
    """numba.njit(nogil=True, cache=True)(loops), or loops itself without numba: one
    thread, with the GIL released, for kernels that kernels/_chunks.py runs side by side.

    No fastmath, so the loops do the reference's floating-point operations, with two
    exceptions on request. fused_multiply_add=True (LLVM's `contract` flag alone) lets
    `a * k + b` become one FMA instruction, rounded once instead of twice: the Winograd
    F(4x4) transforms, made of such terms, took up to 30% less time (measured:
    docs/fast.md). reassociate_sums=True (LLVM's `reassoc` alone) lets a running sum such
    as `total += x[i]` be split over the SIMD lanes and added up at the end; without it,
    each addition waits for the one before, and batch norm's float64 channel sums ran
    1.5-2x slower. The sums then differ from the reference's in their last bits only;
    NaN and infinity keep their meaning."""
    if njit is None:
        return loops
    flags = ({"contract"} if fused_multiply_add else set()) | ({"reassoc"} if reassociate_sums else set())
    # error_model="numpy": x / 0 is inf or NaN, as in numpy and the references (Python's would raise)
    return njit(nogil=True, cache=True, error_model="numpy", fastmath=flags or False)(loops)


def inline_jit(helper: Callable) -> Callable:
    """numba.njit(inline="always")(helper), or helper itself without numba: a small
    function (a 1-D transform, say) that numba pastes into each jitted loop calling it,
    so the loop reads like the maths and runs as if written out."""
    return helper if njit is None else njit(inline="always")(helper)
