"""minires.save and minires.load, in PyTorch's own file format, without importing torch.

    mr.save(model.state_dict(), "resnet20.pt")     # torch.load("resnet20.pt") reads it too
    model.load_state_dict(mr.load("resnet20.pt"))  # and a file torch.save wrote reads here

What a .pt file is. torch.save pickles the object, but each tensor's numbers are kept out
of the pickle: a tensor pickles as a call

    torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks)

and its storage (the flat buffer of numbers under it, shared by views) as a *persistent id*,
a tuple ('storage', torch.FloatStorage, key, location, numel) that the loader turns into
the buffer. Two containers hold the pickle and the buffers:

- the zip archive (PyTorch >= 1.6): entries `<name>/data.pkl` (the pickle, protocol 2),
  `<name>/data/<key>` (each storage's raw bytes), `<name>/byteorder` ('little'), and
  `<name>/version` ('3'); entries are stored uncompressed, their data 64-byte aligned.
- the legacy stream (before 1.6; many published CIFAR and ImageNet checkpoints): five
  things one after another in one file: pickle(magic number), pickle(protocol 1001),
  pickle(system info), pickle(the object), pickle(the list of storage keys), then per key
  an 8-byte little-endian element count and the raw bytes.

Loading runs no code from the file. A pickle can name any global (`os.system`) and call
it (the REDUCE opcode); pickle.Unpickler looks every name up through find_class, so
overriding find_class with an allow-list (the standard safe pattern, and what torch's
weights_only=True does) is enough: a name outside the short list below raises
UnsafeGlobalError before anything is called. The allowed names map to minires's own small
functions, never to torch's. As a second check, the loaded object must be made only of
dicts, lists, tuples, Tensors, numbers, strings and None.

A file that cannot be read raises LoadError, one type for every kind of trouble: a file
cut short or corrupted, an empty file, a text file, a plain pickle, an .npz, a zip of
something else. Its message names the file and says what is wrong. Nothing is loaded
wrong silently: every entry of a zip-format file carries a CRC-32, which zipfile checks as
the entry is read, so a damaged byte is an error rather than a changed weight. (The
legacy format has no checksums; a byte flipped among its numbers cannot be noticed.)
A file that cannot be opened at all (none there, a folder) raises OSError, as open() does.

minires.save writes a path atomically (write_atomically: a temporary file, then a rename),
so a save that is interrupted or killed leaves the previous file as it was.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import secrets
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np

from .tensor import Tensor

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there, which protects it as well
    fcntl = None

__all__ = ["LoadError", "UnsafeGlobalError", "load", "save", "write_atomically"]

# torch's storage types and the numpy dtype of their elements. bfloat16 has no numpy dtype:
# it is float32 with the low 16 bits of the mantissa dropped, so it is loaded as float32.
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_STORAGE_NAMES = {np.dtype(d): name for name, d in _STORAGE_DTYPES.items() if d != "bfloat16"}

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class LoadError(pickle.UnpicklingError, RuntimeError):
    """A file minires.load cannot read: damaged (truncated, corrupt) or not a torch.save file.

    The one type minires.load raises for a bad file; the message names the file and what is
    wrong. It is both exceptions torch.load raises for such files, pickle.UnpicklingError (a
    file weights_only=True refuses) and RuntimeError (a damaged zip), so an `except` written
    for torch.load catches it here too."""


class UnsafeGlobalError(LoadError):
    """A file whose pickle names a global outside minires.load's allow-list (a kind of LoadError)."""


class _StorageType:
    """What the global torch.FloatStorage (and the other storage types) loads as: a marker
    holding the element dtype. It is not callable, so a pickle cannot REDUCE it."""

    def __init__(self, name: str):
        self.name, self.dtype = name, _STORAGE_DTYPES[name]


# ------------------------------------------------------------------ loading: the allow-list
def _rebuild_tensor(storage: np.ndarray, storage_offset: int, size: tuple, stride: tuple, requires_grad: bool = False,
                    backward_hooks: Any = None, metadata: Any = None) -> Tensor:
    """torch._utils._rebuild_tensor_v2: the tensor that sees storage[offset + sum(i_k * stride_k)]
    at index (i_0, i_1, ...). Every number is checked first, so that no file can make the
    view reach outside its storage."""
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2: expected a storage, got {type(storage).__name__}")
    size, stride = tuple(size), tuple(stride)
    numbers = (storage_offset, *size, *stride)
    if len(size) != len(stride) or not all(type(n) is int and n >= 0 for n in numbers):
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2: bad layout offset={storage_offset}, size={size}, stride={stride}")
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))  # the furthest element read
    if 0 not in size and last >= storage.size:
        raise pickle.UnpicklingError(
            f"_rebuild_tensor_v2: size {size}, stride {stride} from offset {storage_offset} reaches element "
            f"{last} of a storage of {storage.size}"
        )
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[storage_offset:] if 0 not in size else storage[:0],
                                           shape=size, strides=[s * item for s in stride], writeable=False)
    tensor = Tensor(view)  # a view for now: a legacy file's numbers arrive after its pickle (see _copy_out)
    tensor._requires_grad = bool(requires_grad) and view.dtype.kind == "f"
    return tensor


def _rebuild_tensor_v1(storage: np.ndarray, storage_offset: int, size: tuple, stride: tuple) -> Tensor:
    """torch._utils._rebuild_tensor (PyTorch 0.3): the same without requires_grad."""
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Tensor, requires_grad: bool, backward_hooks: Any = None) -> Tensor:
    """torch._utils._rebuild_parameter (an nn.Parameter): a minires Tensor that requires grad.
    (minires.nn.Parameter lives above this layer; load_state_dict copies into the model's own.)"""
    if not isinstance(data, Tensor):
        raise pickle.UnpicklingError(f"_rebuild_parameter: expected a tensor, got {type(data).__name__}")
    data._requires_grad = bool(requires_grad) and data.dtype.kind == "f"
    return data


def _size(dims: tuple = ()) -> tuple:
    """torch.Size (in some older files): a plain tuple."""
    return tuple(dims)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor_v1,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "Size"): _size,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _SafeUnpickler(pickle._Unpickler):
    """An unpickler whose find_class answers only from _ALLOWED, whose persistent_load hands
    each storage id to the format's reader, and whose BUILD sets state only on an OrderedDict.

    BUILD (obj.__dict__.update(state), or setattr for slot state) is how pickle restores an
    object's attributes. torch's state_dict() is an OrderedDict with a `_metadata` attribute,
    so that one is allowed; on anything else (an allowed function, a storage-type marker, a
    loaded Tensor) a file could rewrite attributes that later loads or the caller rely on.
    That needs pickle's pure-Python unpickler, whose opcode table can be changed; the C one's
    cannot. (The pickle holds only the structure: the numbers are read as raw storages.)
    """

    dispatch: ClassVar[dict] = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: BinaryIO, filename: str, load_storage: Callable[[tuple], np.ndarray] | None = None):
        super().__init__(file)
        self.filename, self.load_storage = filename, load_storage

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            allowed = ", ".join(sorted({f"{m}.{n}" for m, n in _ALLOWED if not n.endswith("Storage")})) + ", torch.*Storage"
            raise UnsafeGlobalError(
                f"minires.load: {self.filename} names the global '{module}.{name}', which is not allowed: "
                f"loading never runs code from a file (allowed: {allowed})"
            )
        found = _ALLOWED[module, name]
        return _StorageType(found.name) if isinstance(found, _StorageType) else found  # a fresh marker each time

    def load_build(self) -> None:
        state, obj = self.stack[-1], self.stack[-2]
        if type(obj) is not OrderedDict or not isinstance(state, dict) or not set(state) <= {"_metadata"}:
            raise LoadError(
                f"minires.load: {self.filename} sets the attributes {_describe_state(state)} of a "
                f"{type(obj).__name__}; only a state_dict's _metadata may be set"
            )
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = load_build

    def persistent_load(self, pid: Any) -> np.ndarray:
        if self.load_storage is None or not (isinstance(pid, tuple) and pid and pid[0] == "storage"
                                             and isinstance(pid[1], _StorageType)):
            raise LoadError(f"minires.load: {self.filename} has an unknown persistent id {pid!r}")
        return self.load_storage(pid)


def _describe_state(state: Any) -> str:
    names = sorted(map(str, state)) if isinstance(state, dict) else [type(state).__name__]
    return ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")


def _storage_from_bytes(data: bytes, storage_type: _StorageType, byteorder: str) -> np.ndarray:
    """The flat array of a storage's raw bytes (a writeable copy). bfloat16 becomes float32:
    its 16 bits are the upper half of a float32, so shift them up and reinterpret."""
    order = "<" if byteorder == "little" else ">"
    if storage_type.dtype == "bfloat16":
        upper = np.frombuffer(data, dtype=order + "u2").astype(np.uint32)
        return (upper << 16).view(np.float32)
    dtype = np.dtype(storage_type.dtype).newbyteorder(order)
    return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="))


def _element_size(storage_type: _StorageType) -> int:
    return 2 if storage_type.dtype == "bfloat16" else np.dtype(storage_type.dtype).itemsize


def _read(data: bytes, filename: str) -> tuple[Any, list[str]]:
    """(the object, the saved location of each storage), by the container the bytes hold."""
    if not data:
        raise _damaged(filename, "the file is empty")
    if data.startswith(b"PK"):  # a zip archive (PyTorch >= 1.6): its first local header
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            raise _damaged(filename, f"{len(data)} bytes that start as a zip archive, but the table of contents "
                                     f"that ends every complete zip file is missing or unreadable") from None
        with zf:
            return _load_zip(zf, filename)
    return _load_legacy(io.BytesIO(data), filename)


def _load_zip(zf: zipfile.ZipFile, filename: str) -> tuple[Any, list[str]]:
    """(the object, the saved location of each storage) from a zip-format file. Every
    zf.read checks the entry's CRC-32, so no damaged byte is loaded."""
    names = zf.namelist()
    pkl = next((n for n in names if n.endswith("/data.pkl")), None)
    if pkl is None:
        hint = ("; an .npz file? np.load reads those, and minires.checkpoint.load_checkpoint minires's "
                "older .npz checkpoints" if names and all(n.endswith(".npy") for n in names) else "")
        raise _not_torch(filename, f"a zip archive of {_some(names) or 'nothing'}, with no <name>/data.pkl{hint}")
    prefix = pkl[: -len("data.pkl")]
    byteorder = zf.read(prefix + "byteorder").decode() if prefix + "byteorder" in names else "little"
    if byteorder not in ("little", "big"):
        raise _damaged(filename, f"its byteorder entry says {byteorder[:20]!r}, not 'little' or 'big'")
    size = sum(info.file_size for info in zf.infolist())
    storages: dict[str, np.ndarray] = {}
    locations: list[str] = []

    def load_storage(pid: tuple) -> np.ndarray:
        _, storage_type, key, location, numel = pid
        _check_storage(filename, key, location, numel, storage_type, size)
        if key not in storages:
            entry = f"{prefix}data/{key}"
            if entry not in names:
                raise _damaged(filename, f"the pickle names storage {key!r}, but there is no entry {entry!r}")
            data = zf.read(entry)
            if len(data) < numel * _element_size(storage_type):
                raise _damaged(filename, f"storage {key!r} holds {len(data)} bytes, fewer than its {numel} elements")
            storages[key] = _storage_from_bytes(data, storage_type, byteorder)[:numel]
            locations.append(location)
        return storages[key]

    return _SafeUnpickler(io.BytesIO(zf.read(pkl)), filename, load_storage).load(), locations


def _load_legacy(f: io.BytesIO, filename: str) -> tuple[Any, list[str]]:
    """(the object, the saved location of each storage) from a legacy-format stream."""
    size = len(f.getbuffer())
    magic = _first_pickle(f, filename)
    if type(magic) is not int or magic != _LEGACY_MAGIC:
        raise _not_torch(filename, f"it is {_describe_start(f.getvalue(), magic)}; a torch.save file is a zip archive, "
                                   f"or before PyTorch 1.6 a stream that starts with a pickled magic number")
    protocol = _SafeUnpickler(f, filename).load()
    if type(protocol) is not int or protocol != _LEGACY_PROTOCOL:
        raise _damaged(filename, f"legacy protocol {protocol!r}, expected {_LEGACY_PROTOCOL}")
    sys_info = _SafeUnpickler(f, filename).load()
    byteorder = "little" if not isinstance(sys_info, dict) or sys_info.get("little_endian", True) else "big"

    # The numbers come after the pickle, so each storage starts empty and is filled below;
    # the tensors built meanwhile are views into it.
    roots: dict[str, tuple[np.ndarray, _StorageType]] = {}
    locations: list[str] = []

    def load_storage(pid: tuple) -> np.ndarray:
        _, storage_type, key, location, numel, view = pid
        _check_storage(filename, key, location, numel, storage_type, size)
        if key not in roots:
            roots[key] = np.empty(numel, dtype=np.float32 if storage_type.dtype == "bfloat16" else storage_type.dtype), storage_type
            locations.append(location)
        root = roots[key][0]
        if view is None:
            return root
        _view_key, offset, view_numel = view  # a storage that is a slice of another (PyTorch < 0.4)
        return root[offset : offset + view_numel]

    obj = _SafeUnpickler(f, filename, load_storage).load()
    keys = _SafeUnpickler(f, filename).load()
    if not isinstance(keys, list):
        raise _damaged(filename, f"its list of storage keys is a {type(keys).__name__}")
    for key in keys:
        if key not in roots:
            raise _damaged(filename, f"it has data for storage {key!r}, which nothing uses")
        root, storage_type = roots[key]
        head = f.read(8)
        count = struct.unpack("<q", head)[0] if len(head) == 8 else -1
        data = f.read(max(count, 0) * _element_size(storage_type))
        if count != root.size or len(data) != count * _element_size(storage_type):
            raise _damaged(filename, f"storage {key!r} should hold {root.size} elements, and the file has "
                                     f"{len(data) // _element_size(storage_type)}")
        root[:] = _storage_from_bytes(data, storage_type, byteorder)
    return obj, locations


def _first_pickle(f: io.BytesIO, filename: str) -> Any:
    """The first pickle in f (a legacy file's magic number), or _NOT_A_PICKLE. A global
    outside the allow-list still raises UnsafeGlobalError, naming it."""
    try:
        return _SafeUnpickler(f, filename).load()
    except UnsafeGlobalError:
        raise
    except Exception:  # noqa: BLE001 (not a pickle at all: the caller says what the file seems to be)
        return _NOT_A_PICKLE


_NOT_A_PICKLE = object()


def _check_storage(filename: str, key: Any, location: Any, numel: Any, storage_type: _StorageType, size: int) -> None:
    """A storage id's parts are of the right types, and its numbers fit in the file (so no
    damaged count can make the loader allocate more memory than the file could fill)."""
    if not isinstance(key, str) or not isinstance(location, str):
        raise _damaged(filename, f"a storage id with key {key!r} and location {location!r}, which must be strings")
    if type(numel) is not int or not 0 <= numel * _element_size(storage_type) <= size:
        raise _damaged(filename, f"storage {key!r} claims {numel!r} elements, more than the file's {size} bytes hold")


def _damaged(filename: str, what: str) -> LoadError:
    return LoadError(f"minires.load: {filename} is damaged (truncated or corrupt: {what})")


def _not_torch(filename: str, what: str) -> LoadError:
    return LoadError(f"minires.load: {filename} is not a torch.save file ({what})")


def _reason(e: BaseException) -> str:
    text = str(e).strip() or "no details"
    return f"{type(e).__name__}: {text[:200]}"


def _some(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _describe_start(data: bytes, first: Any = _NOT_A_PICKLE) -> str:
    """What a file that is not PyTorch's seems to be, from its first bytes (and first pickle)."""
    if first is not _NOT_A_PICKLE:
        return f"a pickle of a {type(first).__name__}"
    if data.startswith(b"\x93NUMPY"):
        return "a single numpy array, saved with np.save"
    head = data[:40]
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return f"text starting {head.decode()!r}"
    return f"bytes starting {head[:8]!r}"


def _copy_out(obj: Any, filename: str, path: str = "") -> Any:
    """Check that obj is made only of containers, Tensors and plain values, and give each
    Tensor its own contiguous copy of its values (torch.load keeps views sharing memory;
    minires copies, so no loaded tensor writes into another)."""
    if isinstance(obj, Tensor):
        obj.array = np.array(obj.array)
        return obj
    if isinstance(obj, dict):
        for key, value in obj.items():
            _copy_out(value, filename, f"{path}[{key!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _copy_out(value, filename, f"{path}[{i}]")
    elif not (obj is None or isinstance(obj, (bool, int, float, complex, str, bytes))):
        raise LoadError(
            f"minires.load: {filename} holds a {type(obj).__name__} at {path or 'the top'}; minires loads only "
            f"dicts, lists, tuples, tensors, numbers, strings and None"
        )
    return obj


def _move(obj: Any, device: str) -> Any:
    """obj with every Tensor moved to device (Tensor.to), containers rebuilt in the same types."""
    if isinstance(obj, Tensor):
        moved = obj.to(device)
        moved._requires_grad = obj.requires_grad
        return moved
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, OrderedDict) else {}
        for key, value in obj.items():
            out[key] = _move(value, device)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(value, device) for value in obj)
    return obj


def _target_device(map_location: Any, locations: list[str]) -> str:
    """Where the loaded tensors go. None means the CPU: minires does not put them back on
    the GPU they were saved from (torch does, and fails where there is none)."""
    if map_location is None:
        return "cpu"
    if isinstance(map_location, dict):  # {saved location: new location}, as in torch
        targets = {str(map_location.get(loc, "cpu")) for loc in locations} or {"cpu"}
        if len(targets) > 1:
            raise NotImplementedError(f"minires.load: map_location sends storages to several devices {sorted(targets)}")
        return targets.pop()
    if isinstance(map_location, str):  # also minires.device
        return str(map_location)
    raise TypeError(
        f"minires.load: map_location must be None, a device ('cpu', 'cuda', 'cuda:0', mr.device) or a dict, "
        f"got {type(map_location).__name__} (a callable map_location needs torch's storages, which minires has not)"
    )


def load(f: str | os.PathLike | BinaryIO, map_location: Any = None, weights_only: bool | None = True) -> Any:
    """Read a file written by torch.save or minires.save, in either of PyTorch's formats.

    f: a path or a binary file object. map_location: None or 'cpu' (everything on the CPU,
    even tensors saved on a GPU), 'cuda'/'cuda:N'/mr.device, or a dict {saved: new}.
    Returns the saved object: dicts (OrderedDicts stay OrderedDicts), lists, tuples,
    numbers, strings, and Tensors. Tensors keep their dtype (float32, float64, float16,
    int64, int32, int16, int8, uint8, bool), except bfloat16, which numpy lacks and which
    loads as float32 (exactly: every bfloat16 is a float32). nn.Parameters load as Tensors
    that require grad. Each tensor owns its values, even if it was a view in the file.

    weights_only must stay True: loading never runs code from the file, and a file that
    names any global outside a short allow-list raises UnsafeGlobalError naming it.

    A file that cannot be read (damaged, truncated, or not a torch.save file) raises
    LoadError, naming the file and what is wrong; OSError if there is no file to open.
    """
    if weights_only is False:
        raise NotImplementedError(
            "minires.load: weights_only=False would unpickle arbitrary objects, running whatever code the file "
            "names; minires never does. Save state_dicts (tensors, numbers, strings in dicts and lists) instead"
        )
    if isinstance(f, (str, os.PathLike)):
        filename, data = str(f), Path(f).read_bytes()  # OSError if there is no such file
    else:
        filename, data = str(getattr(f, "name", "the file object")), f.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"minires.load: {filename} was opened in text mode; open it with 'rb'")
    try:
        obj, locations = _read(bytes(data), filename)
        obj = _copy_out(obj, filename)
    except (LoadError, MemoryError):
        raise
    except Exception as e:  # whatever else damaged bytes provoke in zipfile, pickle or a rebuild function
        raise _damaged(filename, _reason(e)) from e
    device = _target_device(map_location, locations)
    return obj if device == "cpu" else _move(obj, device)


# ------------------------------------------------------------------ saving
class _PickleWriter:
    """Writes the pickle of a state (protocol 2) opcode by opcode, the way torch.save's
    pickler would write it, so that every byte of a minires file is accounted for here.
    Each Tensor becomes a _rebuild_tensor_v2 call on a storage of its own, added to storages."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.storages: list[np.ndarray] = []
        self.out.write(pickle.PROTO + b"\x02")

    def global_(self, module: str, name: str) -> None:
        self.out.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())

    def save(self, obj: Any, path: str) -> None:
        w = self.out.write
        if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":  # numpy scalars as Python numbers
            obj = obj.item()
        if obj is None:
            w(pickle.NONE)
        elif obj is True or obj is False:
            w(pickle.NEWTRUE if obj else pickle.NEWFALSE)
        elif isinstance(obj, int):
            if -(2**31) <= obj < 2**31:
                w(pickle.BININT + struct.pack("<i", obj))
            else:
                encoded = pickle.encode_long(obj)
                w(pickle.LONG1 + bytes([len(encoded)]) + encoded)
        elif isinstance(obj, float):
            w(pickle.BINFLOAT + struct.pack(">d", obj))
        elif isinstance(obj, str):
            encoded = obj.encode("utf-8", "surrogatepass")
            w(pickle.BINUNICODE + struct.pack("<I", len(encoded)) + encoded)
        elif isinstance(obj, Tensor):
            self.save_tensor(obj, path)
        elif isinstance(obj, dict):
            if isinstance(obj, OrderedDict):  # OrderedDict() then its items, as pickle writes it
                self.global_("collections", "OrderedDict")
                w(pickle.EMPTY_TUPLE + pickle.REDUCE)
            else:
                w(pickle.EMPTY_DICT)
            if obj:
                w(pickle.MARK)
                for key, value in obj.items():
                    if not (key is None or isinstance(key, (str, int, float, bool))):
                        raise TypeError(f"minires.save: dict keys must be strings or numbers, got {type(key).__name__} at {path or 'the top'}")
                    self.save(key, path)
                    self.save(value, f"{path}[{key!r}]")
                w(pickle.SETITEMS)
        elif isinstance(obj, list):
            w(pickle.EMPTY_LIST)
            if obj:
                w(pickle.MARK)
                for i, value in enumerate(obj):
                    self.save(value, f"{path}[{i}]")
                w(pickle.APPENDS)
        elif isinstance(obj, tuple):
            w(pickle.MARK)
            for i, value in enumerate(obj):
                self.save(value, f"{path}[{i}]")
            w(pickle.TUPLE)
        else:
            raise TypeError(
                f"minires.save: cannot save a {type(obj).__name__} (at {path or 'the top'}); minires saves tensors, "
                f"and dicts, lists and tuples of them, numbers, strings and None"
            )

    def save_tensor(self, t: Tensor, path: str) -> None:
        """torch._utils._rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', numel),
        0, size, stride, requires_grad, OrderedDict()) with the values in C order."""
        array = np.asarray(t.numpy(), order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        if array.dtype not in _STORAGE_NAMES:
            raise TypeError(f"minires.save: cannot save a tensor of dtype {array.dtype} (at {path or 'the top'})")
        key = str(len(self.storages))
        self.storages.append(array)
        stride = tuple(s // array.itemsize for s in array.strides)
        w = self.out.write
        self.global_("torch._utils", "_rebuild_tensor_v2")
        w(pickle.MARK)
        w(pickle.MARK)  # the persistent id: a tuple that BINPERSID hands to the loader's persistent_load
        self.save("storage", path)
        self.global_("torch", _STORAGE_NAMES[array.dtype])
        for value in (key, "cpu", array.size):
            self.save(value, path)
        w(pickle.TUPLE + pickle.BINPERSID)
        for value in (0, array.shape, stride, t.requires_grad):
            self.save(value, path)
        self.global_("collections", "OrderedDict")  # backward hooks: always none
        w(pickle.EMPTY_TUPLE + pickle.REDUCE)
        w(pickle.TUPLE + pickle.REDUCE)


def save(obj: Any, f: str | os.PathLike | BinaryIO) -> None:
    """Write obj in PyTorch's zip format, which torch.load(f, weights_only=True) reads.

    obj: Tensors, and dicts (OrderedDicts stay so), lists and tuples of them, numbers,
    strings and None; anything else raises TypeError naming its type and where it is.
    Each tensor is written with its own storage in C order, on the CPU ('cpu' location),
    whatever device it was on. f: a path, written atomically (a temporary file, then
    renamed over f), or a binary file object, written directly.
    """
    writer = _PickleWriter()
    writer.save(obj, "")
    writer.out.write(pickle.STOP)
    if isinstance(f, (str, os.PathLike)):
        write_atomically(Path(f), lambda out: _write_zip(out, writer))
    else:
        _write_zip(f, writer)


def _write_zip(f: BinaryIO, writer: _PickleWriter) -> None:
    """The archive torch writes: data.pkl first, then byteorder, each storage (its data
    64-byte aligned, as torch aligns it for memory-mapping) and the version."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo("archive/" + name, date_time=(1980, 1, 1, 0, 0, 0))
            header = 30 + len(info.filename) + 4  # the local header, its name and our extra field's header
            padding = -(zf.fp.tell() + header) % 64
            info.extra = b"FB" + struct.pack("<H", padding) + b"Z" * padding  # torch's padding field
            zf.writestr(info, data)

        add("data.pkl", writer.out.getvalue())
        add("byteorder", b"little")
        for key, array in enumerate(writer.storages):
            add(f"data/{key}", array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
        add("version", b"3\n")


# ------------------------------------------------------------------ writing atomically
def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call write(f) on a temporary file next to path, then rename it over path (used by
    minires.save and so by save_checkpoint): a save that fails or is killed midway leaves the
    previous file as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:  # rename while still holding the lock (see _remove_leftover_temps)
                os.replace(temp_name, path)  # atomic on POSIX
        if fcntl is None:  # Windows renames only closed files
            os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    _remove_leftover_temps(path)


# The temporary file is ".{name}.{8 characters}.tmp" next to the checkpoint; older minires
# versions made the same names with tempfile.mkstemp, whose 8 characters are [a-z0-9_].
def _temp_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.tmp")


def _create_temp(path: Path) -> tuple[int, str]:
    """A new, exclusively created and (on POSIX) flock-ed temporary file next to path.

    It is created with mode 0o666, which the kernel reduces by the umask (or the folder's
    default ACL) exactly as for any file the user's programs create. This avoids reading
    the umask, which can only be done race-free on Linux (/proc/self/status): the usual
    os.umask(0)-then-restore briefly changes it for every thread of the process.
    mkstemp, used before, makes 0o600 files that no group member can read.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for extra in ("O_BINARY", "O_NOFOLLOW", "O_CLOEXEC"):
        flags |= getattr(os, extra, 0)
    for _ in range(100):
        name = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(name, flags, 0o666)
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, name
        # Another process's _remove_leftover_temps may have locked and deleted the file
        # between our open and our lock; if our name no longer leads to our file, start over.
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(name, follow_symlinks=False)):
                return fd, name
        except FileNotFoundError:
            pass
        os.close(fd)
    raise FileExistsError(f"minires.save: could not create a temporary file next to {path}")


def _remove_leftover_temps(path: Path) -> None:
    """Delete the temporary files of saves of this checkpoint that were killed (SIGKILL, a
    power cut) before they could clean up. Only names of exactly our pattern are touched,
    and only files no live save holds: a save keeps its temporary file flock-ed, and the
    kernel drops the lock of a killed process."""
    pattern = _temp_pattern(path)
    try:
        names = [entry.name for entry in os.scandir(path.parent) if pattern.fullmatch(entry.name)]
    except OSError:
        return
    for name in names:
        leftover = path.parent / name
        try:
            if fcntl is None:
                leftover.unlink()  # fails on Windows if a live save still has it open
                continue
            fd = os.open(leftover, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                leftover.unlink()
            finally:
                os.close(fd)
        except OSError:  # in use by a running save, already gone, or not ours to delete
            continue


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable: until the folder is synced, a power cut can bring back
    the previous checkpoint (intact, but older than what the run reported as saved). One
    small sync per save. Not possible on Windows or some filesystems; then skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
