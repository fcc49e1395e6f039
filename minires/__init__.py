"""minires: a from-scratch deep-learning engine for teaching.

    import minires as mr
    x = mr.randn(4, 3, requires_grad=True)
    loss = (x @ mr.randn(3, 2)).relu().sum()
    loss.backward()          # x.grad now holds dloss/dx

Layers, bottom to top: backend, threads -> kernels -> ops (array math) -> tensor (graph)
-> gradcheck -> nn. See DESIGN.md.
"""

import ctypes
import os
import sys

# A training step alternates between OpenBLAS (matrix products) and Numba's OpenMP
# threads (the kernels) hundreds of times. By default each side's idle threads keep
# spinning for a while after their work, stealing the cores from the other side: on a
# 2-core machine that made a ResNet-20 step ~1.7x slower. Ask both to sleep at once.
# OpenMP reads its setting when Numba first runs a parallel kernel (after this line);
# OpenBLAS reads its own when numpy is first imported, so that one only takes effect
# when minires is imported before numpy (the examples and benchmarks set it first thing).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def _keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back.

    A training step frees its activations at the end and allocates them again in the
    next step. By default glibc returned them to the operating system and then took
    them back page by page: ~34,000 page faults per ResNet-20 step at batch 128, each
    zeroing a fresh 4 KiB page (measured; with this, 6), and the step ~10-20% slower.
    Both thresholds are set because setting either one alone stops glibc from adapting
    the other (then every array over 128 KiB is mapped afresh: far worse).
    MALLOC_* or GLIBC_TUNABLES in the environment mean you chose for yourself.
    """
    if not sys.platform.startswith("linux") or any(k.startswith(("MALLOC_", "GLIBC_TUNABLES")) for k in os.environ):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, say): leave malloc alone
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20)  # arrays up to 32 MiB come from the heap
    libc.mallopt(M_TRIM_THRESHOLD, 2**30)  # hand memory back only when 1 GiB lies free at the heap's top


_keep_freed_memory()

import numpy as np

from . import (
    autograd,
    backend,
    backends,
    cuda,
    data,
    nn,
    ops,
    optim,
    return_types,
    threads,
    utils,
)
from .creation import (
    arange,
    as_tensor,
    from_numpy,
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
from .functions import (  # the top-level forms of Tensor methods; max, min, sum, abs, pow shadow builtins here
    abs,
    amax,
    amin,
    argmax,
    argmin,
    clamp,
    clip,
    clone,
    eq,
    exp,
    flatten,
    ge,
    gt,
    is_tensor,
    le,
    log,
    log_softmax,
    lt,
    max,
    mean,
    min,
    ne,
    norm,
    numel,
    permute,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    sort,
    sqrt,
    squeeze,
    std,
    sum,
    t,
    tanh,
    topk,
    transpose,
    unsqueeze,
    var,
)
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from .random import get_rng_state, manual_seed, set_rng_state
from .serialization import load, save
from .tensor import Size, Tensor, cat, device, matmul, maximum, minimum, pad, stack, where

__version__ = "0.1.0"

# dtypes: numpy's own scalar types, under torch's names (x.dtype == mr.float32 holds).
# float, int and bool shadow Python's builtins inside this module only; nothing below uses them.
float32 = float = np.float32
float64 = double = np.float64
float16 = half = np.float16
int64 = long = np.int64
int32 = int = np.int32
int16 = short = np.int16
int8 = np.int8
uint8 = np.uint8
bool = bool_ = np.bool_

__all__ = [
    "GradcheckError", "Size", "Tensor", "abs", "amax", "amin", "arange", "argmax", "argmin", "as_tensor",
    "autograd", "backend", "backends", "bool", "bool_", "cat", "clamp", "clip", "clone", "cuda", "data",
    "device", "double", "enable_grad", "eq", "exp", "flatten", "float", "float16", "float32", "float64",
    "from_numpy", "full", "full_like", "ge", "get_rng_state", "gradcheck", "gt", "half", "inference_mode",
    "int", "int8", "int16", "int32", "int64", "is_grad_enabled", "is_tensor", "le", "load", "log", "log_softmax",
    "long", "lt", "manual_seed", "matmul", "max", "maximum", "mean", "min", "minimum", "ne", "nn", "no_grad",
    "norm", "numel", "ones", "ones_like", "ops", "optim", "pad", "permute", "pow", "rand", "rand_like", "randn",
    "randn_like", "relu", "reshape", "return_types", "save", "set_grad_enabled", "set_rng_state", "short", "sigmoid",
    "softmax", "sort", "sqrt", "squeeze", "stack", "std", "sum", "t", "tanh", "tensor", "threads", "topk",
    "transpose", "uint8", "unsqueeze", "utils", "var", "where", "zeros", "zeros_like",
]
