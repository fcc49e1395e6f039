"""CIFAR-10 (Krizhevsky, 2009) read from its python-version folder, with an optional download.

    root/cifar-10-batches-py/data_batch_1 ... data_batch_5   training, 10,000 images each
                             test_batch                      test, 10,000 images
                             batches.meta                    b"label_names": the 10 class names

Each batch file is a pickle of a dict: b"data" is uint8 (n, 3072), one image per row,
laid out as the red 32x32 plane, then green, then blue, each row-major, so

    row[c * 1024 + h * 32 + w]  is pixel (c, h, w),   and   data.reshape(n, 3, 32, 32)

gives the (N, C, H, W) images without moving a byte. b"labels" holds n ints in [0, 10).
Every file is checked as it is read, first by its structure (a dict, uint8 (n, 3072) pixels, one
label in [0, 10) per image), then, unless check_content=False, by its content: the sha256 of its
pixels and labels must be the official one (CONTENT_SHA256). A fault names the file, what is wrong
with it, and what to do; every error CIFAR10(...) raises is an OSError or a ValueError whose message
stands on its own, so a script can print it as one line.
The files are pickles, so read only ones you trust (the download checks the archive's md5).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
NUM_CLASSES = 10
IMAGES_PER_BATCH = 10_000

# sha256 of each official batch's content: its b"data" bytes (uint8 (10000, 3072), C order), then its
# b"labels" as little-endian int64. The content, not the file: copies whose pickles differ only in
# b"filenames" or in pickle protocol (like ../shared/data) hold the same images and labels.
CONTENT_SHA256 = {
    "data_batch_1": "54b2ed21fbd6a52cfc507fb5af63b8610e1938828f3017b159e69e87bb1965db",
    "data_batch_2": "a860ea80505c3e017d336ca80eca64bdc58099bf285ae8650980ed6c846f5e53",
    "data_batch_3": "701e5e97f12252a2ec703b29fe275315471b883e27926ec8e9d3b08ca81b2fab",
    "data_batch_4": "6c9358a56fb97959b9b494683c1c1ef9f0c4f291f3686302835e08a0b0ab2f47",
    "data_batch_5": "c2108fec4d9d07a51c26c680b5886f54ff810c859a3f7ba7efe3a4a82a838293",
    "test_batch": "2c33b053d1cd726af8d86e174a96dd89d7000ba1412add026d68142375b89d51",
}

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class CIFAR10:
    """The CIFAR-10 training set (50,000 images) or test set (10,000 images), held in memory.

    root:      the folder that holds cifar-10-batches-py/ (torchvision's convention), str or Path
    train:     True: the five data_batch files; False: test_batch
    download:  if the folder is missing or unreadable, fetch the official archive (md5-checked) into root
    transform: a batch transform t(images (B, 3, 32, 32) uint8, rng) -> images, or None
    check_content: True: each batch must hold the official pixels and labels (CONTENT_SHA256);
               False: only the structure is checked, for CIFAR-format folders of other images

    data:    uint8 (N, 3, 32, 32)     targets: int64 (N,)     classes: the 10 names, from batches.meta

    A folder whose files are readable but whose content differs from the official one is never
    replaced by a download: it may be someone's own images. The error says what to do instead.
    """

    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    md5 = "c58f30108f718f92721af3b95e74349a"
    filename = "cifar-10-python.tar.gz"
    # The folder's layout, as class attributes so that a reader of the same kind of folder
    # (minires.vision.datasets.CIFAR100: cifar-100-python/{train,test,meta}) reuses all of this.
    name = "CIFAR10"  # how messages start
    folder = FOLDER
    train_files, test_files, meta_file = TRAIN_FILES, TEST_FILES, "batches.meta"
    label_key, meta_key, num_classes = b"labels", b"label_names", NUM_CLASSES
    content_sha256: dict[str, str] | None = CONTENT_SHA256  # None: no official digests known, structure only

    def __init__(
        self,
        root: str | os.PathLike,
        train: bool = True,
        download: bool = False,
        transform: Transform | None = None,
        check_content: bool = True,
    ):
        self.root, self.train, self.transform = Path(root), train, transform
        self.check_content = check_content
        name, subfolder, meta = self.name, self.folder, self.meta_file
        folder = self.root / subfolder
        point_root = f"point root (--data in the examples) at the folder that holds {subfolder}/"
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"{name}: root {self.root} is a file, not a folder; {point_root}")
        if not folder.exists() and (self.root / meta).exists():
            raise FileNotFoundError(f"{name}: {self.root} looks like {subfolder}/ itself (it holds {meta}); "
                                    f"{point_root}, here {self.root.parent}")
        try:
            self._read(folder)  # there and valid: nothing to fetch
            return
        except ContentMismatch:
            raise  # readable, only other images: never deleted for a download
        except (OSError, ValueError) as fault:
            damage = None if not folder.exists() else fault  # None: no folder at all
        if not download:
            if damage is None:
                raise FileNotFoundError(f"{name}: no {subfolder}/ in {self.root}; pass download=True to fetch it "
                                        f"from {self.url}, or {point_root}")
            raise _reworded(damage, f"{damage}; pass download=True to fetch a fresh copy, or {point_root}")
        what = f"no {subfolder}/ in {self.root}" if damage is None else str(damage).removeprefix(f"{name}: ")
        unwritable = _not_writable(self.root)
        if unwritable:
            raise PermissionError(f"{name}: {what}, and no copy can be downloaded into {self.root}: {unwritable}; "
                                  f"{point_root}, or at a folder you can write to")
        if damage is not None:
            print(f"{name}: {what}; fetching a fresh copy")
        try:
            self.download()
        except (OSError, ValueError) as e:
            failure = str(e).removeprefix(f"{name}.download: ")
            if damage is None:
                message = f"{name}: {what}, and the download failed: {failure}; to use a local copy, {point_root}"
            else:
                message = (f"{name}: {what}; tried to download a fresh copy, but {failure}. "
                           f"Point root (--data in the examples) at a folder that holds a good {subfolder}/ copy")
            raise _reworded(e, message) from e
        self._read(folder)

    def _read(self, folder: Path) -> None:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{self.name}: {folder} is a file, not a folder")
        if folder.is_dir() and not any(folder.iterdir()):
            raise FileNotFoundError(f"{self.name}: {folder} is empty")
        layout = {"label_key": self.label_key, "num_classes": self.num_classes, "who": self.name}
        self.classes = read_meta(folder / self.meta_file, key=self.meta_key, num_classes=self.num_classes,
                                 who=self.name)
        names = self.train_files if self.train else self.test_files
        digests = self.content_sha256 if self.check_content else None
        parts = [read_batch(folder / name, digests[name] if digests else None, **layout) for name in names]
        self.data = np.concatenate([images for images, _ in parts])  # (N, 3, 32, 32) uint8
        self.targets = np.concatenate([labels for _, labels in parts])  # (N,) int64

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        """(image, label): the transform applied to a batch of one, squeezed back to (3, 32, 32).

        Random transforms draw from np.random.default_rng(index), so dataset[i] is repeatable;
        the DataLoader calls get_batch instead, with a fresh generator each epoch."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name}: index must be in [0, {len(self)}), got {index}")
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
        return f"{self.name}({split}, {len(self)} images, root={str(self.root)!r}, transform={self.transform!r})"

    def download(self) -> None:
        """Fetch the archive from self.url, check its md5, and extract it into root atomically.

        Everything happens inside one temporary folder in root; only the finished
        cifar-10-batches-py/ is renamed into place, so an interrupted download never leaves
        a half-extracted folder under the real name, and a failed one leaves nothing."""
        who, subfolder = f"{self.name}.download", self.folder
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".cifar-download-") as temp:
            archive = Path(temp) / self.filename
            print(f"{self.name}: downloading {self.url} into {self.root}")
            got = fetch(self.url, archive, who)
            if got != self.md5:
                raise ValueError(f"{who}: the archive from {self.url} has md5 {got}, expected {self.md5}")
            extracted = Path(temp) / "extracted"
            try:
                with tarfile.open(archive, "r:gz") as tar:
                    extract_safely(tar, extracted)
            except tarfile.TarError as e:
                raise ValueError(f"{who}: the archive from {self.url} is unsafe or damaged: {e}") from e
            if not (extracted / subfolder).is_dir():
                raise ValueError(f"{who}: the archive from {self.url} has no {subfolder}/ folder")
            target = self.root / subfolder
            if target.exists():  # a damaged copy: move it into temp, which is deleted on the way out
                os.replace(target, Path(temp) / "damaged")
            os.replace(extracted / subfolder, target)


def fetch(url: str, path: Path, who: str = "CIFAR10.download") -> str:
    """Copy url (https:// or file://) to path; returns the md5 of what was written.
    who: how an error's message starts (the caller's name)."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as f:  # file:// works too
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                f.write(block)
    except OSError as e:  # urllib's URLError is an OSError; its .reason says why (no network, no such file)
        reason = e if isinstance(e, urllib.error.HTTPError) else getattr(e, "reason", e)
        raise OSError(f"{who}: could not fetch {url} ({reason})") from e
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


class ContentMismatch(ValueError):
    """A batch file that reads well but whose pixels or labels are not the official ones."""


def _reworded(error: Exception, message: str) -> Exception:
    """An exception of error's kind (FileNotFoundError, ValueError, ...) with a new message."""
    if type(error).__module__ != "builtins":  # a library's own class may want other arguments
        return ValueError(message) if isinstance(error, ValueError) else OSError(message)
    return type(error)(message)


def _not_writable(root: Path) -> str:
    """Why a download into root cannot work ('' if it can): root, or the folder that would hold it,
    must be a folder this process may write to. Checked before going to the network."""
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # root/.. may be created by the download, the first existing one must be writable
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable (permission denied)"
    return ""


def content_sha256(data: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of a batch's content: its pixels (uint8 (n, 3072), C order), then its labels as int64."""
    digest = hashlib.sha256(np.ascontiguousarray(data))  # hashes the array's buffer: no copy
    digest.update(np.asarray(labels, dtype="<i8").tobytes())
    return digest.hexdigest()


def _unpickle(path: Path, who: str = "CIFAR10") -> object:
    if not path.exists():
        raise FileNotFoundError(f"{who}: missing file {path}")
    if not path.is_file():
        raise IsADirectoryError(f"{who}: {path} is a folder, not a file")
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except Exception as e:  # a truncated or foreign file can fail in many ways inside pickle
        raise ValueError(f"{who}: {path} is not a readable pickle ({type(e).__name__}: {e})") from e


def read_batch(path: Path, sha256: str | None = None, *, label_key: bytes = b"labels",
               num_classes: int = NUM_CLASSES, who: str = "CIFAR10") -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images uint8 (n, 3, 32, 32), labels int64 (n,)), every field checked;
    with sha256, the content too (content_sha256 of its pixels and labels must equal it).
    label_key, num_classes: b"labels" and 10 for CIFAR-10, b"fine_labels" and 100 for CIFAR-100."""
    batch = _unpickle(path, who)
    key = repr(label_key)
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        got = f"keys {sorted(batch)}" if isinstance(batch, dict) else f"a {type(batch).__name__}"
        raise ValueError(f"{who}: {path} must hold a dict with keys b'data' and {key}, got {got}")
    data, labels = batch[b"data"], np.asarray(batch[label_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else f"a {type(data).__name__}"
        raise ValueError(f"{who}: {path}: b'data' must be uint8 (n, 3072), got {got}")
    if labels.shape != (len(data),):
        raise ValueError(f"{who}: {path}: {key} must hold one label per image, got {labels.size} labels "
                         f"for {len(data)} images")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{who}: {path}: {key} must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{who}: {path}: {key} must lie in [0, {num_classes}), got values in [{labels.min()}, {labels.max()}]"
        )
    labels = labels.astype(np.int64)
    if sha256 is not None and content_sha256(data, labels) != sha256:
        count = "" if len(data) == IMAGES_PER_BATCH else f" ({len(data)} images, the official file has 10,000)"
        raise ContentMismatch(
            f"{who}: {path} is readable, but its pixels or labels differ from the official CIFAR-10 "
            f"{path.name}{count}; delete {path.parent} and download it again (download=True), or pass "
            f"check_content=False (--skip-content-check in the examples) if these are meant to be other images"
        )
    return data.reshape(-1, 3, 32, 32), labels


def read_meta(path: Path, *, key: bytes = b"label_names", num_classes: int = NUM_CLASSES,
              who: str = "CIFAR10") -> list[str]:
    """batches.meta -> the 10 class names, as str (CIFAR-100's meta: key b"fine_label_names", 100 names)."""
    meta = _unpickle(path, who)
    names = meta.get(key) if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != num_classes:
        got = f"{len(names)} names" if isinstance(names, list) else repr(names)
        raise ValueError(f"{who}: {path} must hold {key!r}, a list of {num_classes} names, got {got}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
