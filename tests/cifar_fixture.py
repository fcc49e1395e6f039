"""Small CIFAR-format data sets for tests: the real file layout, made-up images a tiny net can learn.

    make_cifar_folder(tmp_path)          -> tmp_path, holding cifar-10-batches-py/
    make_cifar_archive(path)             -> md5 of the cifar-10-python.tar.gz written at path
"""

from __future__ import annotations

import hashlib
import pickle
import tarfile
import tempfile
from pathlib import Path

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def learnable_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """n images as CIFAR rows, uint8 (n, 3072), and their labels: each class has its own colour
    (mean per channel) and its own stripe pattern, under noise, so a tiny net learns it in 2 epochs."""
    labels = rng.permutation(np.arange(n) % 10)  # every class equally often (up to one)
    shade = np.linspace(40, 215, 10)
    colour = np.stack([shade[labels], shade[(labels * 3) % 10], shade[(labels * 7) % 10]], axis=1)  # (n, 3)
    rows = np.arange(32)[:, None] * np.ones(32)  # (32, 32): h at pixel (h, w)
    stripes = 20 * np.sin(rows[None] * (labels[:, None, None] + 1) * np.pi / 16)  # (n, 32, 32)
    images = colour[:, :, None, None] + stripes[:, None] + rng.normal(0, 20, (n, 3, 32, 32))
    return np.clip(images, 0, 255).astype(np.uint8).reshape(n, 3072), labels.tolist()


def write_batch(path: Path, data: np.ndarray, labels: list[int]) -> None:
    """One batch file in the official layout (b'batch_label', b'labels', b'data', b'filenames')."""
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": path.name.encode(), b"labels": labels, b"data": data,
                     b"filenames": [f"{i}.png".encode() for i in range(len(labels))]}, f)


def write_meta(path: Path, names: list[str] = CLASSES) -> None:
    with open(path, "wb") as f:
        pickle.dump({b"label_names": [name.encode() for name in names], b"num_cases_per_batch": 10000,
                     b"num_vis": 3072}, f)


def make_cifar_folder(root, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """Write root/cifar-10-batches-py/: data_batch_1..5 splitting n_train images, test_batch
    with n_test, and batches.meta. Returns root (what CIFAR10(root) takes)."""
    root = Path(root)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    data, labels = learnable_images(n_train, rng)
    for i, part in enumerate(np.array_split(np.arange(n_train), 5)):
        write_batch(folder / f"data_batch_{i + 1}", data[part], [labels[j] for j in part])
    write_batch(folder / "test_batch", *learnable_images(n_test, rng))
    write_meta(folder / "batches.meta")
    return root


def make_cifar_archive(path, n_train: int = 50, n_test: int = 20, seed: int = 0) -> str:
    """Write a cifar-10-python.tar.gz of a fixture folder at path; returns the archive's md5."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as staging:
        folder = make_cifar_folder(staging, n_train, n_test, seed) / "cifar-10-batches-py"
        with tarfile.open(path, "w:gz") as tar:
            tar.add(folder, arcname="cifar-10-batches-py")
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
