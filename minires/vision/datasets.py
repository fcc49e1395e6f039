"""torchvision.datasets in minires: CIFAR10, CIFAR100, MNIST, FashionMNIST and ImageFolder.

Each item is what torchvision returns, a PIL image and an int label, with transform applied to the
image and target_transform to the label:

    train = datasets.CIFAR10("./data", train=True, download=True, transform=transforms.ToTensor())
    image, label = train[0]            # without a transform: a PIL RGB 32x32 image, and 6 (a frog)

The files sit where torchvision puts them, so a folder torchvision downloaded is found and used:

    root/cifar-10-batches-py/   data_batch_1..5, test_batch, batches.meta       CIFAR10
    root/cifar-100-python/      train, test, meta                               CIFAR100
    root/MNIST/raw/             train-images-idx3-ubyte, train-labels-idx1-ubyte,
                                t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte  MNIST (plain or .gz)
    root/FashionMNIST/raw/      the same four names                             FashionMNIST
    root/<class>/<any depth>/<image file>                                       ImageFolder

The CIFAR folders are read, checked and downloaded by minires.data.cifar (the batch pipeline's
reader); this module only turns its arrays into torchvision's shape. Note the layouts differ:
here `.data` is (N, 32, 32, 3) HWC, as torchvision's, while minires.data.CIFAR10.data is
(N, 3, 32, 32). Downloads are md5-checked; an error names the file and what is wrong with it.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from .. import from_numpy
from ..data import cifar
from ..utils.data import Dataset

__all__ = ["CIFAR10", "CIFAR100", "IMG_EXTENSIONS", "MNIST", "DatasetFolder", "FashionMNIST", "ImageFolder",
           "VisionDataset", "default_loader", "pil_loader"]


class VisionDataset(Dataset):
    """What the datasets share: root, transform (applied to the image), target_transform (to the label)."""

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        self.root = os.fspath(root) if isinstance(root, os.PathLike) else root
        self.transform, self.target_transform = transform, target_transform

    def _transformed(self, image: Any, target: Any) -> tuple[Any, Any]:
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Root location: {self.root}"]
        lines += ["    " + line for line in self.extra_repr().splitlines()]
        for name in ("transform", "target_transform"):
            if getattr(self, name) is not None:
                lines.append(f"    {name}: {getattr(self, name)!r}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- CIFAR


class CIFAR10(VisionDataset):
    """CIFAR-10 as torchvision reads it: root/cifar-10-batches-py/, item i -> (PIL RGB 32x32, int).

    root:     the folder that holds cifar-10-batches-py/        train: the 50,000 or the 10,000 test images
    transform, target_transform: applied to the PIL image and to the int label of each item
    download: fetch the official archive into root (md5-checked, extracted atomically) if the folder
              is missing or damaged
    check_content (minires only, keyword): the pixels and labels must be the official ones (sha256, as
              minires.data.CIFAR10); False checks the structure only, for CIFAR-format folders of other images

    data: uint8 (N, 32, 32, 3)    targets: list of N ints    classes: the names    class_to_idx: name -> int
    """

    base_folder = cifar.FOLDER
    url, filename, tgz_md5 = cifar.CIFAR10.url, cifar.CIFAR10.filename, cifar.CIFAR10.md5
    _files: type[cifar.CIFAR10] = cifar.CIFAR10  # reads, checks and downloads the folder

    def __init__(self, root: str | os.PathLike, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False, *,
                 check_content: bool = True) -> None:
        super().__init__(root, transform, target_transform)
        self.train = train
        # the reader downloads from its class's url: hand it this class's, so CIFAR10.url = a mirror works
        files_class = type(self._files.__name__, (self._files,),
                           {"url": self.url, "md5": self.tgz_md5, "filename": self.filename})
        files = files_class(root, train=train, download=download, check_content=check_content)
        self.data = files.data.transpose(0, 2, 3, 1)  # (N, 3, 32, 32) -> (N, 32, 32, 3): a view, as torchvision's
        self.targets = files.targets.tolist()
        self.classes = files.classes
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self._transformed(Image.fromarray(self.data[index]), self.targets[index])

    def __len__(self) -> int:
        return len(self.data)

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"


class _CIFAR100Files(cifar.CIFAR10):
    """minires.data.cifar's reader, pointed at cifar-100-python/ and its 100 fine labels. No official
    digests are recorded for it, so its content is checked by structure only (the download by md5)."""

    name, folder = "CIFAR100", "cifar-100-python"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    md5, filename = "eb9058c3a382ffc7106e4002c42a8d85", "cifar-100-python.tar.gz"
    train_files, test_files, meta_file = ["train"], ["test"], "meta"
    label_key, meta_key, num_classes = b"fine_labels", b"fine_label_names", 100
    content_sha256 = None


class CIFAR100(CIFAR10):
    """CIFAR-100 as torchvision reads it: root/cifar-100-python/{train,test,meta}, item i -> (PIL RGB 32x32,
    int fine label in [0, 100)); classes from meta's fine_label_names. Otherwise as CIFAR10 (check_content
    has no effect: the structure is checked, and a download's md5)."""

    base_folder = _CIFAR100Files.folder
    url, filename, tgz_md5 = _CIFAR100Files.url, _CIFAR100Files.filename, _CIFAR100Files.md5
    _files = _CIFAR100Files


# ---------------------------------------------------------------------------------------------- MNIST

IDX_IMAGES, IDX_LABELS = 2051, 2049  # magic numbers: 0x0000 08 03 (uint8, 3 dims) and 0x0000 08 01 (uint8, 1 dim)


def read_idx(path: Path, magic: int, who: str = "MNIST") -> np.ndarray:
    """An IDX file (plain or .gz) -> its uint8 array, every header field checked.

    Layout (big-endian): int32 magic = 0x0000 08 <ndim>  (08: unsigned bytes), then ndim int32 sizes,
    then the bytes, row-major:   images (2051): n, rows, cols, pixels     labels (2049): n, labels
    """
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{who}: {path} cannot be read ({type(e).__name__}: {e})") from e
    ndim = magic & 0xFF
    expected = f"expected {magic} ({'images' if magic == IDX_IMAGES else 'labels'}: uint8, {ndim} dimension(s))"
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{who}: {path} is not an IDX file: {len(raw)} bytes, shorter than its header; {expected}")
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise ValueError(f"{who}: {path} is not the right IDX file: magic number {got}, {expected}")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    body = memoryview(raw)[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)):
        raise ValueError(f"{who}: {path} is damaged: its header says {' x '.join(map(str, shape))} = "
                         f"{int(np.prod(shape))} bytes of data, the file holds {len(body)}")
    return np.frombuffer(body, np.uint8).reshape(shape)


class MNIST(VisionDataset):
    """MNIST as torchvision (>= 0.10) reads it: root/MNIST/raw/ IDX files, item i -> (PIL 'L' 28x28, int).

    root:     the folder that holds MNIST/raw/ (for a subclass, <ClassName>/raw/, as torchvision)
    train:    True: train-images-idx3-ubyte and train-labels-idx1-ubyte (60,000); False: t10k-... (10,000)
    download: fetch the four .gz files (each md5-checked) into raw/ and unpack them, if any is missing or damaged
    Each file may be plain or .gz (the plain one is read when both are there). A file already on disk is
    checked by structure (the IDX header, its sizes, labels in range): the md5s are those of the .gz files.

    data: uint8 Tensor (N, 28, 28)    targets: int64 Tensor (N,)    classes    class_to_idx
    """

    mirrors: ClassVar[list[str]] = ["https://ossci-datasets.s3.amazonaws.com/mnist/"]
    resources: ClassVar[list[tuple[str, str]]] = [  # torchvision's: (file name, md5 of the .gz)
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes: ClassVar[list[str]] = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False) -> None:
        super().__init__(root, transform, target_transform)
        self.train = train
        name = type(self).__name__
        point_root = f"point root at the folder that holds {name}/raw/ (torchvision's layout)"
        try:
            self._read()
            return
        except (OSError, ValueError) as fault:
            damage = None if isinstance(fault, FileNotFoundError) else fault
            if not download:
                if damage is None:
                    url = self.mirrors[0] + self._missing  # the .gz of the file that is missing
                    raise FileNotFoundError(f"{fault}; pass download=True to fetch it from {url}, "
                                            f"or {point_root}") from None
                raise type(fault)(f"{fault}; pass download=True to fetch a fresh copy, or {point_root}") from None
        what = f"no complete {name}/raw/ in {self.root}" if damage is None else str(damage).removeprefix(f"{name}: ")
        if damage is not None:
            print(f"{name}: {what}; fetching a fresh copy")
        try:
            self.download()
        except (OSError, ValueError) as e:
            raise type(e)(f"{name}: {what}, and the download failed: {str(e).removeprefix(f'{name}.download: ')}; "
                          f"to use a local copy, {point_root}") from e
        self._read()

    @property
    def raw_folder(self) -> Path:
        return Path(self.root) / type(self).__name__ / "raw"

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.classes)}

    def _file(self, stem: str) -> Path:
        """raw/<stem>, or raw/<stem>.gz when only that is there."""
        plain = self.raw_folder / stem
        packed = plain.with_name(stem + ".gz")
        if plain.is_file() or not packed.is_file():
            if not plain.exists():
                self._missing = packed.name
                raise FileNotFoundError(f"{type(self).__name__}: missing file {plain} (or {packed.name})")
            if not plain.is_file():
                raise IsADirectoryError(f"{type(self).__name__}: {plain} is a folder, not a file")
            return plain
        return packed

    def _read(self) -> None:
        who, prefix = type(self).__name__, "train" if self.train else "t10k"
        images_path, labels_path = self._file(f"{prefix}-images-idx3-ubyte"), self._file(f"{prefix}-labels-idx1-ubyte")
        images, labels = read_idx(images_path, IDX_IMAGES, who), read_idx(labels_path, IDX_LABELS, who)
        if len(images) != len(labels):
            raise ValueError(f"{who}: {images_path} holds {len(images)} images but {labels_path} "
                             f"{len(labels)} labels; one of them is damaged or from another set")
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(f"{who}: {labels_path}: labels must lie in [0, {len(self.classes)}), "
                             f"got values up to {labels.max()}")
        self.data = from_numpy(images.copy())  # (N, 28, 28) uint8, writable (frombuffer's is read-only)
        self.targets = from_numpy(labels.astype(np.int64))

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image = Image.fromarray(self.data.numpy()[index], mode="L")
        return self._transformed(image, int(self.targets.numpy()[index]))

    def __len__(self) -> int:
        return len(self.data)

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"

    def download(self) -> None:
        """Fetch each of resources from the first mirror that answers, check its md5, and unpack it.

        Each file is written under a temporary name in raw/ and renamed into place only once its md5
        and its IDX structure are right, so an interrupted download leaves no half file under a real name.
        The .gz is kept next to the plain file, as torchvision keeps it."""
        who = f"{type(self).__name__}.download"
        raw = self.raw_folder
        raw.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=raw, prefix=".download-") as temp:
            for filename, md5 in self.resources:
                packed = Path(temp) / filename
                failures, wrong_md5 = [], False
                for mirror in self.mirrors:
                    url = mirror + filename
                    try:
                        print(f"{type(self).__name__}: downloading {url} into {raw}")
                        got = cifar.fetch(url, packed, who)
                    except OSError as e:
                        failures.append(str(e).removeprefix(f"{who}: "))
                        continue
                    if got != md5:
                        failures.append(f"the file from {url} has md5 {got}, expected {md5}")
                        wrong_md5 = True
                        continue
                    break
                else:
                    raise (ValueError if wrong_md5 else OSError)(f"{who}: " + "; ".join(failures))
                magic = IDX_IMAGES if "-images-" in filename else IDX_LABELS
                plain = Path(temp) / filename.removesuffix(".gz")
                read_idx(packed, magic, who)  # unpacks, and checks the structure too
                plain.write_bytes(gzip.decompress(packed.read_bytes()))
                os.replace(plain, raw / plain.name)
                os.replace(packed, raw / filename)


class FashionMNIST(MNIST):
    """Fashion-MNIST (Xiao et al., 2017): MNIST's format and sizes, ten kinds of clothing, root/FashionMNIST/raw/."""

    mirrors: ClassVar[list[str]] = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources: ClassVar[list[tuple[str, str]]] = [  # torchvision's
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes: ClassVar[list[str]] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


# ---------------------------------------------------------------------------------------------- folders

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision's


def pil_loader(path: str) -> Image.Image:
    """The image at path, as RGB (torchvision's default loader)."""
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


default_loader = pil_loader


def has_file_allowed_extension(filename: str, extensions: str | tuple[str, ...]) -> bool:
    return filename.lower().endswith(extensions if isinstance(extensions, str) else tuple(extensions))


class DatasetFolder(VisionDataset):
    """Samples laid out as root/<class>/**/<file>: class c is the c-th subfolder name in sorted order.

    loader: path -> sample        extensions: the file endings to keep (case-insensitive)
    is_valid_file: path -> bool, instead of extensions (give one of the two)
    allow_empty: True lets a class folder hold no valid file; False (torchvision's default) raises

    classes: sorted folder names   class_to_idx: name -> int   samples: [(path, class index)]   targets
    """

    def __init__(self, root: str | os.PathLike, loader: Callable[[str], Any],
                 extensions: tuple[str, ...] | None = None, transform: Callable | None = None,
                 target_transform: Callable | None = None, is_valid_file: Callable[[str], bool] | None = None,
                 allow_empty: bool = False) -> None:
        super().__init__(root, transform, target_transform)
        if (extensions is None) == (is_valid_file is None):
            raise ValueError("Both extensions and is_valid_file cannot be None or not None at the same time")
        self.classes, self.class_to_idx = self.find_classes(self.root)
        self.samples = self.make_dataset(self.root, self.class_to_idx, extensions, is_valid_file, allow_empty)
        self.loader, self.extensions = loader, extensions
        self.targets = [target for _, target in self.samples]

    @staticmethod
    def find_classes(directory: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"Couldn't find any class folder in {directory}: it is not a folder")
        classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
        if not classes:
            raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
        return classes, {name: i for i, name in enumerate(classes)}

    @staticmethod
    def make_dataset(directory: str | os.PathLike, class_to_idx: dict[str, int],
                     extensions: tuple[str, ...] | None = None, is_valid_file: Callable[[str], bool] | None = None,
                     allow_empty: bool = False) -> list[tuple[str, int]]:
        """[(path, class index)], class by class in sorted order, files sorted within each folder."""
        if is_valid_file is None:
            def is_valid_file(path: str) -> bool:
                return has_file_allowed_extension(path, extensions)
        samples, empty = [], []
        for name in sorted(class_to_idx, key=class_to_idx.get):
            before = len(samples)
            for folder, _, files in sorted(os.walk(os.path.join(directory, name), followlinks=True)):
                samples += [(path, class_to_idx[name]) for path in (os.path.join(folder, f) for f in sorted(files))
                            if is_valid_file(path)]
            if len(samples) == before:
                empty.append(name)
        if empty and not allow_empty:
            message = f"Found no valid file for the classes {', '.join(sorted(empty))}. "
            if extensions is not None:
                message += f"Supported extensions are: {extensions if isinstance(extensions, str) else ', '.join(extensions)}"
            raise FileNotFoundError(message)
        return samples

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path, target = self.samples[index]
        return self._transformed(self.loader(path), target)

    def __len__(self) -> int:
        return len(self.samples)


class ImageFolder(DatasetFolder):
    """Images laid out as root/<class>/**/<image>, item i -> (PIL RGB image, class index), as torchvision.

        root/cat/1.png, root/cat/more/2.jpg, root/dog/3.png  ->  classes ['cat', 'dog'], samples
        [('root/cat/1.png', 0), ('root/cat/more/2.jpg', 0), ('root/dog/3.png', 1)]

    Files ending in one of IMG_EXTENSIONS count, unless is_valid_file(path) decides instead. imgs is samples.
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 target_transform: Callable | None = None, loader: Callable[[str], Any] = default_loader,
                 is_valid_file: Callable[[str], bool] | None = None, allow_empty: bool = False) -> None:
        super().__init__(root, loader, IMG_EXTENSIONS if is_valid_file is None else None, transform=transform,
                         target_transform=target_transform, is_valid_file=is_valid_file, allow_empty=allow_empty)
        self.imgs = self.samples
