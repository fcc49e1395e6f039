"""torch.nn.modules.utils: consume_prefix_in_state_dict_if_present."""

from __future__ import annotations

from typing import Any

__all__ = ["consume_prefix_in_state_dict_if_present"]


def consume_prefix_in_state_dict_if_present(state_dict: dict[str, Any], prefix: str) -> None:
    """Strip prefix from every key of state_dict that starts with it, in place (as torch).

    A model trained inside nn.DataParallel saves "module.conv1.weight"; strip "module."
    before model.load_state_dict(state_dict)."""
    for key in list(state_dict.keys()):
        if key.startswith(prefix):
            state_dict[key[len(prefix):]] = state_dict.pop(key)
