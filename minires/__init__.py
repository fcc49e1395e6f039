"""minires: a from-scratch deep-learning engine for teaching.

    import minires as mr
    x = mr.randn(4, 3, requires_grad=True)
    loss = (x @ mr.randn(3, 2)).relu().sum()
    loss.backward()          # x.grad now holds dloss/dx

Layers, bottom to top: backend -> kernels -> ops (array math) -> tensor and autograd
(the graph, the backward walk) -> gradcheck -> nn (README.md, Layout). Importing minires changes
nothing in your process, and it is fast with no call at all: one worker per core, as
PyTorch (minires/tuning.py).
"""

import numpy as np

# isort: off
# tensor.py first: Tensor and the engine (minires/autograd/engine.py) import each other, and
# tensor.py closes that loop at its end, once Tensor exists.
from .tensor import Tensor
# isort: on

from . import (
    autograd,
    backend,
    backends,
    cuda,
    data,
    distributed,
    nn,
    ops,
    optim,
    return_types,
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
from .device import device
from .functions import (  # the top-level forms of Tensor methods; max, min, sum, abs, pow shadow builtins here
    abs,
    amax,
    amin,
    argmax,
    argmin,
    cat,
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
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    ne,
    norm,
    numel,
    pad,
    permute,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    sort,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    t,
    tanh,
    topk,
    transpose,
    unsqueeze,
    var,
    where,
)
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .random import get_rng_state, manual_seed, set_rng_state
from .serialization import load, save
from .size import Size
from .tuning import get_num_threads, set_num_threads, tune_process
from .utils import data as _utils_data  # noqa: F401  (makes minires.utils.data an attribute, as torch.utils.data)

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
    "device", "distributed", "double", "enable_grad", "eq", "exp", "flatten", "float", "float16", "float32", "float64",
    "from_numpy", "full", "full_like", "ge", "get_num_threads", "get_rng_state", "gradcheck", "gradgradcheck", "gt", "half", "inference_mode",
    "int", "int8", "int16", "int32", "int64", "is_grad_enabled", "is_tensor", "le", "load", "log", "log_softmax",
    "long", "lt", "manual_seed", "matmul", "max", "maximum", "mean", "min", "minimum", "ne", "nn", "no_grad",
    "norm", "numel", "ones", "ones_like", "ops", "optim", "pad", "permute", "pow", "rand", "rand_like", "randn",
    "randn_like", "relu", "reshape", "return_types", "save", "set_grad_enabled", "set_num_threads", "set_rng_state", "short", "sigmoid",
    "softmax", "sort", "sqrt", "squeeze", "stack", "std", "sum", "t", "tanh", "tensor", "topk",
    "transpose", "tune_process", "uint8", "unsqueeze", "utils", "var", "where", "zeros", "zeros_like",
]
