"""minires.utils.data against torch.utils.data's documented behaviour: default_collate, the datasets,
the samplers, and the DataLoader in this process and in worker processes (order, seeding, errors,
shutdown). Where torch is installed, collate dtypes/shapes, random_split lengths and argument errors
are compared with torch's own."""

from __future__ import annotations

import collections
import gc
import multiprocessing
import os
import random
import time

import numpy as np
import pytest

import minires as mr
from minires.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    get_worker_info,
    random_split,
)

Point = collections.namedtuple("Point", ["x", "y"])


def describe(batch):
    """A collated batch as plain structure: each tensor -> ("T", shape, dtype name). Works for minires and torch."""
    if hasattr(batch, "shape") and hasattr(batch, "dtype") and not isinstance(batch, np.ndarray):
        return ("T", tuple(batch.shape), str(batch.dtype).replace("torch.", ""))
    if isinstance(batch, dict):
        return {k: describe(v) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return (type(batch).__name__, *(describe(v) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(describe(v) for v in batch)
    return batch


def flat(batches):
    """The samples of an epoch's batches (Tensors or lists), one list."""
    return [x for b in batches for x in (b.tolist() if hasattr(b, "tolist") else b)]


def no_workers_left():
    """Worker processes of finished loaders are gone (give a joined process a moment to be reaped)."""
    for _ in range(50):
        if not multiprocessing.active_children():
            return True
        time.sleep(0.02)
    return False


# ------------------------------------------------------------------------------------------ default_collate

COLLATE_CASES = {
    "pairs": [(np.zeros((3, 2), np.float32), 0), (np.ones((3, 2), np.float32), 1)],
    "floats": [0.5, 1.5, 2.5],
    "ints": [1, 2, 3],
    "bools": [True, False],
    "numpy scalars": [np.float32(1), np.float32(2)],
    "numpy int arrays": [np.arange(4), np.arange(4)],
    "float64 arrays": [np.zeros(2), np.zeros(2)],
    "strings": ["a", "b"],
    "dicts": [{"image": np.zeros(3, np.uint8), "label": 1, "name": "a"},
              {"image": np.ones(3, np.uint8), "label": 2, "name": "b"}],
    "namedtuples": [Point(0, 0.5), Point(1, 1.5)],
    "lists": [[0, 1], [2, 3]],
    "nested": [({"a": (1, 2.0)}, ["s", np.zeros(1)]), ({"a": (3, 4.0)}, ["t", np.zeros(1)])],
}


def test_collate_stacks_each_leaf_along_a_new_batch_axis():
    x, y = default_collate(COLLATE_CASES["pairs"])
    assert isinstance(x, mr.Tensor) and x.shape == (2, 3, 2) and x.dtype == np.float32
    assert y.tolist() == [0, 1] and y.dtype == np.int64
    assert default_collate(COLLATE_CASES["floats"]).dtype == np.float64  # as torch: Python floats -> float64
    assert default_collate(COLLATE_CASES["ints"]).dtype == np.int64
    assert default_collate(COLLATE_CASES["bools"]).dtype == np.bool_
    assert default_collate(COLLATE_CASES["numpy scalars"]).dtype == np.float32
    assert default_collate(["a", "b"]) == ["a", "b"]
    batch = default_collate(COLLATE_CASES["dicts"])
    assert batch["image"].shape == (2, 3) and batch["image"].dtype == np.uint8
    assert batch["label"].tolist() == [1, 2] and batch["name"] == ["a", "b"]
    point = default_collate(COLLATE_CASES["namedtuples"])
    assert isinstance(point, Point) and point.x.tolist() == [0, 1] and point.y.tolist() == [0.5, 1.5]
    assert [c.tolist() for c in default_collate([[0, 1], [2, 3]])] == [[0, 2], [1, 3]]
    ordered = default_collate([collections.OrderedDict(b=1, a=2)] * 2)
    assert isinstance(ordered, collections.OrderedDict) and list(ordered) == ["b", "a"]


def test_collate_of_tensors_keeps_device_dtype_and_graph():
    batch = default_collate([mr.tensor([1.0, 2.0]), mr.tensor([3.0, 4.0])])
    assert batch.shape == (2, 2) and batch.dtype == np.float32 and batch.tolist() == [[1, 2], [3, 4]]
    a, b = mr.tensor([1.0, 2.0], requires_grad=True), mr.tensor([3.0, 4.0], requires_grad=True)
    (default_collate([a, b]) * mr.tensor([[1.0, 1.0], [2.0, 2.0]])).sum().backward()
    assert a.grad.tolist() == [1.0, 1.0] and b.grad.tolist() == [2.0, 2.0], "stacking requires_grad tensors keeps the graph"


def test_collate_refuses_what_torch_refuses():
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])


@pytest.mark.parametrize("case", list(COLLATE_CASES))
def test_collate_matches_torch_structure_dtypes_and_shapes(case):
    torch_data = pytest.importorskip("torch.utils.data")
    batch = COLLATE_CASES[case]
    assert describe(default_collate(batch)) == describe(torch_data.default_collate(batch))


def test_collate_of_tensors_matches_torch():
    torch = pytest.importorskip("torch")
    arrays = [np.arange(6, dtype=np.float64).reshape(2, 3), np.ones((2, 3))]
    ours = default_collate([(mr.tensor(a), mr.tensor(a[0, 0].astype(np.int64))) for a in arrays])
    theirs = torch.utils.data.default_collate([(torch.tensor(a), torch.tensor(a[0, 0].astype(np.int64)))
                                               for a in arrays])
    assert describe(ours) == describe(theirs)
    np.testing.assert_array_equal(ours[0].numpy(), theirs[0].numpy())


# ------------------------------------------------------------------------------------------ datasets

def test_tensor_dataset_subset_and_concat_index_like_torch():
    x, y = mr.tensor(np.arange(12.0).reshape(6, 2)), mr.tensor(np.arange(6))
    ds = TensorDataset(x, y)
    assert len(ds) == 6 and ds[4][0].tolist() == [8.0, 9.0] and ds[4][1].item() == 4
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(x, mr.tensor(np.arange(5)))
    sub = Subset(ds, [5, 1, 3])
    assert len(sub) == 3 and sub[0][1].item() == 5 and sub[-1][1].item() == 3
    both = ConcatDataset([range(3), range(10, 14)])
    assert len(both) == 7 and both.cumulative_sizes == [3, 7]
    assert [both[i] for i in range(7)] == [0, 1, 2, 10, 11, 12, 13]
    assert both[-1] == 13 and both[-7] == 0 and both[-5] == 2
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        both[-8]
    with pytest.raises(IndexError):
        both[7]
    with pytest.raises(AssertionError, match="should not be an empty iterable"):
        ConcatDataset([])
    assert isinstance(Subset(ds, [0]) + Subset(ds, [1]), ConcatDataset)


@pytest.mark.parametrize("n, lengths", [(10, [3, 7]), (10, [0.3, 0.3, 0.4]), (11, [0.5, 0.5]), (7, [0.1, 0.2, 0.7]),
                                        (5, [1.0]), (30, [0.25, 0.25, 0.25, 0.25])])
def test_random_split_lengths_are_torchs_and_parts_disjoint(n, lengths):
    parts = random_split(range(n), lengths, generator=0)
    got = sorted(i for part in parts for i in part)
    assert got == list(range(n)), "the parts cover the dataset once"
    try:
        import torch
    except ImportError:
        return
    theirs = torch.utils.data.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [len(p) for p in theirs]


def test_random_split_refuses_bad_lengths_and_repeats_with_a_seed():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(range(10), [0.5, 0.4])
    with pytest.raises(ValueError, match="Fraction at index 2 is not between 0 and 1"):
        random_split(range(10), [0.5, 0.7, -0.2])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(2), [0.9, 0.1])
    assert [list(p) for p in random_split(range(10), [5, 5], generator=3)] == \
           [list(p) for p in random_split(range(10), [5, 5], generator=np.random.default_rng(3))]
    mr.manual_seed(1)
    first = [list(p) for p in random_split(range(10), [5, 5])]
    mr.manual_seed(1)
    assert [list(p) for p in random_split(range(10), [5, 5])] == first, "mr.manual_seed makes it repeat"


# ------------------------------------------------------------------------------------------ samplers

def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    sampler = RandomSampler(range(5), generator=0)
    one, two = list(sampler), list(sampler)
    assert sorted(one) == sorted(two) == list(range(5)) and one != two, "each epoch a new permutation"
    assert len(RandomSampler(range(5), num_samples=12)) == 12
    drawn = list(RandomSampler(range(5), num_samples=12, generator=0))
    assert sorted(drawn[:10]) == sorted(list(range(5)) * 2) and len(drawn) == 12, "whole permutations, then a cut"
    with_replacement = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=0))
    assert len(with_replacement) == 50 and set(with_replacement) == {0, 1, 2}
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        RandomSampler(range(3), generator="seed")
    assert sorted(SubsetRandomSampler([7, 3, 5], generator=0)) == [3, 5, 7]
    weighted = list(WeightedRandomSampler([0.0, 3.0, 1.0], 400, generator=0))
    assert 0 not in weighted and 250 < weighted.count(1) < 350
    assert sorted(WeightedRandomSampler([1, 1, 1, 0], 3, replacement=False, generator=0)) == [0, 1, 2]
    assert list(BatchSampler(range(5), 2, drop_last=True)) == [[0, 1], [2, 3]]
    assert len(BatchSampler(range(5), 2, drop_last=False)) == 3 and len(BatchSampler(range(5), 2, True)) == 2
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(5), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(5), 2, None)


# ------------------------------------------------------------------------------------------ DataLoader, one process

@pytest.mark.parametrize("n, batch_size, drop_last, expected", [(10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]),
                                                                 (9, 3, True, [3, 3, 3]), (2, 5, True, [])])
def test_batch_counts_and_drop_last(n, batch_size, drop_last, expected):
    loader = DataLoader(list(range(n)), batch_size=batch_size, drop_last=drop_last)
    assert [len(batch) for batch in loader] == expected and len(loader) == len(expected)


def test_batch_size_none_loads_single_samples_converted():
    loader = DataLoader([(np.zeros(2), 1)] * 3, batch_size=None)
    samples = list(loader)
    assert len(loader) == 3 and len(samples) == 3
    x, y = samples[0]
    assert isinstance(x, mr.Tensor) and x.shape == (2,) and y == 1, "arrays become Tensors, numbers stay"


def test_a_custom_sampler_batch_sampler_and_collate_fn():
    assert [b.tolist() for b in DataLoader(list(range(6)), batch_size=2, sampler=[5, 4, 3, 2, 1, 0])] == \
           [[5, 4], [3, 2], [1, 0]]
    assert [b.tolist() for b in DataLoader(list(range(6)), batch_sampler=[[0, 5], [1]])] == [[0, 5], [1]]
    assert list(DataLoader(list(range(4)), batch_size=2, collate_fn=sum)) == [1, 5]


MUTUALLY_EXCLUSIVE = {
    "sampler and shuffle": {"sampler": [0, 1], "shuffle": True},
    "batch_sampler and batch_size": {"batch_sampler": [[0]], "batch_size": 2},
    "batch_sampler and shuffle": {"batch_sampler": [[0]], "shuffle": True},
    "batch_sampler and sampler": {"batch_sampler": [[0]], "sampler": [0]},
    "batch_sampler and drop_last": {"batch_sampler": [[0]], "drop_last": True},
    "batch_size None and drop_last": {"batch_size": None, "drop_last": True},
    "negative workers": {"num_workers": -1},
    "negative timeout": {"timeout": -1},
    "persistent without workers": {"persistent_workers": True},
    "prefetch without workers": {"prefetch_factor": 2},
}


@pytest.mark.parametrize("case", list(MUTUALLY_EXCLUSIVE))
def test_argument_errors_are_torchs(case):
    kwargs = MUTUALLY_EXCLUSIVE[case]
    with pytest.raises(ValueError) as ours:
        DataLoader(list(range(4)), **kwargs)
    try:
        import torch.utils.data as torch_data
    except ImportError:
        return
    with pytest.raises(ValueError) as theirs:
        torch_data.DataLoader(list(range(4)), **kwargs)
    same = str(ours.value).replace(" ", "") == str(theirs.value).replace(" ", "")  # torch's prefetch text lacks a space
    assert same, f"minires: {ours.value}\ntorch:   {theirs.value}"


def test_iterable_dataset_refuses_shuffle_and_samplers():
    for kwargs in ({"shuffle": True}, {"sampler": [0]}, {"batch_sampler": [[0]]}):
        with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspecified"):
            DataLoader(Stream(4), **kwargs)


def test_unsupported_and_frozen_arguments():
    with pytest.raises(NotImplementedError, match="pin_memory_device"):
        DataLoader(list(range(4)), pin_memory_device="cuda")
    with pytest.raises(ValueError, match="valid start method"):
        DataLoader(list(range(4)), num_workers=1, multiprocessing_context="teleport")
    with pytest.raises(ValueError, match="multiprocessing_context can only be used with multi-process loading"):
        DataLoader(list(range(4)), multiprocessing_context="fork")
    loader = DataLoader(list(range(4)), pin_memory=True)
    assert [b.tolist() for b in loader] == [[0], [1], [2], [3]], "pin_memory is accepted and changes nothing"
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 2


def test_shuffle_repeats_with_a_seeded_generator_and_differs_per_epoch():
    def epochs(loader):
        return [[b.tolist() for b in loader] for _ in range(2)]

    first = epochs(DataLoader(list(range(20)), batch_size=4, shuffle=True, generator=7))
    assert first == epochs(DataLoader(list(range(20)), batch_size=4, shuffle=True, generator=np.random.default_rng(7)))
    assert first[0] != first[1], "a new order each epoch"
    assert sorted(flat(first[0])) == list(range(20)), "each sample once per epoch"
    mr.manual_seed(3)
    seeded = epochs(DataLoader(list(range(20)), batch_size=4, shuffle=True))
    mr.manual_seed(3)
    assert epochs(DataLoader(list(range(20)), batch_size=4, shuffle=True)) == seeded, "generator=None: mr.manual_seed"


def test_import_paths():
    import minires

    assert minires.utils.data.DataLoader is DataLoader and issubclass(TensorDataset, Dataset)


# ------------------------------------------------------------------------------------------ datasets for workers
# Defined at module level: a worker started by spawn or forkserver must be able to import them.

class Slow(Dataset):
    """Sample i is (i as a float32 array (2,), i); even indices take longer, so batches finish out of order."""

    def __len__(self):
        return 24

    def __getitem__(self, i):
        time.sleep(0.004 if i % 8 < 4 else 0.0)
        return np.full(2, i, dtype=np.float32), i


class RandomDraws(Dataset):
    """Each sample reports the worker that loaded it and what its random generators gave."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return {"worker": info.id, "seed": info.seed, "num_workers": info.num_workers, "pid": os.getpid(),
                "python": random.random(), "numpy": np.random.rand(), "minires": float(mr.rand(1).item()),
                "init": _init_calls.copy(), "same dataset type": type(info.dataset).__name__}


_init_calls: list[int] = []


def remember_init(worker_id):
    _init_calls.append(worker_id)


def divide_by_id(worker_id):
    return 1 / worker_id


class FailsAt(Dataset):
    def __init__(self, bad):
        self.bad = bad

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == self.bad:
            raise ValueError(f"sample {i} is broken")
        return i


class Dies(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        os._exit(3)


class Sleeps(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        time.sleep(0.5)
        return i


class Stream(IterableDataset):
    """range(n) as a stream; split=True splits it between workers as the PyTorch docs show."""

    def __init__(self, n, split=True):
        self.n, self.split = n, split

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.split:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


# ------------------------------------------------------------------------------------------ DataLoader, workers

def test_two_workers_give_the_batches_of_one_process_in_order():
    def batches(**kwargs):
        return [(x.numpy().tolist(), y.tolist()) for x, y in DataLoader(Slow(), batch_size=3, **kwargs)]

    assert batches(num_workers=2) == batches(num_workers=0)
    assert batches(num_workers=2, prefetch_factor=1) == batches(num_workers=0)
    assert sorted(batches(num_workers=2, in_order=False)) == sorted(batches(num_workers=0))
    ds = TensorDataset(mr.tensor(np.arange(10.0)), mr.tensor(np.arange(10)))
    shuffled = DataLoader(ds, batch_size=4, shuffle=True, num_workers=2, generator=5)
    assert [y.tolist() for _, y in shuffled] == [y.tolist() for _, y in DataLoader(ds, batch_size=4, shuffle=True,
                                                                                  generator=5)]
    assert no_workers_left()


def test_workers_are_seeded_apart_and_repeat_with_a_generator():
    def draws(generator):
        loader = DataLoader(RandomDraws(), batch_size=None, num_workers=2, generator=generator,
                            worker_init_fn=remember_init)
        return list(loader)

    samples = draws(11)
    by_worker = {s["worker"]: s for s in samples}
    assert sorted(by_worker) == [0, 1] and {s["num_workers"] for s in samples} == {2}
    assert by_worker[1]["seed"] == by_worker[0]["seed"] + 1, "seed = base_seed + worker_id"
    for generator_name in ("python", "numpy", "minires"):
        assert by_worker[0][generator_name] != by_worker[1][generator_name], f"{generator_name} seeded per worker"
    assert all(s["init"] == [s["worker"]] for s in samples), "worker_init_fn(worker_id) ran once, in the worker"
    assert _init_calls == [], "...and not in the main process"
    assert {s["same dataset type"] for s in samples} == {"RandomDraws"}
    assert len({s["pid"] for s in samples} | {os.getpid()}) == 3, "two worker processes besides this one"
    again = draws(11)
    assert [{k: v for k, v in s.items() if k != "pid"} for s in again] == \
           [{k: v for k, v in s.items() if k != "pid"} for s in samples], "the same generator seed, the same draws"
    assert get_worker_info() is None, "no worker info in the main process"
    assert no_workers_left()


def test_an_exception_in_a_worker_is_raised_here_with_its_traceback():
    loader = DataLoader(FailsAt(5), batch_size=2, num_workers=2)
    with pytest.raises(ValueError) as caught:
        list(loader)
    message = str(caught.value)
    assert "Caught ValueError in DataLoader worker process 0" in message  # batch [4, 5] is task 2: worker 0
    assert "Original Traceback (most recent call last)" in message and "sample 5 is broken" in message
    assert "in __getitem__" in message, "the worker's own traceback"
    del caught  # its traceback holds the iterator (and so the workers) until then
    gc.collect()
    assert no_workers_left()
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process 1"):
        list(DataLoader(FailsAt(1), batch_size=None, num_workers=2))
    gc.collect()
    assert no_workers_left()


class RaisesItsOwnError(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        class LocalError(Exception):
            pass

        raise LocalError("a class pickle cannot carry")


def test_an_exception_class_that_cannot_travel_arrives_as_runtime_error():
    with pytest.raises(RuntimeError, match="Caught LocalError in DataLoader worker process 0") as caught:
        list(DataLoader(RaisesItsOwnError(), num_workers=1))
    assert "a class pickle cannot carry" in str(caught.value)
    del caught
    gc.collect()
    assert no_workers_left()


def test_a_worker_that_fails_to_start_reports_it():
    with pytest.raises(ZeroDivisionError, match="Caught ZeroDivisionError in DataLoader worker process 0"):
        list(DataLoader(list(range(4)), num_workers=1, worker_init_fn=divide_by_id))
    gc.collect()
    assert no_workers_left()


def test_a_dead_worker_and_a_timeout_raise_instead_of_hanging():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(DataLoader(Dies(), num_workers=1))
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.1 seconds"):
        list(DataLoader(Sleeps(), num_workers=1, timeout=0.1))
    gc.collect()
    assert no_workers_left()


def test_workers_exit_after_an_epoch_and_after_a_break():
    loader = DataLoader(Slow(), batch_size=2, num_workers=2)
    iterator = iter(loader)
    next(iterator)
    assert len(multiprocessing.active_children()) == 2
    for _ in iterator:
        pass
    assert no_workers_left(), "workers exit at the end of the epoch"
    for _ in loader:
        break
    assert no_workers_left(), "a loop that breaks off drops its iterator, and the workers with it"
    iterator = iter(loader)
    next(iterator)
    del iterator
    assert no_workers_left()


def test_persistent_workers_live_across_epochs():
    loader = DataLoader(RandomDraws(), batch_size=2, num_workers=2, persistent_workers=True)
    pids = [set(batch["pid"].tolist()) for batch in loader]
    pids_again = [set(batch["pid"].tolist()) for batch in loader]
    assert set.union(*pids) == set.union(*pids_again) and len(set.union(*pids)) == 2, "the same two processes"
    assert len(multiprocessing.active_children()) == 2, "alive between epochs"
    for _ in loader:
        break  # an epoch broken off: the next one still starts clean
    assert len(list(loader)) == 4
    del loader
    gc.collect()
    assert no_workers_left(), "gone with their loader"


def test_iterable_dataset_with_workers():
    assert sorted(flat(DataLoader(Stream(10), batch_size=3, num_workers=2))) == list(range(10))
    unsplit = flat(DataLoader(Stream(4, split=False), batch_size=2, num_workers=2))
    assert sorted(unsplit) == [0, 0, 1, 1, 2, 2, 3, 3], "unsplit, each worker yields its whole copy (as PyTorch)"
    dropped = [b.tolist() for b in DataLoader(Stream(10), batch_size=3, num_workers=2, drop_last=True)]
    assert dropped == [[0, 2, 4], [1, 3, 5]], "drop_last drops each worker's short last batch"
    assert [b.tolist() for b in DataLoader(Stream(5), batch_size=2)] == [[0, 1], [2, 3], [4]]
    assert len(DataLoader(Stream(5), batch_size=2)) == 3
    persistent = DataLoader(Stream(6), batch_size=2, num_workers=2, persistent_workers=True)
    for _ in range(2):
        assert sorted(flat(persistent)) == list(range(6)), "every epoch a fresh iterator"
    del persistent
    gc.collect()
    assert no_workers_left()
