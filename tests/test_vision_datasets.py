"""minires.vision.datasets: torchvision's datasets on torchvision's folders, read offline from small fixtures.

CIFAR-10 fixtures hold made-up images, so those tests pass check_content=False (the content check
is minires.data.cifar's, tested in test_data_cifar.py). torchvision, when installed, reads the same
folders and must return the same items."""

from __future__ import annotations

import gzip
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
from cifar_fixture import CLASSES, learnable_images, make_cifar_archive, make_cifar_folder
from helpers import offline
from PIL import Image

import minires as mr
from minires.data import CIFAR10 as BatchCIFAR10
from minires.utils.data import DataLoader, Dataset
from minires.vision import datasets


def to_tensor(image: Image.Image) -> mr.Tensor:
    """A stand-in for transforms.ToTensor: PIL (H, W[, C]) uint8 -> float32 (C, H, W) in [0, 1]."""
    array = np.asarray(image, dtype=np.float32) / 255
    return mr.tensor(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))




# ---------------------------------------------------------------------------------------------- CIFAR


@pytest.fixture
def cifar10_root(tmp_path):
    return make_cifar_folder(tmp_path / "data", n_train=20, n_test=10, seed=0)


FINE_NAMES = [f"fine{k:02d}" for k in range(100)]


def make_cifar100_folder(root: Path, n_train: int = 30, n_test: int = 10, seed: int = 0) -> Path:
    """root/cifar-100-python/{train,test,meta} in the official layout (fine and coarse labels)."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name, n in (("train", n_train), ("test", n_test)):
        data, _ = learnable_images(n, rng)
        fine = rng.integers(0, 100, n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"filenames": [b"x.png"] * n, b"batch_label": name.encode(), b"fine_labels": fine,
                         b"coarse_labels": [k // 5 for k in fine], b"data": data}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [n.encode() for n in FINE_NAMES],
                     b"coarse_label_names": [f"coarse{k}".encode() for k in range(20)]}, f)
    return root


def test_cifar10_items_are_pil_rgb_and_int_as_torchvision(cifar10_root):
    train = datasets.CIFAR10(cifar10_root, check_content=False)
    test = datasets.CIFAR10(str(cifar10_root), train=False, check_content=False)
    assert isinstance(train, Dataset) and (len(train), len(test)) == (20, 10)
    image, label = train[3]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (32, 32)
    assert type(label) is int and label == train.targets[3]
    assert train.data.shape == (20, 32, 32, 3) and train.data.dtype == np.uint8  # HWC, as torchvision
    assert isinstance(train.targets, list) and all(type(t) is int for t in train.targets)
    assert train.classes == CLASSES and train.class_to_idx["frog"] == 6
    np.testing.assert_array_equal(np.asarray(image), train.data[3])
    batch = BatchCIFAR10(cifar10_root, check_content=False)  # minires.data's reader: NCHW
    np.testing.assert_array_equal(train.data, batch.data.transpose(0, 2, 3, 1))
    assert "Number of datapoints: 20" in repr(train) and "Split: Train" in repr(train)


def test_cifar10_transforms_and_dataloader(cifar10_root):
    train = datasets.CIFAR10(cifar10_root, transform=to_tensor, target_transform=lambda y: y + 100,
                             check_content=False)
    image, label = train[0]
    assert image.shape == (3, 32, 32) and label == train.targets[0] + 100
    images, labels = next(iter(DataLoader(train, batch_size=8, shuffle=False)))
    assert images.shape == (8, 3, 32, 32) and images.dtype == mr.float32
    assert labels.tolist() == [t + 100 for t in train.targets[:8]]


def test_cifar100_reads_fine_labels_and_meta_names(tmp_path):
    root = make_cifar100_folder(tmp_path)
    train, test = datasets.CIFAR100(root), datasets.CIFAR100(root, train=False, transform=to_tensor)
    assert (len(train), len(test)) == (30, 10) and train.data.shape == (30, 32, 32, 3)
    with open(root / "cifar-100-python" / "train", "rb") as f:
        fine = pickle.load(f, encoding="bytes")[b"fine_labels"]
    assert train.targets == fine and train.classes == FINE_NAMES and train.class_to_idx["fine42"] == 42
    image, label = train[-1]
    assert image.mode == "RGB" and image.size == (32, 32) and label == fine[-1]
    assert test[0][0].shape == (3, 32, 32)


def test_cifar100_damage_names_the_file(tmp_path):
    root = make_cifar100_folder(tmp_path)
    (root / "cifar-100-python" / "test").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"^CIFAR100: .*cifar-100-python/test is not a readable pickle .*; pass "
                                         r"download=True to fetch a fresh copy"):
        datasets.CIFAR100(root, train=False)
    with pytest.raises(FileNotFoundError, match=r"no cifar-100-python/ in .*; pass download=True to fetch it from "
                                                r"https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"):
        datasets.CIFAR100(tmp_path / "elsewhere")


@pytest.mark.parametrize("cls", [datasets.CIFAR10, datasets.CIFAR100])
def test_cifar_offline_download_names_the_url_and_the_fix(tmp_path, monkeypatch, cls):
    tried = offline(monkeypatch)
    with pytest.raises(OSError) as caught:
        cls(tmp_path / "data", download=True)
    assert tried == [cls.url]
    message = str(caught.value)
    assert message.startswith(f"{cls.__name__}: no {cls.base_folder}/ in {tmp_path / 'data'}, and the download "
                              f"failed: could not fetch {cls.url} ([Errno -2] Name or service not known)")
    assert message.endswith(f"point root (--data in the examples) at the folder that holds {cls.base_folder}/")
    assert list((tmp_path / "data").iterdir()) == [], "no temp files left"


def test_cifar10_download_uses_the_class_url_and_md5(tmp_path, monkeypatch):
    archive = tmp_path / "mirror" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    md5 = make_cifar_archive(archive, n_train=15, n_test=5)
    monkeypatch.setattr(datasets.CIFAR10, "url", archive.as_uri())  # a mirror, as users set it in torchvision
    with pytest.raises(ValueError, match=f"has md5 {md5}, expected {datasets.CIFAR10.tgz_md5}"):
        datasets.CIFAR10(tmp_path / "data", download=True, check_content=False)
    monkeypatch.setattr(datasets.CIFAR10, "tgz_md5", md5)
    assert len(datasets.CIFAR10(tmp_path / "data", download=True, check_content=False)) == 15
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["cifar-10-batches-py"]


# ---------------------------------------------------------------------------------------------- MNIST


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file: magic 0x0000 08 <ndim> (uint8), the sizes as big-endian int32, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">i4").tobytes()
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_mnist(root: Path, name: str = "MNIST", n_train: int = 12, n_test: int = 6, gz: bool = False,
                seed: int = 0) -> dict[str, np.ndarray]:
    """root/<name>/raw/ with the four IDX files (or their .gz); returns the arrays written."""
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        arrays[f"{prefix}-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte"] = rng.integers(0, 10, n, dtype=np.uint8)
    for stem, array in arrays.items():
        content = idx_bytes(array)
        if gz:
            (raw / f"{stem}.gz").write_bytes(gzip.compress(content, mtime=0))
        else:
            (raw / stem).write_bytes(content)
    return arrays


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("cls", [datasets.MNIST, datasets.FashionMNIST])
def test_mnist_items_are_pil_l_and_int(tmp_path, cls, gz):
    arrays = write_mnist(tmp_path, cls.__name__, gz=gz)
    train, test = cls(tmp_path), cls(str(tmp_path), train=False)
    assert isinstance(train, Dataset) and (len(train), len(test)) == (12, 6)
    image, label = test[5]
    assert isinstance(image, Image.Image) and image.mode == "L" and image.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(image), arrays["t10k-images-idx3-ubyte"][5])
    assert type(label) is int and label == arrays["t10k-labels-idx1-ubyte"][5]
    assert isinstance(train.data, mr.Tensor) and train.data.shape == (12, 28, 28) and train.data.dtype == mr.uint8
    assert train.targets.dtype == mr.int64 and train.targets.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert len(train.classes) == 10 and train.class_to_idx[train.classes[3]] == 3
    assert train.raw_folder == tmp_path / cls.__name__ / "raw"


def test_mnist_names_and_fashion_classes():
    assert datasets.MNIST.classes[7] == "7 - seven"
    assert datasets.FashionMNIST.classes[9] == "Ankle boot"
    assert datasets.MNIST.mirrors == ["https://ossci-datasets.s3.amazonaws.com/mnist/"]
    assert dict(datasets.MNIST.resources)["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"


def test_mnist_transforms_and_dataloader(tmp_path):
    arrays = write_mnist(tmp_path)
    train = datasets.MNIST(tmp_path, transform=to_tensor, target_transform=lambda y: -y)
    image, label = train[0]
    assert image.shape == (1, 28, 28) and label == -int(arrays["train-labels-idx1-ubyte"][0])
    images, labels = next(iter(DataLoader(train, batch_size=5)))
    assert images.shape == (5, 1, 28, 28) and labels.tolist() == [-int(y) for y in arrays["train-labels-idx1-ubyte"][:5]]
    np.testing.assert_allclose(images.numpy()[1, 0], arrays["train-images-idx3-ubyte"][1] / 255, rtol=1e-6)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


MNIST_FAULTS = {  # name: (file, how to break it, the message after the path)
    "truncated images": ("train-images-idx3-ubyte", truncate,
                         r" is damaged: its header says 12 x 28 x 28 = 9408 bytes of data, the file holds 9401"),
    "labels as images": ("train-images-idx3-ubyte",
                         lambda p: p.write_bytes((p.parent / "train-labels-idx1-ubyte").read_bytes()),
                         r" is not the right IDX file: magic number 2049, expected 2051 \(images"),
    "images as labels": ("train-labels-idx1-ubyte",
                         lambda p: p.write_bytes((p.parent / "train-images-idx3-ubyte").read_bytes()),
                         r" is not the right IDX file: magic number 2051, expected 2049 \(labels"),
    "short header": ("train-labels-idx1-ubyte", lambda p: p.write_bytes(b"\0\0"),
                     r" is not an IDX file: 2 bytes, shorter than its header"),
    "label out of range": ("train-labels-idx1-ubyte", lambda p: p.write_bytes(idx_bytes(np.full(12, 10, np.uint8))),
                           r": labels must lie in \[0, 10\), got values up to 10"),
}


@pytest.mark.parametrize("fault", MNIST_FAULTS)
def test_damaged_idx_file_is_named(tmp_path, fault):
    write_mnist(tmp_path)
    stem, damage, says = MNIST_FAULTS[fault]
    path = tmp_path / "MNIST" / "raw" / stem
    damage(path)
    with pytest.raises(ValueError, match=rf"^MNIST: {path}{says}.*; pass download=True to fetch a fresh copy"):
        datasets.MNIST(tmp_path)


def test_damaged_gz_and_count_mismatch_are_named(tmp_path):
    write_mnist(tmp_path, gz=True)
    raw = tmp_path / "MNIST" / "raw"
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match=rf"^MNIST: {raw}/t10k-images-idx3-ubyte.gz cannot be read \("):
        datasets.MNIST(tmp_path, train=False)
    (raw / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(11, np.uint8)))  # plain wins over .gz
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz holds 12 images but .*train-labels-idx1-ubyte "
                                         r"11 labels"):
        datasets.MNIST(tmp_path)


def test_missing_mnist_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"^MNIST: missing file {tmp_path}/MNIST/raw/train-images-idx3-ubyte "
                       r"\(or train-images-idx3-ubyte.gz\); pass download=True to fetch it from "
                       r"https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz, or point root "
                       r"at the folder that holds MNIST/raw/"):
        datasets.MNIST(tmp_path)


@pytest.mark.parametrize("cls", [datasets.MNIST, datasets.FashionMNIST])
def test_mnist_offline_download_names_the_url(tmp_path, monkeypatch, cls):
    tried = offline(monkeypatch)
    with pytest.raises(OSError) as caught:
        cls(tmp_path / "data", download=True)
    url = cls.mirrors[0] + "train-images-idx3-ubyte.gz"
    assert tried == [url]
    assert str(caught.value) == (
        f"{cls.__name__}: no complete {cls.__name__}/raw/ in {tmp_path / 'data'}, and the download failed: could not "
        f"fetch {url} ([Errno -2] Name or service not known); to use a local copy, point root at the folder that "
        f"holds {cls.__name__}/raw/ (torchvision's layout)")
    assert list((tmp_path / "data" / cls.__name__ / "raw").iterdir()) == [], "no temp files left"


def test_mnist_download_checks_md5_and_unpacks(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mirror", gz=True)
    mirror = tmp_path / "mirror" / "MNIST" / "raw"
    md5 = {p.name: hashlib.md5(p.read_bytes(), usedforsecurity=False).hexdigest() for p in mirror.iterdir()}
    monkeypatch.setattr(datasets.MNIST, "mirrors", [(tmp_path / "nowhere").as_uri() + "/", mirror.as_uri() + "/"])
    with pytest.raises(ValueError, match=r"has md5 .*, expected f68b3c2dcbeaaa9fbdd348bbdeb94873"):
        datasets.MNIST(tmp_path / "data", download=True)
    monkeypatch.setattr(datasets.MNIST, "resources", [(name, md5[name]) for name, _ in datasets.MNIST.resources])
    data = datasets.MNIST(tmp_path / "data", download=True)
    assert len(data) == 12 and data[0][0].size == (28, 28)
    got = sorted(p.name for p in (tmp_path / "data" / "MNIST" / "raw").iterdir())
    assert got == sorted([*md5, *(name.removesuffix(".gz") for name in md5)]), "plain and .gz, no temp files"


# ---------------------------------------------------------------------------------------------- ImageFolder


@pytest.fixture
def image_tree(tmp_path):
    """root/cat/{b.png, a.PNG, sub/c.jpg, notes.txt}, root/dog/d.bmp: 4 images, sizes and colours differ."""
    root = tmp_path / "images"
    files = {"cat/b.png": (5, 4), "cat/a.PNG": (6, 6), "cat/sub/c.jpg": (8, 3), "dog/d.bmp": (2, 7)}
    for i, (name, size) in enumerate(files.items()):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L" if i == 1 else "RGB", size, 40 * i).save(root / name)
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_classes_samples_and_items(image_tree):
    folder = datasets.ImageFolder(image_tree)
    assert isinstance(folder, Dataset) and folder.classes == ["cat", "dog"]
    assert folder.class_to_idx == {"cat": 0, "dog": 1}
    assert folder.samples == [(str(image_tree / p), k) for p, k in
                              [("cat/a.PNG", 0), ("cat/b.png", 0), ("cat/sub/c.jpg", 0), ("dog/d.bmp", 1)]]
    assert folder.targets == [0, 0, 0, 1] and folder.imgs is folder.samples and len(folder) == 4
    image, label = folder[0]  # a.PNG, written as 'L'
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (6, 6) and label == 0
    assert folder[3][0].size == (2, 7) and folder[3][1] == 1


def test_image_folder_transforms_loader_and_is_valid_file(image_tree):
    folder = datasets.ImageFolder(image_tree, transform=lambda im: im.size, target_transform=str)
    assert folder[2] == ((8, 3), "0")
    pngs = datasets.ImageFolder(image_tree, is_valid_file=lambda p: p.endswith(".png"), allow_empty=True,
                                loader=lambda p: Path(p).name)
    assert [pngs[i] for i in range(len(pngs))] == [("b.png", 0)]
    with pytest.raises(FileNotFoundError, match=r"^Found no valid file for the classes dog\. $"):
        datasets.ImageFolder(image_tree, is_valid_file=lambda p: p.endswith(".png"))


def test_image_folder_with_an_empty_class_or_no_classes(image_tree, tmp_path):
    (image_tree / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"^Found no valid file for the classes empty\. Supported extensions "
                                                r"are: \.jpg, \.jpeg, \.png, .*\.webp$"):
        datasets.ImageFolder(image_tree)
    assert datasets.ImageFolder(image_tree, allow_empty=True).classes == ["cat", "dog", "empty"]
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder in"):
        datasets.ImageFolder(image_tree / "dog")


def test_image_folder_through_a_dataloader(image_tree):
    folder = datasets.ImageFolder(image_tree, transform=lambda im: to_tensor(im.resize((4, 4))))
    images, labels = next(iter(DataLoader(folder, batch_size=4)))
    assert images.shape == (4, 3, 4, 4) and labels.tolist() == [0, 0, 0, 1]


# ---------------------------------------------------------------------------------------------- torchvision


def assert_same_items(ours, theirs, indices):
    assert len(ours) == len(theirs)
    for i in indices:
        (a, y), (b, z) = ours[i], theirs[i]
        assert (a.mode, a.size, y) == (b.mode, b.size, z), f"item {i}"
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"item {i}")


def test_same_items_as_torchvision(cifar10_root, tmp_path, image_tree, monkeypatch):
    tv = pytest.importorskip("torchvision")
    # torchvision md5-checks the CIFAR files against the official ones: the fixtures are other images
    monkeypatch.setattr(tv.datasets.CIFAR10, "_check_integrity", lambda self: True)
    for train in (True, False):
        assert_same_items(datasets.CIFAR10(cifar10_root, train=train, check_content=False),
                          tv.datasets.CIFAR10(cifar10_root, train=train), range(0, 10, 3))
    root100 = make_cifar100_folder(tmp_path / "c100")
    ours, theirs = datasets.CIFAR100(root100), tv.datasets.CIFAR100(root100)
    assert_same_items(ours, theirs, [0, 29])
    assert ours.classes == theirs.classes and ours.class_to_idx == theirs.class_to_idx
    for cls, gz in ((datasets.MNIST, False), (datasets.FashionMNIST, True)):
        write_mnist(tmp_path / cls.__name__, cls.__name__, gz=gz)
        if gz:  # torchvision reads the unpacked files; with download=True it unpacks, and here finds them missing
            for p in (tmp_path / cls.__name__ / cls.__name__ / "raw").iterdir():
                p.with_suffix("").write_bytes(gzip.decompress(p.read_bytes()))
        ours, theirs = cls(tmp_path / cls.__name__), getattr(tv.datasets, cls.__name__)(tmp_path / cls.__name__)
        assert_same_items(ours, theirs, range(12))
        assert ours.classes == theirs.classes
    ours, theirs = datasets.ImageFolder(image_tree), tv.datasets.ImageFolder(image_tree)
    assert ours.samples == theirs.samples and ours.class_to_idx == theirs.class_to_idx
    assert_same_items(ours, theirs, range(4))
    assert datasets.IMG_EXTENSIONS == tv.datasets.folder.IMG_EXTENSIONS


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "cifar-10-batches-py").is_dir(), reason="no ../shared/data copy")
def test_the_shared_cifar10_copy():
    train, test = datasets.CIFAR10(SHARED_DATA), datasets.CIFAR10(SHARED_DATA, train=False)  # content checked
    assert (len(train), len(test)) == (50_000, 10_000)
    assert (train[0][1], train.classes[train[0][1]], test[0][1], test.classes[test[0][1]]) == (6, "frog", 3, "cat")
    assert train[0][0].mode == "RGB" and train[0][0].size == (32, 32)
