"""The named tuples that max(dim), min(dim), sort and topk return, as torch.return_types.

    values, indices = x.max(1)        # unpacks like a tuple ...
    predicted = x.max(1).indices      # ... or read by name
    _, predicted = outputs.max(1)     # the classification idiom: indices of the best class

`values` is differentiable (its gradient goes to the chosen entries); `indices` is int64.
"""

from __future__ import annotations

from collections import namedtuple

max = namedtuple("max", ["values", "indices"])
min = namedtuple("min", ["values", "indices"])
sort = namedtuple("sort", ["values", "indices"])
topk = namedtuple("topk", ["values", "indices"])

__all__ = ["max", "min", "sort", "topk"]
