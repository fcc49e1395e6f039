"""default_collate: a list of samples -> one batch, as torch.utils.data.default_collate.

The batch keeps the structure of one sample, with every leaf stacked along a new first
axis of length N (the batch size):

    sample                        batch of N samples
    ------                        ------------------
    Tensor or ndarray (A, B)  ->  Tensor (N, A, B), same dtype
    float                     ->  Tensor (N,) float64
    int / bool                ->  Tensor (N,) int64 / bool
    numpy scalar (np.float32) ->  Tensor (N,) of its dtype
    str / bytes               ->  left as they are (a list or tuple of N)
    dict {k: v}               ->  dict {k: collate of the N v's}
    namedtuple P(x, y)        ->  P(x=collate of the N x's, y=...)
    tuple or list (x, y)      ->  list [collate of the N x's, collate of the N y's]

>>> x, y = default_collate([(np.zeros((3, 2)), 0), (np.ones((3, 2)), 1)])
>>> x.shape, y.tolist()
((2, 3, 2), [0, 1])
"""

from __future__ import annotations

import collections.abc
import copy
from typing import Any

import numpy as np

from ... import backend
from ...functions import stack
from ...tensor import Tensor

_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def default_collate(batch: list) -> Any:
    """Stack a list of samples into one batch (the table in this module's docstring)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        if any(t.requires_grad for t in batch):
            return stack(batch)  # keeps the graph, as torch.stack does
        arrays = [t.array for t in batch]
        return Tensor(backend.array_module(arrays[0]).stack(arrays))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "SaUO":  # strings and objects have no Tensor
            raise TypeError(_ERROR.format(elem.dtype))
        return Tensor(np.stack(batch))
    if isinstance(elem, (np.bool_, np.number)):
        return Tensor(np.array(batch))
    if isinstance(elem, float):
        return Tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, int):  # bool is an int too: all bools -> bool
        return Tensor(_int_array(batch))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        return _same_kind(elem, collated)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(column) for column in zip(*batch)]  # transpose: N samples of k -> k columns of N
        if isinstance(elem, tuple):
            return columns  # a list, as PyTorch returns for tuples
        return _same_kind(elem, columns)
    raise TypeError(_ERROR.format(type(elem)))


def _int_array(batch) -> np.ndarray:
    """torch.tensor's dtypes for a list that starts with an int: all bools -> bool,
    ints -> int64, ints mixed with floats -> float32 (its default float)."""
    array = np.array(batch)
    if array.dtype.kind == "i":
        return array.astype(np.int64)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    return array


def _same_kind(elem: Any, collated: Any) -> Any:
    """collated (a dict or a list) in the container type of elem where that type allows it."""
    if isinstance(elem, (dict, list)) and type(elem) in (dict, list):
        return collated
    try:
        if isinstance(elem, (collections.abc.MutableMapping, collections.abc.MutableSequence)):
            clone = copy.copy(elem)  # keeps a subclass's extra state (OrderedDict order, defaultdict factory)
            if isinstance(elem, collections.abc.MutableMapping):
                clone.update(collated)
            else:
                clone[:] = collated
            return clone
        return type(elem)(collated)
    except TypeError:  # a type that cannot be built this way: plain dict / list
        return collated


def default_convert(data: Any) -> Any:
    """What batch_size=None loads: each sample as it is, numpy arrays and numpy scalars
    turned into Tensors (inside dicts, tuples and lists too), as torch's default_convert."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "SaUO":
        return Tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return Tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _same_kind(data, {key: default_convert(value) for key, value in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _same_kind(data, [default_convert(d) for d in data])
    return data
