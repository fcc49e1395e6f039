"""minires: a from-scratch deep-learning engine for teaching.

    import minires as mr
    x = mr.randn(4, 3, requires_grad=True)
    loss = (x @ mr.randn(3, 2)).relu().sum()
    loss.backward()          # x.grad now holds dloss/dx

Layers, bottom to top: backend -> kernels -> ops (array math) -> tensor (graph)
-> gradcheck -> nn. See DESIGN.md.
"""

import os

# A training step alternates between OpenBLAS (matrix products) and Numba's OpenMP
# threads (the kernels) hundreds of times. By default each side's idle threads keep
# spinning for a while after their work, stealing the cores from the other side: on a
# 2-core machine that made a ResNet-20 step ~1.7x slower. Ask both to sleep at once.
# OpenMP reads its setting when Numba first runs a parallel kernel (after this line);
# OpenBLAS reads its own when numpy is first imported, so that one only takes effect
# when minires is imported before numpy (the examples and benchmarks set it first thing).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np

from . import (
    backend,
    data,
    nn,
    ops,
    optim,
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
    "GradcheckError", "Tensor", "arange", "backend", "bool_", "cat", "data", "enable_grad", "float32",
    "float64", "full", "full_like", "get_rng_state", "gradcheck", "int64", "is_grad_enabled",
    "manual_seed", "matmul", "maximum", "minimum", "nn", "no_grad", "ones", "ones_like", "ops", "optim",
    "pad", "rand", "rand_like", "randn", "randn_like", "set_grad_enabled", "set_rng_state",
    "stack", "tensor", "where", "zeros", "zeros_like",
]
