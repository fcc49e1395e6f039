"""Process-wide CPU settings: threads, BLAS, OpenMP and malloc. Nothing here happens on import.

`import minires` leaves your process as it found it. A training script asks for speed
with one call at its top (the examples and benchmarks do):

    import minires as mr
    mr.tune_process()          # or mr.tune_process(threads=2)

which does, visibly, what each of these lines says (docs/fast.md measures each):

1. `set_num_threads(threads)`: the fast convolution runs `threads` chunks of the batch at
   once, one per worker thread, each with its own one-thread matrix product, so BLAS is
   set to one thread; Numba's parallel kernels use `threads` threads too.
2. OpenMP's idle threads sleep at once (OMP_WAIT_POLICY=PASSIVE) instead of spinning. A
   step alternates between the Numba kernels (OpenMP threads) and the chunk workers
   hundreds of times; spinning OpenMP threads steal the cores from the workers (a
   ResNet-20 step measured 1.6x slower). OpenMP reads this when Numba first starts its
   threads, so it takes effect only if no parallel kernel has run yet (it warns otherwise).
3. glibc's malloc keeps freed memory for reuse instead of handing it back to the operating
   system and faulting it in again, page by page, next step (~34,000 page faults per
   ResNet-20 step at batch 128, measured; with this, 6). Linux with glibc only; skipped when
   MALLOC_* or GLIBC_TUNABLES is in the environment (you chose for yourself).

`set_num_threads` alone is PyTorch's `torch.set_num_threads`; `get_num_threads` reads it back.

"""

from __future__ import annotations

import ctypes
import os
import sys
import warnings

from .kernels import _chunks

_blas_limiter = None  # threadpoolctl's handle on the BLAS limit we set (kept so it stays set)


def get_num_threads() -> int:
    """The number of threads the CPU kernels use (1 until set_num_threads or tune_process)."""
    return _chunks.workers()


def set_num_threads(n: int) -> None:
    """Use n threads on the CPU: n convolution chunks at once (BLAS then at one thread
    inside each), and n threads for Numba's parallel kernels. As torch.set_num_threads."""
    global _blas_limiter
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    _chunks.set_workers(n)
    try:
        import numba
    except ImportError:  # without numba the reference kernels run: nothing to set there
        pass
    else:
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    from threadpoolctl import threadpool_limits

    if _blas_limiter is not None:  # undo our previous limit first, so n = 1 gives BLAS back its own
        _blas_limiter.restore_original_limits()
        _blas_limiter = None
    if n > 1:  # each chunk worker runs its own matrix product: one BLAS thread per worker
        _blas_limiter = threadpool_limits(limits=1, user_api="blas")


def default_threads() -> int:
    """MINIRES_THREADS if set, else the cores this process may run on."""
    if os.environ.get("MINIRES_THREADS", "").strip():
        value = os.environ["MINIRES_THREADS"]
        if not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"MINIRES_THREADS must be a positive integer, got {value!r}")
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def tune_process(threads: int | None = None) -> None:
    """Set this process up to train fast on the CPU: threads (default: default_threads()),
    OpenMP's idle policy and malloc's thresholds, as the module docstring says."""
    _let_openmp_threads_sleep()
    set_num_threads(default_threads() if threads is None else threads)
    keep_freed_memory()


def _let_openmp_threads_sleep() -> None:
    if "OMP_WAIT_POLICY" in os.environ:
        return  # your own choice stands
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    numba = sys.modules.get("numba")
    layer_started = numba is not None and getattr(numba.np.ufunc.parallel, "_is_initialized", False)
    if layer_started:
        warnings.warn("tune_process: Numba's threads already started, so OMP_WAIT_POLICY=PASSIVE takes effect "
                      "only in new processes; call tune_process() before the first minires op", stacklevel=3)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (item 3 of the module docstring).
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
