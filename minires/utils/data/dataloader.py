"""DataLoader: batches from a dataset, loaded in this process or in worker processes, as torch.utils.data.

    sampler          -> indices            0, 5, 3, 1, ...    (SequentialSampler, or RandomSampler if shuffle)
    batch_sampler    -> batches of indices [0, 5], [3, 1], ... (BatchSampler(sampler, batch_size, drop_last))
    fetch            -> samples            [dataset[0], dataset[5]]
    collate_fn       -> one batch          default_collate: (X (2, ...), Y (2,))

With num_workers=0 all of this runs in the loop that asks for the next batch. With
num_workers=k, k worker processes (worker.py) load batches ahead of time: the main process
hands batch i to worker i mod k (round robin), keeps up to prefetch_factor * k batches in
flight, and yields them in order (batch i+1 may arrive first; it waits). A Python-level
per-image transform then runs on other cores while the model trains.

>>> loader = DataLoader(list(range(10)), batch_size=4)   # a list is a map-style dataset
>>> [batch.tolist() for batch in loader]
[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
>>> [batch.shape for batch in loader]
[(4,), (4,), (2,)]
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import queue
import sys
import time
import weakref
from typing import Any

from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    _InfiniteConstantSampler,
    as_generator,
    epoch_generator,
)
from .worker import (
    STATUS_CHECK_INTERVAL,
    ExceptionWrapper,
    IterableDatasetStopIteration,
    IterableFetcher,
    MapFetcher,
    ResumeIteration,
    worker_loop,
)


class DataLoader:
    """Iterate over a dataset in batches.

    dataset:       map-style (len, [i]) or an IterableDataset
    batch_size:    samples per batch (None: one sample at a time, no collation)
    shuffle:       a new random order each epoch (RandomSampler)
    sampler:       the indices to load, in order (excludes shuffle)
    batch_sampler: lists of indices, one per batch (excludes batch_size, shuffle, sampler, drop_last)
    num_workers:   worker processes (0: load in this process)
    collate_fn:    list of samples -> batch (default_collate; default_convert when batch_size=None)
    pin_memory:    accepted and ignored: minires never pins memory. On the CPU there is nothing
                   to pin; on a GPU batches are copied to the device by .to("cuda") as usual.
    drop_last:     drop a last batch shorter than batch_size
    timeout:       seconds to wait for a worker's batch before RuntimeError (0: forever)
    worker_init_fn: called as worker_init_fn(worker_id) inside each worker, after seeding
    multiprocessing_context: None (fork on Linux, spawn elsewhere), "fork", "spawn", "forkserver",
                   or a multiprocessing context
    generator:     shuffling and the workers' base seed: a numpy Generator, an int seed, or None
                   (then minires' global generator, seeded by mr.manual_seed)
    prefetch_factor: batches in flight per worker (default 2 with workers)
    persistent_workers: keep the workers alive from one epoch to the next
    in_order:      False yields batches as they arrive, not in sampler order

    Workers are separate processes (fork: a copy of this one). Each worker seeds Python's
    `random`, np.random and minires' generator with base_seed + worker_id, limits BLAS to one
    thread, and runs collate_fn itself. An exception in a worker is raised here, with the
    worker's traceback in its message. Workers exit at the end of each epoch (unless
    persistent), when a loop breaks off and the iterator is dropped, or when this process dies.
    Forked workers should run NumPy/Python transforms, not minires kernels: a parallel Numba
    kernel started in the parent may not survive a fork.
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None, sampler: Any = None,
                 batch_sampler: Any = None, num_workers: int = 0, collate_fn: Any = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Any = None,
                 multiprocessing_context: Any = None, generator: Any = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if pin_memory_device:
            raise NotImplementedError(f"DataLoader: pin_memory_device={pin_memory_device!r} (minires pins no memory)")

        if isinstance(dataset, IterableDataset):
            if shuffle not in (False, None):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")

        generator = as_generator(generator, "DataLoader")
        if sampler is None:
            if isinstance(dataset, IterableDataset):
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset, self.num_workers, self.prefetch_factor = dataset, num_workers, prefetch_factor
        self.pin_memory, self.pin_memory_device, self.timeout = pin_memory, pin_memory_device, timeout
        self.worker_init_fn, self.in_order = worker_init_fn, in_order
        self.multiprocessing_context = _context(multiprocessing_context, num_workers)
        self.batch_size, self.drop_last, self.sampler, self.batch_sampler = batch_size, drop_last, sampler, batch_sampler
        self.generator, self.persistent_workers = generator, persistent_workers
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None else default_convert)
        self._iterator: _MultiProcessIter | None = None  # kept between epochs with persistent_workers
        self._initialized = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_initialized", False) and name in ("batch_size", "batch_sampler", "sampler", "drop_last",
                                                              "dataset", "persistent_workers"):
            raise ValueError(f"{name} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        """What one step of iteration draws: a list of indices (batching) or one index."""
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self) -> _SingleProcessIter | _MultiProcessIter:
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return _MultiProcessIter(self)
        if self._iterator is None:
            self._iterator = _MultiProcessIter(self)
        else:
            self._iterator.reset(self)
        return self._iterator

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):  # as PyTorch: the dataset's own len, batched
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)


def _context(context: Any, num_workers: int) -> Any:
    """The multiprocessing context workers start in: fork on Linux (fast, nothing pickled), else spawn."""
    if context is None:
        if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
            return multiprocessing.get_context("fork")
        return multiprocessing.get_context("spawn")
    if num_workers == 0:
        raise ValueError(f"multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                         f"but got num_workers={num_workers}")
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError(f"multiprocessing_context option should specify a valid start method in {methods!r}, "
                             f"but got multiprocessing_context={context!r}")
        return multiprocessing.get_context(context)
    if isinstance(context, multiprocessing.context.BaseContext):
        return context
    raise TypeError(f"multiprocessing_context option should be a valid context object or a string specifying "
                    f"the start method, but got multiprocessing_context={context!r}")


def _fetcher(loader: DataLoader, dataset: Any) -> MapFetcher | IterableFetcher:
    fetcher_type = IterableFetcher if isinstance(dataset, IterableDataset) else MapFetcher
    return fetcher_type(dataset, loader._auto_collation, loader.collate_fn, loader.drop_last)


class _SingleProcessIter:
    """num_workers=0: each next() draws the next indices and loads them, here and now."""

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        self._sampler_iter = iter(loader._index_sampler)
        epoch_generator(loader.generator).integers(2**62)  # the workers' base seed, unused: 0 and k workers shuffle alike
        self._fetcher = _fetcher(loader, loader.dataset)

    def __iter__(self) -> _SingleProcessIter:
        return self

    def __next__(self) -> Any:
        index = next(self._sampler_iter)  # StopIteration: the epoch is over
        return self._fetcher.fetch(index)  # an IterableDataset's StopIteration ends it too

    def __len__(self) -> int:
        return len(self._loader)


class _MultiProcessIter:
    """num_workers > 0: hands batches of indices to worker processes and yields their batches in order.

    Bookkeeping, per epoch:
      _send_idx      the number the next task gets (tasks are batches, numbered from 0)
      _rcvd_idx      the task to yield next
      _tasks         task number -> [worker id] while loading, [worker id, batch] once it arrived early
      _active        per worker: False once its IterableDataset copy ran out
    """

    def __init__(self, loader: DataLoader) -> None:
        self._loader = weakref.ref(loader)  # not the loader itself: a persistent loader holds its iterator
        self._num_workers, self._prefetch = loader.num_workers, loader.prefetch_factor
        self._timeout, self._in_order, self._persistent = loader.timeout, loader.in_order, loader.persistent_workers
        self._shutdown = True  # until the workers exist
        base_seed = int(epoch_generator(loader.generator).integers(2**62))
        context = loader.multiprocessing_context
        self._done_event = context.Event()
        self._result_queue = context.Queue()
        self._index_queues, self._workers = [], []
        self._shutdown = False
        for worker_id in range(self._num_workers):
            index_queue = context.Queue()
            index_queue.cancel_join_thread()  # never wait at exit to deliver indices nobody will load
            worker = context.Process(
                target=worker_loop, daemon=True,  # daemon: killed if this process exits first
                args=(worker_id, self._num_workers, loader.dataset, isinstance(loader.dataset, IterableDataset),
                      loader._auto_collation, loader.collate_fn, loader.drop_last, base_seed + worker_id,
                      loader.worker_init_fn, index_queue, self._result_queue, self._done_event, os.getpid()))
            worker.start()
            self._index_queues.append(index_queue)
            self._workers.append(worker)
        self.reset(loader, first_epoch=True)

    def reset(self, loader: DataLoader, first_epoch: bool = False) -> None:
        """Start an epoch: a fresh pass over the sampler, then fill the workers' queues."""
        self._sampler_iter = iter(loader._index_sampler)
        self._send_idx = self._rcvd_idx = 0
        self._tasks: dict[int, list] = {}
        self._outstanding = 0
        self._active = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        if not first_epoch:  # persistent workers: each answers ResumeIteration once it is ready
            for index_queue in self._index_queues:
                index_queue.put(ResumeIteration())
            waiting = self._num_workers
            while waiting:
                task_id, _ = self._get()
                waiting -= isinstance(task_id, ResumeIteration)  # anything else is left over from the last epoch
        for _ in range(self._prefetch * self._num_workers):
            self._put_task()

    def _put_task(self) -> None:
        """Send the next batch of indices to the next active worker (round robin)."""
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            worker_id = next(self._worker_cycle)
            if self._active[worker_id]:
                break
        else:
            return  # every worker's IterableDataset has run out
        self._index_queues[worker_id].put((self._send_idx, index))
        self._tasks[self._send_idx] = [worker_id]
        self._outstanding += 1
        self._send_idx += 1

    def __iter__(self) -> _MultiProcessIter:
        return self

    def __len__(self) -> int:
        return len(self._loader())

    def __next__(self) -> Any:
        while True:
            # Skip tasks that will never arrive: yielded already (in_order=False), or sent to a worker whose
            # IterableDataset ran out.
            while self._rcvd_idx < self._send_idx:
                task = self._tasks.get(self._rcvd_idx)
                if task is not None and (len(task) == 2 or self._active[task[0]]):
                    break
                self._tasks.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:  # nothing left in flight: the epoch is over
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._tasks[self._rcvd_idx]) == 2:  # it arrived earlier, out of order
                batch = self._tasks.pop(self._rcvd_idx)[1]
                self._rcvd_idx += 1
                return self._deliver(batch)
            task_id, batch = self._get()
            self._outstanding -= 1
            if isinstance(batch, IterableDatasetStopIteration):
                self._active[batch.worker_id] = False
                if not self._persistent:
                    self._index_queues[batch.worker_id].put(None)  # that worker may go now
                self._put_task()
                continue
            if task_id == self._rcvd_idx or not self._in_order:
                self._tasks.pop(task_id)
                return self._deliver(batch)
            self._tasks[task_id].append(batch)  # keep it until its turn

    def _deliver(self, batch: Any) -> Any:
        self._put_task()  # one out, one in: keep prefetch_factor * num_workers in flight
        if isinstance(batch, ExceptionWrapper):
            batch.reraise()
        return batch

    def _get(self) -> tuple[Any, Any]:
        """The next (task number, batch) from any worker, checking meanwhile that the workers are alive."""
        start = time.monotonic()
        while True:
            wait = STATUS_CHECK_INTERVAL
            if self._timeout > 0:
                wait = min(wait, self._timeout - (time.monotonic() - start))
            try:
                return self._result_queue.get(timeout=max(wait, 0.0))
            except queue.Empty:
                pass
            dead = [w for i, w in enumerate(self._workers) if self._active[i] and not w.is_alive()]
            if dead:
                self._shutdown_workers()
                pids = ", ".join(str(w.pid) for w in dead)
                codes = ", ".join(str(w.exitcode) for w in dead)
                raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly (exit code(s) {codes})")
            if self._timeout > 0 and time.monotonic() - start >= self._timeout:
                self._shutdown_workers()
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    def _shutdown_workers(self) -> None:
        """Tell every worker to stop, wait for it (terminate one that does not stop), close the queues."""
        if self._shutdown:
            return
        self._shutdown = True
        self._done_event.set()
        for index_queue in self._index_queues:
            index_queue.put(None)
        for worker in self._workers:
            worker.join(timeout=STATUS_CHECK_INTERVAL)
            if worker.is_alive():
                worker.terminate()
                worker.join()
        for q in [*self._index_queues, self._result_queue]:
            q.cancel_join_thread()
            q.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit what it needs may be gone; workers are daemons
            self._shutdown_workers()

