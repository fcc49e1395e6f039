"""DataLoader: batch counts, coverage, repeatability per epoch (shuffle and augmentation), plain datasets."""

from __future__ import annotations

import numpy as np
import pytest
from cifar_fixture import make_cifar_folder

import minires as mr
from minires.data import CIFAR10, DataLoader, transforms


class Numbered:
    """A dataset of n 'images' (1, 2, 2) filled with their index; get_batch adds rng noise in [0, 1),
    standing in for random augmentation, so a test can see which rng a batch drew from."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return np.full((1, 2, 2), i, dtype=np.float32), i % 10

    def get_batch(self, indices, rng):
        images = indices[:, None, None, None] + rng.random((len(indices), 1, 2, 2))
        return images.astype(np.float32), indices % 10


def epoch(loader) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(images.numpy(), labels.numpy()) for images, labels in loader]


def same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for batch_a, batch_b in zip(a, b) for x, y in zip(batch_a, batch_b))


@pytest.mark.parametrize(("n", "batch_size", "drop_last", "sizes"), [
    (10, 4, False, [4, 4, 2]), (10, 4, True, [4, 4]), (8, 4, True, [4, 4]), (3, 5, False, [3]), (3, 5, True, []),
])
def test_batch_count_and_sizes(n, batch_size, drop_last, sizes):
    loader = DataLoader(Numbered(n), batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(labels) for _, labels in epoch(loader)] == sizes


def test_batches_are_tensors_with_int64_labels():
    images, labels = next(iter(DataLoader(Numbered(6), batch_size=4)))
    assert isinstance(images, mr.Tensor) and isinstance(labels, mr.Tensor)
    assert images.shape == (4, 1, 2, 2) and images.dtype == np.float32
    assert labels.dtype == np.int64 and labels.tolist() == [0, 1, 2, 3]


def test_shuffled_epoch_visits_every_index_once():
    loader = DataLoader(Numbered(23), batch_size=5, shuffle=True, seed=7)
    for _ in range(3):
        order = np.concatenate([np.floor(images[:, 0, 0, 0]) for images, _ in epoch(loader)])
        assert sorted(order.tolist()) == list(range(23)) and order.tolist() != list(range(23))


def test_same_seed_and_epoch_give_the_same_batches():
    a, b = DataLoader(Numbered(20), 6, shuffle=True, seed=3), DataLoader(Numbered(20), 6, shuffle=True, seed=3)
    assert same(epoch(a), epoch(b)), "epoch 0: same order, same augmentation"
    assert same(epoch(a), epoch(b)), "epoch 1 likewise"
    other_seed = DataLoader(Numbered(20), 6, shuffle=True, seed=4)
    assert not same(epoch(other_seed), epoch(DataLoader(Numbered(20), 6, shuffle=True, seed=3)))


def test_each_epoch_has_its_own_order_and_augmentation():
    loader = DataLoader(Numbered(20), batch_size=20, shuffle=True)
    labels0, labels1 = epoch(loader)[0][1], epoch(loader)[0][1]  # epoch 0, then epoch 1
    assert loader.epoch == 2 and not np.array_equal(labels0, labels1)
    unshuffled = DataLoader(Numbered(4), batch_size=4)
    noise0, noise1 = (epoch(unshuffled)[0][0] for _ in range(2))
    assert not np.array_equal(noise0, noise1), "same order, but new augmentation"


def test_set_epoch_reproduces_an_epoch_of_a_run():
    run = DataLoader(Numbered(20), batch_size=6, shuffle=True, seed=1)
    epochs = [epoch(run) for _ in range(3)]
    resumed = DataLoader(Numbered(20), batch_size=6, shuffle=True, seed=1)
    resumed.set_epoch(2)
    assert same(epoch(resumed), epochs[2]) and resumed.epoch == 3


def test_resumed_cifar_epoch_has_the_same_crops_and_flips(tmp_path):
    data = CIFAR10(make_cifar_folder(tmp_path, n_train=40, n_test=10), transform=transforms.train_transform(),
                   check_content=False)
    run = DataLoader(data, batch_size=16, shuffle=True, seed=5)
    epochs = [epoch(run) for _ in range(2)]
    resumed = DataLoader(data, batch_size=16, shuffle=True, seed=5)
    resumed.set_epoch(1)
    assert same(epoch(resumed), epochs[1]) and not same(epochs[0], epochs[1])
    assert epochs[1][0][0].dtype == np.float32 and epochs[1][0][0].shape == (16, 3, 32, 32)


def test_epoch_counts_when_iteration_starts():
    loader = DataLoader(Numbered(4), batch_size=2)
    it = iter(loader)
    assert loader.epoch == 1, "iter() starts the epoch, before the first batch is drawn"
    next(it)
    assert loader.epoch == 1


def test_plain_dataset_without_get_batch():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((2,), i * i, dtype=np.float32), i

    batches = epoch(DataLoader(Squares(), batch_size=2))
    assert [labels.tolist() for _, labels in batches] == [[0, 1], [2, 3], [4]]
    assert batches[1][0].tolist() == [[4.0, 4.0], [9.0, 9.0]] and batches[0][1].dtype == np.int64


def test_bad_arguments():
    with pytest.raises(ValueError, match="DataLoader: batch_size must be an int >= 1, got 0"):
        DataLoader(Numbered(3), batch_size=0)
    with pytest.raises(TypeError, match="DataLoader: dataset must have __len__ and __getitem__, got int"):
        DataLoader(3)
