"""Threads, and what else a training process may want. Nothing here happens on import.

minires is fast by default, as PyTorch is: it uses one worker thread per core this process
may run on (MINIRES_THREADS overrides), with no call at all. Everything its speed needs it
arranges inside its own calls and undoes afterwards (kernels/_chunks.py): BLAS is held at
one thread only while minires's workers run their matrix products, and minires runs its
loop kernels on those same workers rather than on OpenMP threads, which spin while they
wait. So `import minires` leaves your process as it found it, and numpy code of your own
between steps sees BLAS as it left it.

    mr.set_num_threads(4)       # as torch.set_num_threads: how many threads minires uses
    mr.get_num_threads()        # as torch.get_num_threads

`tune_process()` is minires's one optional extra, for a process that does nothing but train:
threads, plus glibc's malloc told to keep freed memory for reuse instead of handing it back
to the operating system and faulting it in again, page by page, next step (Linux with glibc
only; skipped when MALLOC_* or GLIBC_TUNABLES is in the environment: you chose for yourself).
docs/fast.md measures what it still gives.
"""

from __future__ import annotations

import ctypes
import os
import sys

from .kernels import _chunks
from .kernels._chunks import default_threads

__all__ = ["default_threads", "get_num_threads", "keep_freed_memory", "set_num_threads", "tune_process"]


def get_num_threads() -> int:
    """The number of threads minires's CPU kernels use (default: the cores this process may use)."""
    return _chunks.workers()


def set_num_threads(n: int) -> None:
    """Use n threads on the CPU, as torch.set_num_threads: n convolution chunks and n ranges
    of every loop kernel at once (BLAS at one thread inside each, while they run)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    _chunks.set_workers(n)


def tune_process(threads: int | None = None) -> None:
    """For a process that only trains: set_num_threads (default: default_threads()) and
    keep_freed_memory()."""
    set_num_threads(default_threads() if threads is None else threads)
    keep_freed_memory()


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (the module docstring says why).
    True if it was set, False where it does not apply (not glibc, or MALLOC_*/GLIBC_TUNABLES set).

    Both thresholds are set because setting either one alone stops glibc from adapting
    the other (then every array over 128 KiB is mapped afresh: far worse)."""
    if not sys.platform.startswith("linux") or any(k.startswith(("MALLOC_", "GLIBC_TUNABLES")) for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, say): leave malloc alone
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20)  # arrays up to 32 MiB come from the heap
    libc.mallopt(M_TRIM_THRESHOLD, 2**30)  # hand memory back only when 1 GiB lies free at the heap's top
    return True
