"""What runs inside a DataLoader worker process, and get_worker_info().

A worker is a loop: take (task number, batch of indices) from its own index queue, load
and collate that batch, put (task number, batch) on the result queue that all workers
share. The main process (dataloader.py) hands out the tasks and puts the batches back
in order. A worker stops at None, or when the main process has gone away.

Seeding, as PyTorch: each epoch the main process draws one base seed; worker k seeds
Python's `random`, numpy's global `np.random` and minires' generator with base_seed + k,
so two workers never draw the same augmentations and a seeded run repeats itself.
"""

from __future__ import annotations

import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import random as mr_random
from ... import tuning

STATUS_CHECK_INTERVAL = 1.0  # seconds between the main process's checks that its workers are alive
IDLE_CHECK_INTERVAL = 0.1  # seconds between an idle worker's checks for shutdown


@dataclass(frozen=True)
class WorkerInfo:
    """Inside a worker: which one it is, how many there are, its seed, its own copy of the dataset."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The WorkerInfo of this worker process; None in the main process (and with num_workers=0)."""
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process as its type and traceback text."""

    def __init__(self, where: str) -> None:
        exc_type, exc, tb = sys.exc_info()
        self.text = "".join(traceback.format_exception(exc_type, exc, tb))
        self.where, self.name = where, exc_type.__name__
        try:
            pickle.dumps(exc_type)  # a class defined inside a function cannot travel: say RuntimeError instead
            self.exc_type = exc_type
        except (pickle.PicklingError, AttributeError, TypeError):
            self.exc_type = RuntimeError

    def reraise(self) -> None:
        message = f"Caught {self.name} {self.where}.\nOriginal {self.text}"
        try:
            exception = self.exc_type(message)
        except TypeError:  # an exception type whose constructor wants other arguments
            exception = RuntimeError(message)
        try:
            raise exception
        finally:
            del exception  # else this frame and the exception hold each other, and the iterator waits for gc


class ResumeIteration:
    """Sent to persistent workers at the start of each later epoch; they answer with it when ready."""


@dataclass
class IterableDatasetStopIteration:
    """A worker's IterableDataset copy has run out."""

    worker_id: int


class MapFetcher:
    """Loads one batch from a map-style dataset: a list of indices -> collate_fn([samples])."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Any, drop_last: bool) -> None:
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn

    def fetch(self, index: Any) -> Any:
        if not self.auto_collation:  # batch_size=None: index is one index, the batch is one sample
            return self.collate_fn(self.dataset[index])
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(index) if getitems is not None else [self.dataset[i] for i in index]
        return self.collate_fn(samples)


class IterableFetcher:
    """Loads one batch from an iterable dataset: the next len(index) samples of its iterator."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Any, drop_last: bool) -> None:
        self.iterator = iter(dataset)
        self.auto_collation, self.collate_fn, self.drop_last = auto_collation, collate_fn, drop_last
        self.ended = False

    def fetch(self, index: Any) -> Any:
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.iterator))
        samples = []
        for _ in index:
            try:
                samples.append(next(self.iterator))
            except StopIteration:
                self.ended = True
                break
        if not samples or (self.drop_last and len(samples) < len(index)):
            raise StopIteration
        return self.collate_fn(samples)


def seed_everything(seed: int) -> None:
    """Seed every random generator a per-sample transform might use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # numpy's legacy global generator takes 32 bits
    mr_random.manual_seed(seed)


def worker_loop(worker_id: int, num_workers: int, dataset: Any, iterable: bool, auto_collation: bool,
                collate_fn: Any, drop_last: bool, seed: int, init_fn: Any, index_queue: Any, result_queue: Any,
                done_event: Any, parent_pid: int) -> None:
    """The body of worker process worker_id (see the module docstring)."""
    global _worker_info
    where = f"in DataLoader worker process {worker_id}"
    fetcher_type = IterableFetcher if iterable else MapFetcher
    try:
        seed_everything(seed)
        _limit_threads()
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        init_error = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = fetcher_type(dataset, auto_collation, collate_fn, drop_last)
        except Exception:  # noqa: BLE001 (whatever it is, the main process reports it)
            init_error = ExceptionWrapper(where)  # reported with the first batch this worker is asked for
        ended = False
        while True:
            try:
                task = index_queue.get(timeout=IDLE_CHECK_INTERVAL)
            except queue.Empty:
                # Shutdown normally arrives as None; done_event alone suffices when the main process's queue
                # could not send it any more (a loader collected by gc at exit), and a dead parent ends us too.
                if done_event.is_set() or os.getppid() != parent_pid:
                    break
                continue
            if task is None:  # shut down
                break
            if isinstance(task, ResumeIteration):  # a new epoch for a persistent worker
                ended = False
                if init_error is None:
                    fetcher = fetcher_type(dataset, auto_collation, collate_fn, drop_last)  # a fresh iterator
                result_queue.put((task, None))
                continue
            if done_event.is_set() or ended:
                continue  # nothing more to load: wait for None
            task_id, index = task
            if init_error is not None:
                result, init_error = init_error, None
            else:
                try:
                    result = fetcher.fetch(index)
                except StopIteration:
                    if not iterable:
                        result = ExceptionWrapper(where)
                    else:
                        result, ended = IterableDatasetStopIteration(worker_id), True
                except Exception:  # noqa: BLE001 (whatever it is, the main process reports it)
                    result = ExceptionWrapper(where)
            result_queue.put((task_id, result))
            del result  # let go of the batch before waiting for the next task
    except KeyboardInterrupt:
        pass  # the main process handles Ctrl-C
    if done_event.is_set():
        result_queue.cancel_join_thread()  # exit even if nobody reads what is still buffered
        result_queue.close()


def _limit_threads() -> None:
    """One thread for BLAS and for minires' chunks in a worker (as PyTorch's torch.set_num_threads(1)):
    the workers run beside the model's own threads and must not compete with them for every core."""
    tuning.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # BLAS and OpenMP alike
