"""minires/kernels/_chunks.py: chunks of a batch on all CPU cores, and the convolution built on it."""

from __future__ import annotations

import os
import threading
import time
from itertools import pairwise

import numpy as np
import pytest
from helpers import assert_close, random_tensor

import minires as mr
import minires.nn.functional as F
from minires.kernels import _chunks


@pytest.fixture
def workers():
    """set(n) runs n chunks at once for this test; back to one worker afterwards."""
    yield _chunks.set_workers
    _chunks.set_workers(1)


@pytest.mark.parametrize("n_items, max_per_chunk, parts", [(128, 7, 2), (128, 21, 2), (3, 100, 2), (5, 1, 2),
                                                            (1, 4, 2), (10, 3, 1), (127, 6, 4)])
def test_balanced_chunks_cover_the_batch_in_equal_shares(n_items, max_per_chunk, parts):
    chunks = _chunks.balanced_chunks(n_items, max_per_chunk, parts)
    assert chunks[0][0] == 0 and chunks[-1][1] == n_items
    assert all(stop == next_start for (_, stop), (next_start, _) in pairwise(chunks)), chunks
    sizes = [stop - start for start, stop in chunks]
    assert min(sizes) >= 1 and max(sizes) <= max(max_per_chunk, 1) and max(sizes) - min(sizes) <= 1, sizes
    assert len(chunks) % parts == 0 or len(chunks) == n_items, (len(chunks), parts)


def test_map_chunks_runs_on_the_workers_and_keeps_chunk_order(workers):
    workers(2)
    chunks = _chunks.balanced_chunks(20, 3, parts=2)
    threads = {}

    def record(start, stop):
        threads[start, stop] = threading.current_thread().name
        return (start, stop)

    assert _chunks.map_chunks(record, chunks) == chunks
    # worker 0 is the caller, worker 1 a pool thread; each takes every other chunk
    here = threading.current_thread().name
    assert [threads[chunk] for chunk in chunks[0::2]] == [here] * len(chunks[0::2]), threads
    assert all(threads[chunk].startswith("minires") for chunk in chunks[1::2]), threads


def test_map_chunks_waits_for_every_worker_when_the_callers_share_fails(workers):
    workers(2)
    finished = []

    def slow_or_failing(start, stop):
        if start == 0:
            raise ValueError("chunk 0 failed")
        time.sleep(0.05)
        finished.append(start)

    with pytest.raises(ValueError, match="chunk 0 failed"):
        _chunks.map_chunks(slow_or_failing, [(0, 1), (1, 2)])
    assert finished == [1], "map_chunks returned before the pool thread's chunk was done"


def test_map_chunks_runs_in_turn_for_one_chunk_one_thread_or_inside_a_worker(workers, monkeypatch):
    here = threading.current_thread().name
    names = _chunks.map_chunks(lambda a, b: threading.current_thread().name, [(0, 4)])
    assert names == [here]
    workers(1)
    assert _chunks.map_chunks(lambda a, b: threading.current_thread().name, [(0, 2), (2, 4)]) == [here] * 2
    workers(2)
    # a worker that maps again must not wait for itself (the inner call runs in turn, inside the worker)
    inner = _chunks.map_chunks(lambda a, b: _chunks.map_chunks(lambda c, d: d - c, [(a, b), (b, b + 1)]),
                               [(0, 2), (2, 5)])
    assert inner == [[2, 1], [3, 1]]


def test_map_chunks_passes_errors_on(workers):
    workers(2)

    def fail_on_second(start, stop):
        if start > 0:
            raise ValueError(f"chunk {start}:{stop} is bad")
        return start

    with pytest.raises(ValueError, match="chunk 2:4 is bad"):
        _chunks.map_chunks(fail_on_second, [(0, 2), (2, 4)])


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_is_the_same_on_one_thread_and_on_two_and_every_run(workers, stride):
    """Chunks side by side give the one-thread result, and the weight gradient (a sum
    over chunks) is bit-for-bit the same on every run."""
    default_limit = _chunks.workspace_bytes()
    _chunks.set_workspace_bytes(3 * 3 * 3 * 13 * 13 * 8 * 2)  # two images' columns: 4 chunks for a batch of 7
    try:
        results = []
        for n in (1, 2, 2):
            workers(n)
            x, w = random_tensor((7, 3, 13, 13)), random_tensor((5, 3, 3, 3), seed=1)
            y = F.conv2d(x, w, stride=stride, padding=1)
            y.backward(random_tensor(y.shape, seed=2))
            results.append((y.numpy(), x.grad, w.grad))
    finally:
        _chunks.set_workspace_bytes(default_limit)
    for got, want, what in zip(results[1], results[0], ["y", "gx", "gw"]):
        assert_close(got, want, f"conv2d on two threads vs one: {what}")
    for got, want, what in zip(results[2], results[1], ["y", "gx", "gw"]):
        assert np.array_equal(got, want), f"conv2d on two threads differs between runs: {what}"


def test_threads_default_to_the_cores_and_blas_is_one_thread_only_inside_the_workers(monkeypatch):
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    _chunks.set_workers(None)
    assert mr.get_num_threads() == len(os.sched_getaffinity(0))  # as PyTorch: every core it may use
    monkeypatch.setenv("MINIRES_THREADS", "3")
    assert mr.get_num_threads() == 3
    monkeypatch.delenv("MINIRES_THREADS")
    before = blas_threads()
    mr.set_num_threads(2)
    inside = _chunks.map_chunks(lambda a, b: blas_threads(), [(0, 1), (1, 2)])
    assert inside == [[1] * len(before)] * 2, f"BLAS inside the workers: {inside}"
    assert blas_threads() == before, "BLAS is put back as it was once the workers are done"
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        mr.set_num_threads(0)


def test_stepping_runs_every_chunk_on_the_calling_thread(workers, monkeypatch):
    """NUMBA_DISABLE_JIT=1 or MINIRES_KERNELS=reference: everything inline, so pdb stops in every loop."""
    workers(2)
    here = threading.current_thread().name
    for variable, value in (("NUMBA_DISABLE_JIT", "1"), ("MINIRES_KERNELS", "reference")):
        with monkeypatch.context() as m:
            m.setenv(variable, value)
            assert _chunks.workers() == 1
            assert _chunks.map_chunks(lambda a, b: threading.current_thread().name, [(0, 2), (2, 4)]) == [here] * 2
    assert _chunks.workers() == 2


def test_an_empty_batch_has_no_chunks_and_convolves_to_empty_and_zero_gradients():
    assert _chunks.balanced_chunks(0, 4, parts=2) == []
    x, w = random_tensor((0, 3, 8, 8)), random_tensor((4, 3, 3, 3), seed=1)
    y = F.conv2d(x, w, stride=2, padding=1)
    assert y.shape == (0, 4, 4, 4)
    y.backward(np.zeros(y.shape))
    assert x.grad.shape == (0, 3, 8, 8) and w.grad.shape == (4, 3, 3, 3) and not w.grad.numpy().any()
