"""torch.device, and the parser of every device-or-dtype argument (x.to(...), model.to(...)).

    d = mr.device("cuda" if mr.cuda.is_available() else "cpu")
    x.to(d), model.to(d), mr.zeros(2, device=d)
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

DEVICE_PATTERN = re.compile(r"cpu|cuda(?::(\d+))?")
_TO_ALLOWED = "'cpu', 'cuda', 'cuda:N' (N = 0, 1, ...) or a dtype such as mr.float64 or 'float32'"


def device_or_dtype(target: Any, where: str) -> tuple[str | None, int | None, np.dtype | None]:
    """(device, GPU index or None, None) for a device, (None, None, dtype) for a dtype;
    anything else raises, naming `where`, the value given and what is allowed."""
    if isinstance(target, str):
        match = DEVICE_PATTERN.fullmatch(target)
        if match:
            index = match.group(1)
            return ("cuda" if target.startswith("cuda") else "cpu"), (None if index is None else int(index)), None
    if target is None:  # np.dtype(None) would quietly mean float64
        raise TypeError(f"{where}: expected {_TO_ALLOWED}, got None")
    try:
        dtype = np.dtype(target)
    except TypeError:
        kind = ValueError if isinstance(target, str) else TypeError
        raise kind(f"{where}: {target!r} is neither a device nor a dtype; expected {_TO_ALLOWED}") from None
    if dtype.kind not in "biuf":
        raise TypeError(f"{where}: minires tensors hold bool, integer or floating dtypes, got {dtype}")
    return None, None, dtype



class device(str):
    """torch.device: mr.device('cuda:0'), mr.device('cuda', 0), mr.device('cpu'), with .type
    and .index. It is the string underneath ('cuda:0'), so it works wherever minires takes
    a device name (x.to(d), model.to(d), mr.zeros(2, device=d))."""

    def __new__(cls, type: str | device | int, index: int | None = None):
        if isinstance(type, int) and index is None:  # torch.device(0) is the first GPU
            type, index = "cuda", type
        text = str(type) if index is None else f"{type}:{index}"
        match = DEVICE_PATTERN.fullmatch(text)
        if not match or (index is not None and ":" in str(type)):
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {text!r}")
        self = super().__new__(cls, text)
        self.type = "cuda" if text.startswith("cuda") else "cpu"
        self.index = None if match.group(1) is None else int(match.group(1))
        return self

    def __repr__(self) -> str:
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"

    __hash__ = str.__hash__



CPU, CUDA = device("cpu"), device("cuda")  # what Tensor.device returns
