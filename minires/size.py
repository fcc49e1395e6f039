"""torch.Size: what x.size() returns."""

from __future__ import annotations

import numpy as np


class Size(tuple):
    """torch.Size: what x.size() returns. A tuple (it equals (2, 3)) with torch's repr and numel()."""

    def __repr__(self) -> str:
        return f"minires.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))

