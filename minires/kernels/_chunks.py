"""Chunks of a batch, worked through on all CPU cores at once: speed machinery of the fast kernels.

The Numba convolution (kernels/conv.py) cuts its batch into chunks of a few images whose
column buffers stay under a workspace bound, so each chunk's columns are still in the
CPU's cache when the matrix product reads them. `map_chunks` hands whole chunks to
workers, one per core (the calling thread and a pool of threads for the other cores):
each worker does im2col and the matrix product of its chunk
alone, with BLAS at one thread, so every core works in its own cache and never waits for
the other in the middle of a chunk. Measured on a 2-core machine, ResNet-20's
convolutions took ~15% less time this way than with every im2col and every product split
over both cores in turn.

There is one worker per core this process may use (as PyTorch's threads), unless
MINIRES_THREADS or `minires.set_num_threads(n)` says otherwise. The same workers run the
other loop kernels (pooling, batch norm, ReLU: `loop_chunks`), so minires keeps exactly one
set of threads busy, its own, and never starts OpenMP's, which spin while they wait. While
the workers run, BLAS is held at one thread (each worker runs its own matrix product), and
put back as it was when they are done, so numpy code of your own between steps sees BLAS
as it left it. Under NUMBA_DISABLE_JIT=1 or MINIRES_KERNELS=reference the chunks always run
on the calling thread, so a pdb breakpoint in any loop fires.

The kernels a worker calls must release Python's GIL: NumPy's matrix product does, and
the Numba loops used here are jitted with nogil=True (kernels/_jit.py).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

_workers: int | None = None  # how many chunks run at once: set_workers's choice, else default_threads()


def set_workers(n: int | None) -> None:
    """Run n chunks at once on the CPU (1: in turn, on the calling thread; None: the default)."""
    global _workers
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"set_workers: need at least 1 worker, got {n!r}")
    _workers = n


def workers() -> int:
    """How many chunks run at once on the CPU now (1 under NUMBA_DISABLE_JIT=1 or
    MINIRES_KERNELS=reference: then everything runs on the calling thread, for pdb)."""
    if stepping():
        return 1
    return default_threads() if _workers is None else _workers


def default_threads() -> int:
    """MINIRES_THREADS if set, else the cores this process may run on (as PyTorch's default)."""
    value = os.environ.get("MINIRES_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"MINIRES_THREADS must be a positive integer, got {value!r}")
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def stepping() -> bool:
    """True when the kernels run as plain Python for reading and pdb: NUMBA_DISABLE_JIT=1
    or MINIRES_KERNELS=reference."""
    return (os.environ.get("NUMBA_DISABLE_JIT", "0").strip() not in ("", "0")
            or os.environ.get("MINIRES_KERNELS", "").strip().lower() == "reference")


# The im2col column buffer of a convolution is C*KH*KW*OH*OW numbers per image; for a
# big batch that can be gigabytes. The fast convolution works through the batch in chunks
# whose column buffer stays under this limit (MINIRES_WORKSPACE_MB, default 4 MiB: small
# enough to stay in the CPU's cache between im2col and the matrix product).
_workspace_bytes = int(float(os.environ.get("MINIRES_WORKSPACE_MB", "4")) * 2**20)


def workspace_bytes() -> int:
    """The largest column buffer one chunk of a fast convolution may allocate, in bytes."""
    return _workspace_bytes


def set_workspace_bytes(limit: int) -> None:
    """Change the workspace limit (bytes); at least one image is always processed."""
    global _workspace_bytes
    if limit <= 0:
        raise ValueError(f"set_workspace_bytes: the limit must be positive, got {limit}")
    _workspace_bytes = int(limit)


def balanced_chunks(n_items: int, max_per_chunk: int, parts: int | None = None) -> list[tuple[int, int]]:
    """[(start, stop), ...] covering range(n_items) with chunks of at most max_per_chunk
    items, as equal as possible, their number a multiple of `parts` (default workers())
    so that every worker gets the same amount of work.

    >>> balanced_chunks(10, 4, parts=1)      # 3 chunks are enough for 10 items, 4 at a time
    [(0, 3), (3, 6), (6, 10)]
    >>> balanced_chunks(10, 4, parts=2)      # 4 chunks, 2 per worker
    [(0, 2), (2, 5), (5, 7), (7, 10)]
    >>> balanced_chunks(3, 10, parts=2)
    [(0, 1), (1, 3)]
    """
    if n_items == 0:
        return []
    parts = workers() if parts is None else parts
    n_chunks = -(-n_items // max(1, max_per_chunk))  # ceil: the fewest chunks under the limit
    n_chunks = min(n_items, -(-n_chunks // parts) * parts)  # rounded up to a multiple of parts
    bounds = [n_items * k // n_chunks for k in range(n_chunks + 1)]
    return list(pairwise(bounds))


def loop_chunks(n_items: int, work_per_item: int) -> list[tuple[int, int]]:
    """One chunk of range(n_items) per worker, for a loop kernel whose iterations are
    independent (pooling's (n, c) planes, batch norm's channels); a single chunk when the
    whole loop is too little work (under 32K numbers) to be worth waking a thread for."""
    parts = workers() if n_items * work_per_item >= 32768 else 1
    return balanced_chunks(n_items, -(-n_items // parts), parts)


def run_loops(loops: Callable, n_items: int, work_per_item: int, *args: Any) -> None:
    """loops(*args, start, stop) over all of range(n_items), split between the workers
    (loop_chunks); the iterations must be independent (each writes only its own outputs)."""
    map_chunks(lambda start, stop: loops(*args, start, stop), loop_chunks(n_items, work_per_item))


def image_chunks(n: int, bytes_per_image: int) -> list[tuple[int, int]]:
    """Chunks of a batch of n images whose workspace, bytes_per_image each, fits in
    workspace_bytes(); as many as a multiple of the workers (never less than one image)."""
    return balanced_chunks(n, workspace_bytes() // max(1, bytes_per_image))


_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_inside_worker = threading.local()


def map_chunks(fn: Callable[[int, int], Any], chunks: list[tuple[int, int]]) -> list:
    """[fn(start, stop) for start, stop in chunks], the results in chunk order.

    With two or more workers and two or more chunks, worker k takes chunks k, k + workers,
    k + 2*workers, ...; worker 0 is the calling thread itself, the others are threads of a
    pool. Otherwise (one worker, one chunk, stepping, or a call from inside a worker) the
    chunks run in turn, right here. One task per worker rather than one per chunk, and the
    caller working instead of waiting: waking a thread costs 10-200 microseconds on the
    test machine (measured), and a ResNet step calls this a hundred times or more.
    """
    global _pool, _pool_workers
    n_workers = workers()
    if len(chunks) < 2 or n_workers < 2 or getattr(_inside_worker, "active", False):
        return [fn(start, stop) for start, stop in chunks]
    if _pool_workers != n_workers:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(n_workers - 1, thread_name_prefix="minires", initializer=_mark_worker)
        _pool_workers = n_workers

    def share(k: int) -> list:  # worker k's chunks, in order
        return [fn(*chunk) for chunk in chunks[k::n_workers]]

    with _one_blas_thread():
        others = [_pool.submit(share, k) for k in range(1, n_workers)]
        results = [None] * len(chunks)
        _inside_worker.active = True  # a map_chunks inside fn runs its chunks in turn, as in a pool thread
        try:
            results[0::n_workers] = share(0)
        finally:
            _inside_worker.active = False
            for k, other in enumerate(others, start=1):  # wait for every worker, even if share 0 raised
                results[k::n_workers] = other.result()
    return results


_blas_libraries: list | None = None  # threadpoolctl's handles on the BLAS libraries numpy loaded


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS at one thread while the workers run (each runs a matrix product of its own),
    then each BLAS library put back at the threads it had. threadpoolctl finds the libraries
    once; setting and reading a library's threads is then one C call each."""
    global _blas_libraries
    if _blas_libraries is None:
        from threadpoolctl import ThreadpoolController

        _blas_libraries = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    before = [library.get_num_threads() for library in _blas_libraries]
    for library, threads in zip(_blas_libraries, before):
        if threads != 1:
            library.set_num_threads(1)
    try:
        yield
    finally:
        for library, threads in zip(_blas_libraries, before):
            if threads != 1:
                library.set_num_threads(threads)


def _mark_worker() -> None:
    _inside_worker.active = True
