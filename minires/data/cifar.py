"""CIFAR-10 (Krizhevsky, 2009) read from its python-version folder, with an optional download.

    root/cifar-10-batches-py/data_batch_1 ... data_batch_5   training, 10,000 images each
                             test_batch                      test, 10,000 images
                             batches.meta                    b"label_names": the 10 class names

Each batch file is a pickle of a dict: b"data" is uint8 (n, 3072), one image per row,
laid out as the red 32x32 plane, then green, then blue, each row-major, so

    row[c * 1024 + h * 32 + w]  is pixel (c, h, w),   and   data.reshape(n, 3, 32, 32)

gives the (N, C, H, W) images without moving a byte. b"labels" holds n ints in [0, 10).
Every file is checked as it is read; a fault names the file and what is wrong with it.
The files are pickles, so read only ones you trust (the download checks the archive's md5).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
NUM_CLASSES = 10

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class CIFAR10:
    """The CIFAR-10 training set (50,000 images) or test set (10,000 images), held in memory.

    root:      the folder that holds cifar-10-batches-py/ (torchvision's convention), str or Path
    train:     True: the five data_batch files; False: test_batch
    download:  if the folder is missing or damaged, fetch the official archive (md5-checked) into root
    transform: a batch transform t(images (B, 3, 32, 32) uint8, rng) -> images, or None

    data:    uint8 (N, 3, 32, 32)     targets: int64 (N,)     classes: the 10 names, from batches.meta
    """

    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    md5 = "c58f30108f718f92721af3b95e74349a"
    filename = "cifar-10-python.tar.gz"

    def __init__(
        self, root: str | os.PathLike, train: bool = True, download: bool = False, transform: Transform | None = None
    ):
        self.root, self.train, self.transform = Path(root), train, transform
        folder = self.root / FOLDER
        if download:
            try:
                self._read(folder)  # already there and valid: nothing to fetch
                return
            except (FileNotFoundError, ValueError) as fault:
                if folder.exists():
                    print(f"CIFAR10: {folder} is damaged ({fault}); fetching a fresh copy")
            self.download()
        elif not folder.is_dir():
            raise FileNotFoundError(
                f"CIFAR10: no {FOLDER}/ folder in {self.root}; pass download=True, "
                f"or root= the folder that holds {FOLDER}/"
            )
        self._read(folder)

    def _read(self, folder: Path) -> None:
        self.classes = read_meta(folder / "batches.meta")
        parts = [read_batch(folder / name) for name in (TRAIN_FILES if self.train else TEST_FILES)]
        self.data = np.concatenate([images for images, _ in parts])  # (N, 3, 32, 32) uint8
        self.targets = np.concatenate([labels for _, labels in parts])  # (N,) int64

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        """(image, label): the transform applied to a batch of one, squeezed back to (3, 32, 32).

        Random transforms draw from np.random.default_rng(index), so dataset[i] is repeatable;
        the DataLoader calls get_batch instead, with a fresh generator each epoch."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"CIFAR10: index must be in [0, {len(self)}), got {index}")
        index %= len(self)  # -1 is the last image
        images, labels = self.get_batch(np.array([index]), np.random.default_rng(index))
        return images[0], int(labels[0])

    def get_batch(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) for a batch, the transform applied to the whole batch at once.

        indices: (B,) ints      images: transform(data[indices], rng), or uint8 (B, 3, 32, 32)
        rng: the generator for random augmentation      labels: int64 (B,)
        """
        images = self.data[indices]
        if self.transform is not None:
            images = self.transform(images, rng)
        return images, self.targets[indices]

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"CIFAR10({split}, {len(self)} images, root={str(self.root)!r}, transform={self.transform!r})"

    def download(self) -> None:
        """Fetch the archive from self.url, check its md5, and extract it into root atomically.

        Everything happens inside one temporary folder in root; only the finished
        cifar-10-batches-py/ is renamed into place, so an interrupted download never leaves
        a half-extracted folder under the real name, and a failed one leaves nothing."""
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".cifar-download-") as temp:
            archive = Path(temp) / self.filename
            print(f"CIFAR10: downloading {self.url} into {self.root}")
            got = fetch(self.url, archive)
            if got != self.md5:
                raise ValueError(f"CIFAR10.download: the archive from {self.url} has md5 {got}, expected {self.md5}")
            extracted = Path(temp) / "extracted"
            try:
                with tarfile.open(archive, "r:gz") as tar:
                    extract_safely(tar, extracted)
            except tarfile.TarError as e:
                raise ValueError(f"CIFAR10.download: the archive from {self.url} is unsafe or damaged: {e}") from e
            if not (extracted / FOLDER).is_dir():
                raise ValueError(f"CIFAR10.download: the archive from {self.url} has no {FOLDER}/ folder")
            target = self.root / FOLDER
            if target.exists():  # a damaged copy: move it into temp, which is deleted on the way out
                os.replace(target, Path(temp) / "damaged")
            os.replace(extracted / FOLDER, target)


def fetch(url: str, path: Path) -> str:
    """Copy url (https:// or file://) to path; returns the md5 of what was written."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url) as response, open(path, "wb") as f:  # file:// works too
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                f.write(block)
    except OSError as e:  # urllib's URLError is an OSError
        raise OSError(f"CIFAR10.download: could not fetch {url}: {e}") from e
    return digest.hexdigest()


def extract_safely(tar: tarfile.TarFile, destination: Path) -> None:
    """Extract tar into destination, refusing members that would land outside it."""
    if hasattr(tarfile, "data_filter"):  # Python 3.12, and 3.10.12 / 3.11.4 onwards
        tar.extractall(destination, filter="data")
        return
    for member in tar.getmembers():  # older Pythons: allow only plain files and folders, no '..'
        if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in Path(member.name).parts:
            raise tarfile.TarError(f"refusing to extract {member.name!r}")
    tar.extractall(destination)  # every member was checked above


def _unpickle(path: Path) -> object:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR10: missing file {path}; download=True fetches a complete copy")
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except Exception as e:  # a truncated or foreign file can fail in many ways inside pickle
        raise ValueError(f"CIFAR10: {path} is not a readable pickle ({type(e).__name__}: {e})") from e


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images uint8 (n, 3, 32, 32), labels int64 (n,)), every field checked."""
    batch = _unpickle(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        got = f"keys {sorted(batch)}" if isinstance(batch, dict) else f"a {type(batch).__name__}"
        raise ValueError(f"CIFAR10: {path} must hold a dict with keys b'data' and b'labels', got {got}")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else f"a {type(data).__name__}"
        raise ValueError(f"CIFAR10: {path}: b'data' must be uint8 (n, 3072), got {got}")
    if labels.shape != (len(data),):
        raise ValueError(f"CIFAR10: {path}: b'labels' must hold one label per image, got {labels.size} labels "
                         f"for {len(data)} images")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"CIFAR10: {path}: b'labels' must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(
            f"CIFAR10: {path}: b'labels' must lie in [0, {NUM_CLASSES}), got values in [{labels.min()}, {labels.max()}]"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def read_meta(path: Path) -> list[str]:
    """batches.meta -> the 10 class names, as str."""
    meta = _unpickle(path)
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != NUM_CLASSES:
        got = f"{len(names)} names" if isinstance(names, list) else repr(names)
        raise ValueError(f"CIFAR10: {path} must hold b'label_names', a list of {NUM_CLASSES} names, got {got}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
