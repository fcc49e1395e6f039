"""Small CIFAR-format data sets for tests: the real file layout, made-up learnable images."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def learnable_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """n images of shape (3072,) uint8 whose colour gives away the class, plus noise."""
    labels = rng.integers(0, 10, n)
    class_colour = np.linspace(40, 215, 10)  # each class its own brightness per channel
    base = np.stack([class_colour[labels], class_colour[(labels * 3) % 10], class_colour[(labels * 7) % 10]], 1)
    images = base[:, :, None] + rng.normal(0, 25, (n, 3, 1024))
    return np.clip(images, 0, 255).astype(np.uint8).reshape(n, 3072), labels.tolist()


def write_batch(path: Path, data: np.ndarray, labels: list[int]) -> None:
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": path.name.encode(), b"labels": labels, b"data": data,
                     b"filenames": [f"{i}.png".encode() for i in range(len(labels))]}, f)


def make_cifar_folder(root, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """Write root/cifar-10-batches-py/ (5 training batches, a test batch, batches.meta); returns root."""
    root = Path(root)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    data, labels = learnable_images(n_train, rng)
    for i, part in enumerate(np.array_split(np.arange(n_train), 5)):
        write_batch(folder / f"data_batch_{i + 1}", data[part], [labels[j] for j in part])
    write_batch(folder / "test_batch", *learnable_images(n_test, rng))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in CLASSES], b"num_cases_per_batch": 10000}, f)
    return root


def make_cifar_archive(path, n_train: int = 50, n_test: int = 20, seed: int = 0) -> str:
    """Write a cifar-10-python.tar.gz holding a fixture folder; returns its md5."""
    path = Path(path)
    staging = path.parent / "staging"
    make_cifar_folder(staging, n_train, n_test, seed)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(staging / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    path.write_bytes(buffer.getvalue())
    return hashlib.md5(buffer.getvalue()).hexdigest()
