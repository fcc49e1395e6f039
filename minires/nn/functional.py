"""Functional forms of the layers, named as in torch.nn.functional.

    import minires.nn.functional as F
    loss = F.cross_entropy(model(x), labels, label_smoothing=0.1)

Each function checks its arguments first and says, with the numbers, what is wrong;
the work itself is done by an op in minires/ops (whose loops live in minires/kernels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..grad_mode import no_grad
from ..random import default_generator
from ..tensor import Tensor, _as_tensor, apply


def _pair(value: int | tuple[int, int], name: str, fn: str, minimum: int = 1) -> tuple[int, int]:
    """An int or an (int, int) as an (int, int) pair, each at least `minimum`."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, int) or v < minimum for v in pair):
        raise ValueError(f"{fn}: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return pair


def _require_4d(input: Tensor, fn: str) -> None:
    if input.ndim != 4:
        unbatched = ("; an unbatched (C, H, W) image, which PyTorch also takes, is not supported here: "
                     "add the batch axis with x.unsqueeze(0)") if input.ndim == 3 and fn != "batch_norm" else ""
        raise ValueError(f"{fn}: input must be (N, C, H, W), got shape {input.shape}{unbatched}")


def _require_float(fn: str, **tensors: Tensor | None) -> None:
    """Every given tensor (None skipped) floating point, and all of one dtype.

    Integer images are the usual culprit: a uint8 batch straight from a dataset
    would be silently wrapped around or truncated by float math done in uint8."""
    given = {name: t for name, t in tensors.items() if t is not None}
    for name, t in given.items():
        if t.dtype.kind != "f":
            hint = " (scale uint8 images to [0, 1]: x.float() / 255)" if t.dtype == np.uint8 else ""
            raise TypeError(f"{fn}: {name} must be a floating-point tensor (float32 or float64), got dtype {t.dtype}; "
                            f"convert it with .float(){hint}")
    if len({t.dtype for t in given.values()}) > 1:
        which = ", ".join(f"{name} is {t.dtype}" for name, t in given.items())
        raise TypeError(f"{fn}: all tensors need one floating dtype, got {which}; convert with .to(dtype)")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch), by im2col and a matrix product.

    input:  (N, C_in, H, W)            weight: (C_out, C_in // groups, KH, KW)
    bias:   (C_out,) or None           stride, padding, dilation: int or (int, int)
    returns (N, C_out, OH, OW),  OH = (H + 2*padding - dilation*(KH - 1) - 1) // stride + 1, OW likewise

    >>> import minires as mr
    >>> conv2d(mr.zeros(2, 3, 32, 32), mr.zeros(16, 3, 3, 3), padding=1).shape
    (2, 16, 32, 32)
    """
    _require_4d(input, "conv2d")
    _require_float("conv2d", input=input, weight=weight, bias=bias)
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be (C_out, C_in // groups, KH, KW), got shape {weight.shape}")
    if not isinstance(groups, int) or groups < 1 or weight.shape[0] % groups:
        raise ValueError(f"conv2d: groups={groups} must be a positive int dividing C_out = {weight.shape[0]}")
    if input.shape[1] != weight.shape[1] * groups:
        raise ValueError(
            f"conv2d: input {input.shape} has {input.shape[1]} channels, but weight {weight.shape} "
            f"with groups={groups} expects {weight.shape[1] * groups}"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"conv2d: bias must be (C_out,) = ({weight.shape[0]},), got shape {bias.shape}")
    fn = ops.Conv2d(_pair(stride, "stride", "conv2d"), _pair(padding, "padding", "conv2d", minimum=0),
                    _pair(dilation, "dilation", "conv2d"), groups)
    return apply(fn, input, weight) if bias is None else apply(fn, input, weight, bias)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """The largest entry of each window.

    input: (N, C, H, W)   kernel_size, stride (default: kernel_size), padding: int or (int, int)
    returns (N, C, OH, OW),  OH = (H + 2*padding - KH) // stride + 1, OW likewise
    """
    _require_4d(input, "max_pool2d")
    kernel, stride, padding = _pool_args(kernel_size, stride, padding, "max_pool2d")
    return apply(ops.MaxPool2d(kernel, stride, padding), input)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """The mean of each window (padded zeros count, as PyTorch's count_include_pad=True).

    input: (N, C, H, W)   kernel_size, stride (default: kernel_size), padding: int or (int, int)
    returns (N, C, OH, OW),  OH = (H + 2*padding - KH) // stride + 1, OW likewise
    """
    _require_4d(input, "avg_pool2d")
    _require_float("avg_pool2d", input=input)  # an integer mean would be truncated
    kernel, stride, padding = _pool_args(kernel_size, stride, padding, "avg_pool2d")
    return apply(ops.AvgPool2d(kernel, stride, padding), input)


def _pool_args(kernel_size, stride, padding, fn: str):
    kernel = _pair(kernel_size, "kernel_size", fn)
    stride = kernel if stride is None else _pair(stride, "stride", fn)
    padding = _pair(padding, "padding", fn, minimum=0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{fn}: padding {padding} must be at most half the kernel {kernel}")
    return kernel, stride, padding


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size.

    input: (N, C, H, W)   output_size: int or (OH, OW)
    returns (N, C, OH, OW). (1, 1) is the global average pool of a ResNet's head;
    other sizes must divide H and W (then the windows are H/OH x W/OW, no overlap).
    """
    _require_4d(input, "adaptive_avg_pool2d")
    _require_float("adaptive_avg_pool2d", input=input)  # an integer mean would be truncated
    oh, ow = _pair(output_size, "output_size", "adaptive_avg_pool2d")
    n, c, h, w = input.shape
    if (oh, ow) == (1, 1):
        return apply(ops.GlobalAvgPool2d(), input).reshape(n, c, 1, 1)
    if h % oh or w % ow:
        raise ValueError(
            f"adaptive_avg_pool2d: output size {(oh, ow)} must divide the input's {(h, w)} "
            f"(uneven windows are not implemented)"
        )
    window = (h // oh, w // ow)
    return apply(ops.AvgPool2d(window, window, (0, 0)), input)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization over (N, H, W) per channel, as torch.nn.functional.batch_norm.

    input: (N, C, H, W)   running_mean, running_var, weight (gamma), bias (beta): (C,) or None
    training=True normalises with the batch's statistics and, when running_mean/var are
    given, updates them in place:
        running_mean <- (1 - momentum) * running_mean + momentum * batch_mean
        running_var  <- (1 - momentum) * running_var  + momentum * batch_var * M / (M - 1)
    (the running variance is the unbiased estimate, M = N*H*W). training=False normalises
    with running_mean/var, which must then be given.
    """
    _require_4d(input, "batch_norm")
    _require_float("batch_norm", input=input, weight=weight, bias=bias, running_mean=running_mean,
                   running_var=running_var)
    c = input.shape[1]
    gamma = weight if weight is not None else _as_tensor(1.0, like=input).expand(c)
    beta = bias if bias is not None else _as_tensor(0.0, like=input).expand(c)
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", gamma),
                    ("bias", beta)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"batch_norm: {name} must be (C,) = ({c},) for input {input.shape}, got {t.shape}")
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: training=False needs running_mean and running_var")
        return apply(ops.BatchNorm2dEval(eps), input, running_mean, running_var, gamma, beta)

    m = input.shape[0] * input.shape[2] * input.shape[3]
    if m < 2:
        raise ValueError(f"batch_norm: training needs more than 1 value per channel, got input {input.shape}")
    fn = ops.BatchNorm2dTrain(eps)
    y = apply(fn, input, gamma, beta)
    with no_grad():
        if running_mean is not None:
            running_mean.array = (1 - momentum) * running_mean.array + momentum * fn.mean
        if running_var is not None:
            running_var.array = (1 - momentum) * running_var.array + momentum * fn.var * (m / (m - 1))
    return y


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(input, 0) elementwise; gradient 0 at 0, as in PyTorch. inplace=True writes
    the result into input (input.relu_()) and returns it."""
    return input.relu_() if inplace else apply(ops.Relu(), input)


def add(input: Tensor, other: Tensor) -> Tensor:
    """The residual join y = input + other, for two tensors of one shape (no broadcasting).

    Its backward hands dL/dy to both inputs unchanged, which is why a ResNet's identity
    path carries the gradient: dL/dx = dL/dy (1 + dF/dx) for y = F(x) + x.
    """
    if input.shape != other.shape:
        raise ValueError(f"add: both tensors need one shape, got {input.shape} and {other.shape}")
    return apply(ops.ResidualAdd(), input, other)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight^T + bias.   input: (..., in)  weight: (out, in)  bias: (out,)  y: (..., out)"""
    if input.ndim == 0:
        raise ValueError(f"linear: input must have at least 1 dimension (..., in_features), got a 0-d tensor "
                         f"(shape ()); weight {weight.shape} expects {weight.shape[-1]} features")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be (out_features, in_features), got shape {weight.shape}")
    _require_float("linear", input=input, weight=weight, bias=bias)
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"linear: bias must be (out_features,) = ({weight.shape[0]},), got shape {bias.shape}")
    if input.shape[-1:] != weight.shape[1:]:
        raise ValueError(f"linear: input {input.shape} has {input.shape[-1]} features, weight {weight.shape} expects "
                         f"{weight.shape[1]}")
    y = input @ weight.T
    return y if bias is None else y + bias


def dropout(input: Tensor, p: float = 0.5, training: bool = True, generator=None) -> Tensor:
    """Zero each entry with probability p and scale the rest by 1/(1-p), so the expected
    value is unchanged; the identity when not training. The mask is a constant, so the
    gradient is gy * mask / (1-p)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return input
    rng = generator or default_generator()
    keep = (rng.random(input.shape) >= p).astype(input.dtype) / (1 - p)
    return input * _as_tensor(keep, like=input)


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:
    """input - logsumexp(input) along dim, computed stably."""
    return apply(ops.LogSoftmax(dim), input)


def softmax(input: Tensor, dim: int = -1) -> Tensor:
    """exp(input) / sum(exp(input)) along dim, computed stably."""
    return apply(ops.Softmax(dim), input)


def cross_entropy(input: Tensor, target: Any, label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy between logits and integer class labels.

    input:  (N, K) logits        target: (N,) integers in [0, K)
    label_smoothing: s in [0, 1): the target puts 1 - s + s/K on the true class, s/K elsewhere
    returns a scalar tensor: the loss averaged over the N samples

    >>> import minires as mr
    >>> round(cross_entropy(mr.zeros(2, 4), mr.tensor([0, 3])).item(), 4)   # log(4)
    1.3863
    """
    target = _as_tensor(target, like=input)
    if input.ndim != 2:
        raise ValueError(f"cross_entropy: input must be (N, K) logits, got shape {input.shape}")
    if target.shape != input.shape[:1]:
        raise ValueError(f"cross_entropy: target must be (N,) = ({input.shape[0]},), got shape {target.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold integer class labels, got dtype {target.dtype}")
    k = input.shape[1]
    # the range check reads two numbers back to the host, so it runs on the CPU only
    # (on the GPU it would stall every training step)
    if target.device == "cpu" and target.numel() and (int(target.array.min()) < 0 or int(target.array.max()) >= k):
        raise ValueError(
            f"cross_entropy: labels must lie in [0, {k}), got min {int(target.array.min())} max {int(target.array.max())}"
        )
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1), got {label_smoothing}")
    return apply(ops.CrossEntropy(label_smoothing), input, target)
