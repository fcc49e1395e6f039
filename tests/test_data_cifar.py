"""CIFAR10: reading and validating the python-version files, and the offline download.

The fixtures hold made-up images, so the tests that read them pass check_content=False; the
content check itself is tested with digests registered for a fixture (monkeypatched CONTENT_SHA256)."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
from cifar_fixture import CLASSES, make_cifar_archive, make_cifar_folder, write_batch, write_meta
from helpers import offline

from minires.data import CIFAR10, cifar, transforms

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@pytest.fixture
def root(tmp_path):
    return make_cifar_folder(tmp_path / "data", n_train=60, n_test=20, seed=0)


def test_reads_shapes_dtypes_counts_and_classes(root):
    train, test = CIFAR10(root, check_content=False), CIFAR10(str(root), train=False, check_content=False)
    assert train.data.shape == (60, 3, 32, 32) and train.data.dtype == np.uint8
    assert test.data.shape == (20, 3, 32, 32) and len(train) == 60 and len(test) == 20
    assert train.targets.shape == (60,) and train.targets.dtype == np.int64
    assert train.classes == CLASSES and train.transform is None
    assert np.bincount(train.targets, minlength=10).tolist() == [6] * 10


def test_rows_are_red_green_blue_planes_of_row_major_32x32(root):
    folder = root / "cifar-10-batches-py"
    row = (np.arange(3072) % 256).astype(np.uint8)  # pixel k of the row holds k mod 256
    write_batch(folder / "data_batch_1", np.stack([row, row[::-1]]), [4, 7])
    data = CIFAR10(root, check_content=False)
    # pixel (c, h, w) is row[c*1024 + h*32 + w]
    assert data.data[0, 1, 2, 3] == (1 * 1024 + 2 * 32 + 3) % 256 == 67
    assert data.data[0, 2, 31, 0] == (2 * 1024 + 31 * 32 + 0) % 256 == 224
    assert data.data[1, 0, 0, 0] == 3071 % 256 == 255, "the second image is the second row"
    assert data.targets[:2].tolist() == [4, 7]


def test_getitem_and_get_batch(root):
    plain = CIFAR10(root, check_content=False)
    image, label = plain[5]
    assert image.shape == (3, 32, 32) and image.dtype == np.uint8 and label == plain.targets[5]
    np.testing.assert_array_equal(image, plain.data[5])
    augmented = CIFAR10(root, transform=transforms.train_transform(), check_content=False)
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
    train, test = CIFAR10(root, check_content=False), CIFAR10(root, train=False, check_content=False)
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
    "empty folder": (lambda d: [f.unlink() for f in d.iterdir()],
                     True, FileNotFoundError, r"CIFAR10: .*cifar-10-batches-py is empty; pass download=True"),
    "batch is a folder": (lambda d: ((d / "data_batch_1").unlink(), (d / "data_batch_1").mkdir()),
                          True, IsADirectoryError, r"data_batch_1 is a folder, not a file; pass download=True"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_names_the_file_and_what_is_wrong(root, fault):
    damage, train, error, message = FAULTS[fault]
    damage(root / "cifar-10-batches-py")
    with pytest.raises(error, match=message):
        CIFAR10(root, train=train, check_content=False)


def test_missing_folder_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no cifar-10-batches-py/ in .*; pass download=True to fetch it from "
                       r"https://www.cs.toronto.edu/.*, or point root \(--data in the examples\) at the folder"):
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
    data = mirror(tmp_path / "new" / "data", download=True, check_content=False)
    assert len(data) == 50 and data.classes == CLASSES
    assert [p.name for p in (tmp_path / "new" / "data").iterdir()] == ["cifar-10-batches-py"], "no temp files left"
    assert len(mirror(tmp_path / "new" / "data", train=False, check_content=False)) == 20


def test_download_skips_a_folder_that_is_already_valid(root, mirror):
    mirror.url = (root / "nothing-here.tar.gz").as_uri()  # fetching would fail
    assert len(mirror(root, download=True, check_content=False)) == 60


def test_download_replaces_a_damaged_folder(root, mirror, capsys):
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"half a file")
    assert len(mirror(root, download=True, check_content=False)) == 50  # the archive's copy
    assert "data_batch_3 is not a readable pickle" in capsys.readouterr().out
    assert [p.name for p in root.iterdir()] == ["cifar-10-batches-py"]


def test_bad_md5_fails_cleanly_and_leaves_nothing(tmp_path, mirror):
    real_md5, mirror.md5 = mirror.md5, "0" * 32
    with pytest.raises(ValueError, match=f"from {mirror.url} has md5 {real_md5}, expected 0{{32}}"):
        mirror(tmp_path / "data", download=True, check_content=False)
    assert list((tmp_path / "data").iterdir()) == []


def test_download_refuses_paths_outside_root(tmp_path, mirror):
    evil = tmp_path / "mirror" / "evil.tar.gz"
    (tmp_path / "payload").write_text("x")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(tmp_path / "payload", arcname="../escaped")
    mirror.url = evil.as_uri()
    mirror.md5 = hashlib.md5(evil.read_bytes(), usedforsecurity=False).hexdigest()
    with pytest.raises(ValueError, match="is unsafe or damaged"):
        mirror(tmp_path / "data", download=True, check_content=False)
    assert list((tmp_path / "data").iterdir()) == [] and not (tmp_path / "escaped").exists()


def test_unreachable_url_says_which(tmp_path, mirror):
    mirror.url = (tmp_path / "missing.tar.gz").as_uri()
    with pytest.raises(OSError, match=r"CIFAR10: no cifar-10-batches-py/ in .*, and the download failed: "
                       r"could not fetch file://.*missing.tar.gz \(\[Errno 2\] No such file"):
        mirror(tmp_path / "data", download=True, check_content=False)
    assert list((tmp_path / "data").iterdir()) == []


def test_class_attributes_name_the_official_archive():
    assert CIFAR10.url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert (CIFAR10.md5, CIFAR10.filename) == ("c58f30108f718f92721af3b95e74349a", "cifar-10-python.tar.gz")


def test_root_that_is_a_file_is_named(tmp_path, mirror):
    (tmp_path / "data").write_text("not a folder")
    for download in (False, True):
        with pytest.raises(NotADirectoryError, match=r"CIFAR10: root .*data is a file, not a folder; point root"):
            mirror(tmp_path / "data", download=download, check_content=False)


def test_root_that_is_the_batches_folder_itself_says_which_folder_to_pass(root):
    with pytest.raises(FileNotFoundError, match=r"looks like cifar-10-batches-py/ itself .* here .*data$"):
        CIFAR10(root / "cifar-10-batches-py", download=True, check_content=False)


# Damage that a download would repair; the download fails, and the message must say both, damage first.
DAMAGE = {  # name: (how to break the folder, what the message must say first, after "CIFAR10: ")
    "truncated data_batch_1": (lambda d: (d / "data_batch_1").write_bytes((d / "data_batch_1").read_bytes()[:300]),
                               r"{folder}/data_batch_1 is not a readable pickle \(UnpicklingError: pickle .*\)"),
    "garbage data_batch_1": (lambda d: (d / "data_batch_1").write_bytes(np.random.default_rng(0).bytes(5000)),
                             r"{folder}/data_batch_1 is not a readable pickle \(UnpicklingError: .*\)"),
    "missing batches.meta": (lambda d: (d / "batches.meta").unlink(), r"missing file {folder}/batches.meta"),
    "empty folder": (lambda d: [f.unlink() for f in d.iterdir()], r"{folder} is empty"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damage_then_failed_download_names_both(root, mirror, capsys, damage):
    folder = root / "cifar-10-batches-py"
    break_it, says = DAMAGE[damage]
    break_it(folder)
    mirror.url = (root / "missing.tar.gz").as_uri()
    with pytest.raises(OSError) as caught:
        mirror(root, download=True, check_content=False)
    message = str(caught.value)
    assert "\n" not in message
    pattern = (rf"CIFAR10: {says.format(folder=folder)}; tried to download a fresh copy, but could not fetch "
               rf"{mirror.url} \(\[Errno 2\] No such file .*\)\. Point root \(--data in the examples\) at a folder "
               rf"that holds a good cifar-10-batches-py/ copy$")
    assert re.match(pattern, message), message
    assert "fetching a fresh copy" in capsys.readouterr().out




def test_offline_with_no_data_is_one_line_naming_the_url_and_the_fix(tmp_path, monkeypatch):
    tried = offline(monkeypatch)
    with pytest.raises(OSError) as caught:
        CIFAR10(tmp_path / "data", download=True)
    assert tried == [OFFICIAL_URL]
    assert str(caught.value) == (
        f"CIFAR10: no cifar-10-batches-py/ in {tmp_path / 'data'}, and the download failed: could not fetch "
        f"{OFFICIAL_URL} ([Errno -2] Name or service not known); to use a local copy, point root "
        f"(--data in the examples) at the folder that holds cifar-10-batches-py/"
    )
    assert list((tmp_path / "data").iterdir()) == [], "no temp files left"


def test_offline_with_a_damaged_copy_says_the_damage_first(root, monkeypatch):
    offline(monkeypatch)
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(OSError, match=rf"^CIFAR10: {root}/cifar-10-batches-py/test_batch is not a readable pickle "
                                      rf".*; tried to download a fresh copy, but could not fetch {OFFICIAL_URL} "):
        CIFAR10(root, train=False, download=True, check_content=False)


def test_unwritable_root_is_named_before_the_network_is_tried(tmp_path, mirror, monkeypatch):
    """As root, os.access says yes to everything, so the test makes it say no for tmp_path."""
    tried = offline(monkeypatch)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == tmp_path
                        else real_access(path, mode, **kw))
    with pytest.raises(PermissionError, match=rf"^CIFAR10: no cifar-10-batches-py/ in {tmp_path}/data/new, and no "
                       rf"copy can be downloaded into {tmp_path}/data/new: {tmp_path} is not writable"):
        CIFAR10(tmp_path / "data" / "new", download=True)
    assert tried == [] and not (tmp_path / "data").exists()


def test_unwritable_root_with_a_damaged_copy(root, mirror, monkeypatch):
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == root
                        else real_access(path, mode, **kw))
    with pytest.raises(PermissionError, match=r"data_batch_1 is not a readable pickle \(EOFError.*\), and no copy "
                                              r"can be downloaded into .*data: .*data is not writable"):
        mirror(root, download=True, check_content=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_root_for_real(tmp_path, mirror):
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(PermissionError, match=r"ro is not writable"):
        mirror(tmp_path / "ro", download=True, check_content=False)


def test_root_below_a_file_cannot_be_downloaded_into(tmp_path, mirror):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PermissionError, match=r"no copy can be downloaded into .*file/data: .*file is a file"):
        mirror(tmp_path / "file" / "data", download=True, check_content=False)


def test_content_sha256_is_pixels_then_int64_labels():
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    expected = hashlib.sha256(data.tobytes() + np.array([3, 9], "<i8").tobytes()).hexdigest()
    assert cifar.content_sha256(data, np.array([3, 9])) == expected


def register(monkeypatch, folder):
    """Make the fixture's own content the 'official' one, so check_content=True accepts it."""
    for name in cifar.TRAIN_FILES + cifar.TEST_FILES:
        images, labels = cifar.read_batch(folder / name)
        monkeypatch.setitem(cifar.CONTENT_SHA256, name, cifar.content_sha256(images.reshape(-1, 3072), labels))


def test_official_content_loads_and_an_altered_pixel_or_label_does_not(root, monkeypatch):
    folder = root / "cifar-10-batches-py"
    register(monkeypatch, folder)
    assert len(CIFAR10(root)) == 60 and len(CIFAR10(root, train=False)) == 20  # check_content=True by default
    with open(folder / "data_batch_2", "rb") as f:
        data = pickle.load(f, encoding="bytes")[b"data"]
    data[3, 1000] ^= 1  # one bit of one pixel
    rewrite(folder, "data_batch_2", data=data)
    with pytest.raises(ValueError, match=rf"^CIFAR10: {folder}/data_batch_2 is readable, but its pixels or labels "
                                         r"differ from the official CIFAR-10 data_batch_2 \(12 images, the official "
                                         r"file has 10,000\); delete .* and download it again \(download=True\), or "
                                         r"pass check_content=False \(--skip-content-check in the examples\) "
                                         r"if these are meant to be other images"):
        CIFAR10(root)
    assert len(CIFAR10(root, check_content=False)) == 60
    with open(folder / "test_batch", "rb") as f:
        labels = pickle.load(f, encoding="bytes")[b"labels"]
    rewrite(folder, "test_batch", labels=[(labels[0] + 1) % 10] + labels[1:])  # one label, still in [0, 10)
    with pytest.raises(ValueError, match=r"test_batch is readable, but its pixels or labels differ"):
        CIFAR10(root, train=False)


def test_other_content_is_never_replaced_by_a_download(root, mirror):
    """A readable folder of other images may be someone's own data: download=True does not delete it."""
    before = {p.name: p.read_bytes() for p in (root / "cifar-10-batches-py").iterdir()}
    with pytest.raises(ValueError, match=r"data_batch_1 is readable, but its pixels or labels differ"):
        mirror(root, download=True)  # check_content=True: the fixture is not the official CIFAR-10
    assert {p.name: p.read_bytes() for p in (root / "cifar-10-batches-py").iterdir()} == before


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "cifar-10-batches-py").is_dir(), reason="no ../shared/data copy")
def test_the_shared_copy_has_the_official_content():
    train, test = CIFAR10(SHARED_DATA), CIFAR10(SHARED_DATA, train=False)  # check_content=True
    assert len(train) == 50_000 and len(test) == 10_000
    assert (train.targets[0], test.targets[0]) == (6, 3)  # a frog, a cat
