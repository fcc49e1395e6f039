"""CIFAR-10 (Krizhevsky, 2009) from its python-version folder, with an optional download.

    root/cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch, batches.meta

Each batch file is a pickle of a dict: b"data" is uint8 (n, 3072), one image per row,
the red 32x32 plane, then green, then blue, each row-major, so a reshape to
(n, 3, 32, 32) gives the NCHW images without copying; b"labels" holds n ints in [0, 10).
Every file is checked as it is read, and a fault names the file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
NUM_CLASSES = 10


class CIFAR10:
    """The CIFAR-10 training (50,000 images) or test (10,000 images) set.

    root:      the folder that holds cifar-10-batches-py/ (torchvision's convention)
    train:     the five training batches, or the test batch
    download:  fetch and extract the official archive into root if the folder is missing
    transform: a batch transform (minires.data.transforms), applied by get_batch

    data:    uint8 (N, 3, 32, 32)      targets: int64 (N,)      classes: the 10 names
    """

    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    md5 = "c58f30108f718f92721af3b95e74349a"
    filename = "cifar-10-python.tar.gz"

    def __init__(self, root: str | os.PathLike, train: bool = True, download: bool = False, transform=None):
        self.root, self.train, self.transform = Path(root), train, transform
        folder = self.root / FOLDER
        if download and not folder.is_dir():
            self.download()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"CIFAR10: no {FOLDER}/ folder in {self.root}; pass download=True, or root= the folder that holds it"
            )
        self.classes = read_meta(folder / "batches.meta")
        parts = [read_batch(folder / name) for name in (TRAIN_FILES if train else TEST_FILES)]
        self.data = np.concatenate([images for images, _ in parts])
        self.targets = np.concatenate([labels for _, labels in parts])

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        images, labels = self.get_batch(np.array([index]), np.random.default_rng(index))
        return images[0], int(labels[0])

    def get_batch(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) for the given indices, the transform applied to the whole batch."""
        images = self.data[indices]
        if self.transform is not None:
            images = self.transform(images, rng)
        return images, self.targets[indices]

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"CIFAR10({split}, {len(self)} images, root={str(self.root)!r}, transform={self.transform!r})"

    def download(self) -> None:
        """Fetch the archive, check its md5, and extract it atomically into root.

        Everything happens under temporary names inside root, and the finished folder is
        renamed into place at the end, so an interrupted download never leaves a
        half-extracted cifar-10-batches-py/ behind."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, archive = tempfile.mkstemp(dir=self.root, prefix=f".{self.filename}.", suffix=".part")
        os.close(fd)
        extract_dir = None
        try:
            print(f"downloading {self.url} to {self.root}")
            urllib.request.urlretrieve(self.url, archive)
            got = file_md5(archive)
            if got != self.md5:
                raise ValueError(f"CIFAR10.download: {self.url} has md5 {got}, expected {self.md5}")
            extract_dir = tempfile.mkdtemp(dir=self.root, prefix=".cifar-extract.")
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(extract_dir, filter="data")
            extracted = Path(extract_dir) / FOLDER
            if not extracted.is_dir():
                raise ValueError(f"CIFAR10.download: the archive from {self.url} has no {FOLDER}/ folder")
            os.replace(extracted, self.root / FOLDER)
        finally:
            Path(archive).unlink(missing_ok=True)
            if extract_dir is not None:
                shutil.rmtree(extract_dir, ignore_errors=True)


def file_md5(path: str | os.PathLike) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpickle(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR10: missing file {path}")
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise ValueError(f"CIFAR10: {path} is not a readable CIFAR pickle ({type(e).__name__}: {e})") from e


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images uint8 (n, 3, 32, 32), labels int64 (n,)), validated."""
    batch = _unpickle(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"CIFAR10: {path} must hold a dict with b'data' and b'labels', got {keys}")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"CIFAR10: {path}: b'data' must be uint8 (n, 3072), got {what}")
    if labels.shape != (len(data),):
        raise ValueError(f"CIFAR10: {path}: {len(data)} images but {labels.size} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES or labels.dtype.kind not in "iu"):
        raise ValueError(
            f"CIFAR10: {path}: labels must be integers in [0, {NUM_CLASSES}), got range [{labels.min()}, {labels.max()}]"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def read_meta(path: Path) -> list[str]:
    """batches.meta -> the 10 class names."""
    meta = _unpickle(path)
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != NUM_CLASSES:
        raise ValueError(f"CIFAR10: {path} must hold b'label_names', a list of {NUM_CLASSES} names, got {names!r}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
