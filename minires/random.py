"""The random number generator behind randn/rand and weight initialisation.

`mr.manual_seed(0)` makes a run repeatable. Random numbers are always drawn on
the CPU (numpy) and moved to the GPU afterwards, so a seed gives the same
numbers on both devices.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator; returns it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    """The global generator (reseeded by manual_seed)."""
    return _generator


def get_rng_state() -> dict:
    """The generator's state, for checkpoints."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state from get_rng_state()."""
    _generator.bit_generator.state = state
