"""minires: a from-scratch deep-learning engine for teaching.

    import minires as mr
    x = mr.randn(4, 3, requires_grad=True)
    loss = (x @ mr.randn(3, 2)).relu().sum()
    loss.backward()          # x.grad now holds dloss/dx

Layers, bottom to top: backend -> kernels -> ops (array math) -> tensor (graph)
-> gradcheck -> nn. See DESIGN.md.
"""

import os

# OpenBLAS's threads keep spinning for ~0.1 s after every matrix product, and on a 2-core
# machine they then steal the cores from the Numba kernel that runs next (measured: a
# conv layer's im2col + GEMM pair took 3x longer). Ask them to sleep almost at once.
# OpenBLAS reads this when numpy loads it, so it only helps when minires is imported
# before numpy (the examples and benchmarks set it themselves, first thing).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np

from . import (
    backend,
    nn,
    ops,
)
from .creation import (
    arange,
    full,
    full_like,
    ones,
    ones_like,
    rand,
    rand_like,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from .random import get_rng_state, manual_seed, set_rng_state
from .tensor import Tensor, cat, matmul, maximum, minimum, pad, stack, where

__version__ = "0.1.0"

float32 = np.float32
float64 = np.float64
int64 = np.int64
bool_ = np.bool_

__all__ = [
    "GradcheckError", "Tensor", "arange", "backend", "bool_", "cat", "enable_grad", "float32",
    "float64", "full", "full_like", "get_rng_state", "gradcheck", "int64", "is_grad_enabled",
    "manual_seed", "matmul", "maximum", "minimum", "nn", "no_grad", "ones", "ones_like", "ops",
    "pad", "rand", "rand_like", "randn", "randn_like", "set_grad_enabled", "set_rng_state",
    "stack", "tensor", "where", "zeros", "zeros_like",
]
