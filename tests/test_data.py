"""minires.data: reading and validating CIFAR-10 files, the offline download, the
DataLoader's batching and repeatability, and the batch transforms."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from cifar_fixture import make_cifar_archive, make_cifar_folder, write_batch

import minires as mr
from minires.data import CIFAR10, DataLoader, transforms


@pytest.fixture
def root(tmp_path):
    return make_cifar_folder(tmp_path, n_train=60, n_test=20, seed=0)


def test_reads_images_labels_and_classes(root):
    train, test = CIFAR10(root), CIFAR10(root, train=False)
    assert train.data.shape == (60, 3, 32, 32) and train.data.dtype == np.uint8
    assert train.targets.dtype == np.int64 and len(train) == 60 and len(test) == 20
    assert train.classes[6] == "frog"
    with open(root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        row = pickle.load(f, encoding="bytes")[b"data"][0]
    assert train.data[0, 1, 2, 3] == row[1 * 1024 + 2 * 32 + 3], "pixel (c=1, h=2, w=3) is row[c*1024 + h*32 + w]"
    image, label = train[0]
    assert image.shape == (3, 32, 32) and label == train.targets[0]


def corrupt(folder, name, changes):
    path = folder / name
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    batch.update(changes)
    with open(path, "wb") as f:
        pickle.dump(batch, f)


FAULTS = [
    ("truncated", lambda d: (d / "data_batch_2").write_bytes((d / "data_batch_2").read_bytes()[:100]),
     "data_batch_2 is not a readable CIFAR pickle"),
    ("wrong dtype", lambda d: corrupt(d, "data_batch_3", {b"data": np.zeros((12, 3072), np.float32)}),
     r"data_batch_3: b'data' must be uint8 \(n, 3072\), got float32 \(12, 3072\)"),
    ("wrong shape", lambda d: corrupt(d, "data_batch_1", {b"data": np.zeros((12, 1024), np.uint8)}),
     r"data_batch_1: b'data' must be uint8 \(n, 3072\), got uint8 \(12, 1024\)"),
    ("label range", lambda d: corrupt(d, "data_batch_4", {b"labels": [10] * 12}),
     r"data_batch_4: labels must be integers in \[0, 10\), got range \[10, 10\]"),
    ("label count", lambda d: corrupt(d, "data_batch_5", {b"labels": [1] * 5}),
     "data_batch_5: 12 images but 5 labels"),
    ("missing file", lambda d: (d / "data_batch_2").unlink(), "missing file .*data_batch_2"),
    ("bad meta", lambda d: write_batch(d / "batches.meta", np.zeros((1, 3072), np.uint8), [0]),
     "batches.meta must hold b'label_names'"),
]


@pytest.mark.parametrize("fault, make, message", FAULTS, ids=[f[0] for f in FAULTS])
def test_corrupt_files_are_named_with_their_fault(root, fault, make, message):
    make(root / "cifar-10-batches-py")
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        CIFAR10(root)


def test_missing_folder_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="no cifar-10-batches-py/ folder .* download=True"):
        CIFAR10(tmp_path)


def archive_class(tmp_path, md5=None):
    archive = tmp_path / "mirror" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    real_md5 = make_cifar_archive(archive)

    class OfflineCIFAR10(CIFAR10):
        url = archive.as_uri()

    OfflineCIFAR10.md5 = md5 or real_md5
    return OfflineCIFAR10


def test_download_checks_md5_and_extracts(tmp_path, capsys):
    cls = archive_class(tmp_path)
    data = cls(tmp_path / "data", download=True)
    assert len(data) == 50 and sorted(p.name for p in (tmp_path / "data").iterdir()) == ["cifar-10-batches-py"]
    cls(tmp_path / "data", download=True)  # already there: no second download
    assert capsys.readouterr().out.count("downloading") == 1


def test_bad_md5_fails_cleanly_and_leaves_nothing(tmp_path):
    cls = archive_class(tmp_path, md5="0" * 32)
    with pytest.raises(ValueError, match="has md5 [0-9a-f]{32}, expected 0{32}"):
        cls(tmp_path / "data", download=True)
    assert list((tmp_path / "data").iterdir()) == []


def test_loader_batches_cover_every_index_once(root):
    data = CIFAR10(root)
    loader = DataLoader(data, batch_size=16, shuffle=True, seed=3)
    assert len(loader) == 4 and len(DataLoader(data, batch_size=16, drop_last=True)) == 3
    seen = []
    for images, labels in loader:
        assert isinstance(images, mr.Tensor) and labels.dtype == np.int64
        seen.extend(labels.tolist())
    assert sorted(seen) == sorted(data.targets.tolist())


def first_batch(loader):
    images, labels = next(iter(loader))
    return images.numpy(), labels.numpy()


def test_loader_epochs_are_repeatable(root):
    data = CIFAR10(root, transform=transforms.train_transform())
    a = DataLoader(data, batch_size=8, shuffle=True, seed=1)
    epoch0, epoch1 = first_batch(a), first_batch(a)
    assert not np.array_equal(epoch0[1], epoch1[1]), "a new epoch must bring a new order"
    b = DataLoader(data, batch_size=8, shuffle=True, seed=1)
    b.set_epoch(1)
    np.testing.assert_array_equal(first_batch(b)[0], epoch1[0])  # resuming at epoch 1: same images, same crops


def test_loader_works_with_a_plain_dataset():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((2,), i * i, dtype=np.float32), i

    batches = list(DataLoader(Squares(), batch_size=2))
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert batches[1][0].tolist() == [[4.0, 4.0], [9.0, 9.0]]


def test_random_crop_is_a_crop_of_the_padded_image():
    images = np.arange(2 * 3 * 6 * 6, dtype=np.uint8).reshape(2, 3, 6, 6) + 1
    crop = transforms.RandomCrop(6, padding=2)
    out = crop(images, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    top, left = rng.integers(0, 5, size=2), rng.integers(0, 5, size=2)
    padded = np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for i in range(2):
        np.testing.assert_array_equal(out[i], padded[i, :, top[i]:top[i] + 6, left[i]:left[i] + 6])
    assert out.dtype == np.uint8 and out.shape == images.shape


def test_flip_flips_exactly_the_chosen_images():
    images = np.random.default_rng(0).integers(0, 255, (6, 3, 4, 5)).astype(np.uint8)
    out = transforms.RandomHorizontalFlip()(images, np.random.default_rng(2))
    chosen = np.random.default_rng(2).random(6) < 0.5
    for i in range(6):
        np.testing.assert_array_equal(out[i], images[i, :, :, ::-1] if chosen[i] else images[i])


def test_to_float_and_normalize_by_hand():
    images = np.full((1, 3, 2, 2), 255, dtype=np.uint8)
    out = transforms.Compose([transforms.ToFloat(), transforms.Normalize((0.5, 0.5, 0.0), (0.5, 0.25, 2.0))])(
        images, np.random.default_rng(0))
    assert out.dtype == np.float32
    assert out[0, :, 0, 0].tolist() == [1.0, 2.0, 0.5]
    with pytest.raises(TypeError, match="put ToFloat\\(\\) first"):
        transforms.Normalize((0,), (1,))(images, None)
