"""CIFAR10: reading and validating the python-version files, and the offline download."""

from __future__ import annotations

import hashlib
import pickle
import tarfile

import numpy as np
import pytest
from cifar_fixture import CLASSES, make_cifar_archive, make_cifar_folder, write_batch, write_meta

from minires.data import CIFAR10, transforms


@pytest.fixture
def root(tmp_path):
    return make_cifar_folder(tmp_path / "data", n_train=60, n_test=20, seed=0)


def test_reads_shapes_dtypes_counts_and_classes(root):
    train, test = CIFAR10(root), CIFAR10(str(root), train=False)
    assert train.data.shape == (60, 3, 32, 32) and train.data.dtype == np.uint8
    assert test.data.shape == (20, 3, 32, 32) and len(train) == 60 and len(test) == 20
    assert train.targets.shape == (60,) and train.targets.dtype == np.int64
    assert train.classes == CLASSES and train.transform is None
    assert np.bincount(train.targets, minlength=10).tolist() == [6] * 10


def test_rows_are_red_green_blue_planes_of_row_major_32x32(root):
    folder = root / "cifar-10-batches-py"
    row = (np.arange(3072) % 256).astype(np.uint8)  # pixel k of the row holds k mod 256
    write_batch(folder / "data_batch_1", np.stack([row, row[::-1]]), [4, 7])
    data = CIFAR10(root)
    # pixel (c, h, w) is row[c*1024 + h*32 + w]
    assert data.data[0, 1, 2, 3] == (1 * 1024 + 2 * 32 + 3) % 256 == 67
    assert data.data[0, 2, 31, 0] == (2 * 1024 + 31 * 32 + 0) % 256 == 224
    assert data.data[1, 0, 0, 0] == 3071 % 256 == 255, "the second image is the second row"
    assert data.targets[:2].tolist() == [4, 7]


def test_getitem_and_get_batch(root):
    plain = CIFAR10(root)
    image, label = plain[5]
    assert image.shape == (3, 32, 32) and image.dtype == np.uint8 and label == plain.targets[5]
    np.testing.assert_array_equal(image, plain.data[5])
    augmented = CIFAR10(root, transform=transforms.train_transform())
    image, _ = augmented[-1]
    assert image.shape == (3, 32, 32) and image.dtype == np.float32
    np.testing.assert_array_equal(augmented[7][0], augmented[7][0])  # dataset[i] is repeatable
    images, labels = augmented.get_batch(np.array([3, 1, 4]), np.random.default_rng(0))
    assert images.shape == (3, 3, 32, 32) and images.dtype == np.float32
    assert labels.dtype == np.int64 and labels.tolist() == plain.targets[[3, 1, 4]].tolist()
    with pytest.raises(IndexError, match=r"CIFAR10: index must be in \[0, 60\), got 60"):
        plain[60]


def test_fixture_is_learnable(root):
    """The colour alone gives the class away: nearest class mean on per-channel means."""
    train, test = CIFAR10(root), CIFAR10(root, train=False)
    features = train.data.mean(axis=(2, 3))  # (N, 3)
    centres = np.stack([features[train.targets == k].mean(0) for k in range(10)])
    test_features = test.data.mean(axis=(2, 3))
    predicted = np.argmin(((test_features[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert (predicted == test.targets).mean() > 0.9


def rewrite(folder, name, **changes):
    """Load batch `name`, replace the given keys (data=..., labels=...), write it back."""
    with open(folder / name, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    batch.update({key.encode(): value for key, value in changes.items()})
    with open(folder / name, "wb") as f:
        pickle.dump(batch, f)


def drop_labels(folder):
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8)}, f)


FAULTS = {  # name: (how to break the folder, which split, the error, what the message must say)
    "truncated pickle": (lambda d: (d / "data_batch_2").write_bytes((d / "data_batch_2").read_bytes()[:200]),
                         True, ValueError, r"data_batch_2 is not a readable pickle"),
    "not a pickle": (lambda d: (d / "test_batch").write_bytes(b"\x89PNG not a pickle"),
                     False, ValueError, r"test_batch is not a readable pickle"),
    "missing key": (drop_labels, False, ValueError, r"test_batch must hold a dict with keys b'data' and b'labels'"),
    "wrong dtype": (lambda d: rewrite(d, "data_batch_3", data=np.zeros((12, 3072), np.float32)),
                    True, ValueError, r"data_batch_3: b'data' must be uint8 \(n, 3072\), got float32 \(12, 3072\)"),
    "wrong shape": (lambda d: rewrite(d, "data_batch_1", data=np.zeros((12, 1024), np.uint8)),
                    True, ValueError, r"data_batch_1: b'data' must be uint8 \(n, 3072\), got uint8 \(12, 1024\)"),
    "label too big": (lambda d: rewrite(d, "data_batch_4", labels=[10] * 12),
                      True, ValueError, r"data_batch_4: b'labels' must lie in \[0, 10\), got values in \[10, 10\]"),
    "label negative": (lambda d: rewrite(d, "test_batch", labels=[-1] + [0] * 19),
                       False, ValueError, r"test_batch: b'labels' must lie in \[0, 10\), got values in \[-1, 0\]"),
    "label not int": (lambda d: rewrite(d, "test_batch", labels=[0.5] * 20),
                      False, ValueError, r"test_batch: b'labels' must be integers, got dtype float64"),
    "label count": (lambda d: rewrite(d, "data_batch_5", labels=[1] * 5),
                    True, ValueError, r"data_batch_5: b'labels' must hold one label per image, got 5 labels for 12"),
    "missing file": (lambda d: (d / "data_batch_2").unlink(),
                     True, FileNotFoundError, r"CIFAR10: missing file .*data_batch_2"),
    "meta without names": (lambda d: write_batch(d / "batches.meta", np.zeros((1, 3072), np.uint8), [0]),
                           False, ValueError, r"batches.meta must hold b'label_names', a list of 10 names, got None"),
    "meta with 9 names": (lambda d: write_meta(d / "batches.meta", CLASSES[:9]),
                          True, ValueError, r"batches.meta must hold b'label_names', a list of 10 names, got 9 names"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_names_the_file_and_what_is_wrong(root, fault):
    damage, train, error, message = FAULTS[fault]
    damage(root / "cifar-10-batches-py")
    with pytest.raises(error, match=message):
        CIFAR10(root, train=train)


def test_missing_folder_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no cifar-10-batches-py/ folder in .*; pass download=True, or root="):
        CIFAR10(tmp_path)


@pytest.fixture
def mirror(tmp_path):
    """A CIFAR10 subclass whose url is a small fixture archive on disk (file://), with its md5."""
    archive = tmp_path / "mirror" / CIFAR10.filename
    archive.parent.mkdir()
    md5 = make_cifar_archive(archive, n_train=50, n_test=20)

    class OfflineCIFAR10(CIFAR10):
        url = archive.as_uri()

    OfflineCIFAR10.md5 = md5
    return OfflineCIFAR10


def test_download_checks_md5_and_extracts(tmp_path, mirror):
    data = mirror(tmp_path / "new" / "data", download=True)
    assert len(data) == 50 and data.classes == CLASSES
    assert [p.name for p in (tmp_path / "new" / "data").iterdir()] == ["cifar-10-batches-py"], "no temp files left"
    assert len(mirror(tmp_path / "new" / "data", train=False)) == 20


def test_download_skips_a_folder_that_is_already_valid(root, mirror):
    mirror.url = (root / "nothing-here.tar.gz").as_uri()  # fetching would fail
    assert len(mirror(root, download=True)) == 60


def test_download_replaces_a_damaged_folder(root, mirror, capsys):
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"half a file")
    assert len(mirror(root, download=True)) == 50  # the archive's copy
    assert "data_batch_3 is not a readable pickle" in capsys.readouterr().out
    assert [p.name for p in root.iterdir()] == ["cifar-10-batches-py"]


def test_bad_md5_fails_cleanly_and_leaves_nothing(tmp_path, mirror):
    real_md5, mirror.md5 = mirror.md5, "0" * 32
    with pytest.raises(ValueError, match=f"from {mirror.url} has md5 {real_md5}, expected 0{{32}}"):
        mirror(tmp_path / "data", download=True)
    assert list((tmp_path / "data").iterdir()) == []


def test_download_refuses_paths_outside_root(tmp_path, mirror):
    evil = tmp_path / "mirror" / "evil.tar.gz"
    (tmp_path / "payload").write_text("x")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(tmp_path / "payload", arcname="../escaped")
    mirror.url = evil.as_uri()
    mirror.md5 = hashlib.md5(evil.read_bytes(), usedforsecurity=False).hexdigest()
    with pytest.raises(ValueError, match="is unsafe or damaged"):
        mirror(tmp_path / "data", download=True)
    assert list((tmp_path / "data").iterdir()) == [] and not (tmp_path / "escaped").exists()


def test_unreachable_url_says_which(tmp_path, mirror):
    mirror.url = (tmp_path / "missing.tar.gz").as_uri()
    with pytest.raises(OSError, match="CIFAR10.download: could not fetch file://"):
        mirror(tmp_path / "data", download=True)
    assert list((tmp_path / "data").iterdir()) == []


def test_class_attributes_name_the_official_archive():
    assert CIFAR10.url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert (CIFAR10.md5, CIFAR10.filename) == ("c58f30108f718f92721af3b95e74349a", "cifar-10-python.tar.gz")
