"""Functional forms of the layers, named as in torch.nn.functional.

    import minires.nn.functional as F
    loss = F.cross_entropy(model(x), labels, label_smoothing=0.1)

Each function checks its arguments first and says, with the numbers, what is wrong;
the work itself is done by an op in minires/ops (whose loops live in minires/kernels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend, ops
from ..autograd.engine import apply
from ..grad_mode import no_grad
from ..random import default_generator
from ..tensor import Tensor, _as_tensor


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


def _unsupported(fn: str, **settings: tuple[Any, bool]) -> None:
    """Raise NotImplementedError naming each setting whose value minires does not support.

    settings: name=(value, supported). torch accepts these values; minires says so
    rather than silently computing something else."""
    bad = [f"{name}={value!r}" for name, (value, supported) in settings.items() if not supported]
    if bad:
        raise NotImplementedError(f"{fn}: {', '.join(bad)} is not supported by minires")


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


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor:
    """The largest entry of each window.

    input: (N, C, H, W)   kernel_size, stride (default: kernel_size), padding: int or (int, int)
    returns (N, C, OH, OW),  OH = (H + 2*padding - KH) // stride + 1, OW likewise
    ceil_mode=True rounds OH up instead (the last window may hang over the bottom edge,
    but must start inside the input or its left padding), as torch does.
    dilation other than 1 and return_indices=True raise NotImplementedError.
    """
    _require_4d(input, "max_pool2d")
    _unsupported("max_pool2d", dilation=(dilation, _pair(dilation, "dilation", "max_pool2d") == (1, 1)),
                 return_indices=(return_indices, not return_indices))
    kernel, stride, padding = _pool_args(kernel_size, stride, padding, "max_pool2d")
    if not ceil_mode:
        return apply(ops.MaxPool2d(kernel, stride, padding), input)
    # ceil_mode: pad with -inf ourselves (padding plus the overhang), then pool without padding
    extra = _ceil_mode_overhang(input.shape[2:], kernel, stride, padding)
    pad_width = ((0, 0), (0, 0)) + tuple((p, p + e) for p, e in zip(padding, extra))
    padded = apply(ops.Pad(pad_width, -np.inf), input)
    return apply(ops.MaxPool2d(kernel, stride, (0, 0)), padded)


def _ceil_mode_overhang(size, kernel, stride, padding) -> tuple[int, int]:
    """How far past the padded input the last ceil_mode window reaches, per axis (torch's rule)."""
    extra = []
    for n, k, s, p in zip(size, kernel, stride, padding):
        out = -(-(n + 2 * p - k) // s) + 1  # ceil division
        if (out - 1) * s >= n + p:  # the last window would start in the right padding: drop it
            out -= 1
        extra.append(max((out - 1) * s + k - (n + 2 * p), 0))
    return tuple(extra)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean of each window.

    input: (N, C, H, W)   kernel_size, stride (default: kernel_size), padding: int or (int, int)
    returns (N, C, OH, OW),  OH = (H + 2*padding - KH) // stride + 1, OW likewise (rounded up with ceil_mode)
    count_include_pad=True (torch's default) divides by KH*KW, padded zeros included;
    False divides by the number of input entries in the window. A ceil_mode overhang never
    counts; divisor_override divides every window's sum by that number instead.
    """
    _require_4d(input, "avg_pool2d")
    _require_float("avg_pool2d", input=input)  # an integer mean would be truncated
    kernel, stride, padding = _pool_args(kernel_size, stride, padding, "avg_pool2d")
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override < 1):
        raise ValueError(f"avg_pool2d: divisor_override must be a positive int, got {divisor_override!r}")
    if not ceil_mode and count_include_pad and divisor_override is None:
        return apply(ops.AvgPool2d(kernel, stride, padding), input)
    # the general case: window sums (a mean over KH*KW, times KH*KW), then each window's own divisor
    extra = _ceil_mode_overhang(input.shape[2:], kernel, stride, padding) if ceil_mode else (0, 0)
    pad_width = ((0, 0), (0, 0)) + tuple((p, p + e) for p, e in zip(padding, extra))
    window = kernel[0] * kernel[1]
    sums = apply(ops.AvgPool2d(kernel, stride, (0, 0)), apply(ops.Pad(pad_width, 0.0), input)) * window
    if divisor_override is not None:
        return sums / divisor_override
    xp = backend.array_module(input.array)
    counted = xp.ones((1, 1) + input.shape[2:], dtype=input.dtype)  # which entries count in the divisor
    counted_width = ((0, 0), (0, 0)) + ((padding[0], padding[0]), (padding[1], padding[1]))
    counted = xp.pad(counted, counted_width, constant_values=1.0 if count_include_pad else 0.0)
    counted = xp.pad(counted, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])), constant_values=0.0)
    count = ops.AvgPool2d(kernel, stride, (0, 0)).forward(counted) * window  # (1, 1, OH, OW)
    return sums / _as_tensor(count, like=input)


def _pool_args(kernel_size, stride, padding, fn: str):
    kernel = _pair(kernel_size, "kernel_size", fn)
    stride = kernel if stride is None else _pair(stride, "stride", fn)
    padding = _pair(padding, "padding", fn, minimum=0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{fn}: padding {padding} must be at most half the kernel {kernel}")
    return kernel, stride, padding


def _adaptive_window(input: Tensor, output_size, fn: str) -> tuple[int, int] | None:
    """The window (= stride) of an adaptive pool, or None for the (1, 1) global pool.

    output_size: int or (OH, OW), where None keeps that input size, as in torch."""
    h, w = input.shape[2:]
    sizes = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"{fn}: output_size must be an int or a pair, got {output_size!r}")
    oh, ow = _pair(tuple(d if s is None else s for s, d in zip(sizes, (h, w))), "output_size", fn)
    if (oh, ow) == (1, 1):
        return None
    if h % oh or w % ow:
        raise NotImplementedError(
            f"{fn}: output size {(oh, ow)} must divide the input's {(h, w)} "
            f"(uneven windows, which torch allows, are not implemented)"
        )
    return h // oh, w // ow


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size.

    input: (N, C, H, W)   output_size: int or (OH, OW) (None keeps that input size)
    returns (N, C, OH, OW). (1, 1) is the global average pool of a ResNet's head;
    other sizes must divide H and W (then the windows are H/OH x W/OW, no overlap).
    """
    _require_4d(input, "adaptive_avg_pool2d")
    _require_float("adaptive_avg_pool2d", input=input)  # an integer mean would be truncated
    window = _adaptive_window(input, output_size, "adaptive_avg_pool2d")
    if window is None:
        n, c = input.shape[:2]
        return apply(ops.GlobalAvgPool2d(), input).reshape(n, c, 1, 1)
    return apply(ops.AvgPool2d(window, window, (0, 0)), input)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization over (N, H, W) per channel, as torch.nn.functional.batch_norm.

    input: (N, C, H, W), or any (N, C, *) such as BatchNorm1d's (N, C) and (N, C, L)
    running_mean, running_var, weight (gamma), bias (beta): (C,) or None
    training=True normalises with the batch's statistics and, when running_mean/var are
    given, updates them in place:
        running_mean <- (1 - momentum) * running_mean + momentum * batch_mean
        running_var  <- (1 - momentum) * running_var  + momentum * batch_var * M / (M - 1)
    (the running variance is the unbiased estimate, M = N*H*W). training=False normalises
    with running_mean/var, which must then be given.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C, *), got shape {input.shape}")
    if input.ndim != 4:  # (N, C), (N, C, L), (N, C, D, H, W): normalise as (N, C, rest, 1)
        y = batch_norm(input.reshape(input.shape[0], input.shape[1], -1, 1), running_mean, running_var, weight,
                       bias, training, momentum, eps)
        return y.reshape(*input.shape)
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


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None) -> Tensor:
    """Zero each entry with probability p and scale the rest by 1/(1-p), so the expected
    value is unchanged; the identity when not training. The mask is a constant, so the
    gradient is gy * mask / (1-p). inplace=True multiplies input by the mask in place (mul_)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:  # torch: everything dropped
        return input.mul_(0.0) if inplace else input * 0.0
    rng = generator or default_generator()
    keep = _as_tensor((rng.random(input.shape) >= p).astype(input.dtype) / (1 - p), like=input)
    return input.mul_(keep) if inplace else input * keep


def _softmax_dim(input: Tensor, dim: int | None, fn: str) -> int:
    """torch's implicit dim when dim=None (deprecated there): 0 for 0-, 1- and 3-d input, else 1."""
    if dim is None:
        return 0 if input.ndim in (0, 1, 3) else 1
    if not -max(input.ndim, 1) <= dim < max(input.ndim, 1):
        raise IndexError(f"{fn}: dim {dim} is out of range for a {input.ndim}-d input of shape {input.shape}")
    return dim


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """input - logsumexp(input) along dim, computed stably (dtype: cast the input first)."""
    input = input if dtype is None else input.to(dtype)
    return apply(ops.LogSoftmax(_softmax_dim(input, dim, "log_softmax")), input)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(input) / sum(exp(input)) along dim, computed stably (dtype: cast the input first)."""
    input = input if dtype is None else input.to(dtype)
    return apply(ops.Softmax(_softmax_dim(input, dim, "softmax")), input)


# ---------------------------------------------------------------- losses, as torch.nn.functional
#
# Shapes as in torch: class scores (N, C) or (N, C, d1, ...) with labels (N,) or (N, d1, ...),
# or one unbatched sample (C,) with a 0-d label. The ops work on (M, C) rows: the class axis
# is moved last and the rest flattened, and reduction="none" gets the label shape back.

REDUCTIONS = ("mean", "sum", "none")


def _reduction(fn: str, reduction: str, size_average=None, reduce=None) -> str:
    _unsupported(fn, size_average=(size_average, size_average is None), reduce=(reduce, reduce is None))
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _class_rows(input: Tensor, fn: str) -> Tensor:
    """(C,) -> (1, C);  (N, C, d1, ...) -> (N*d1*..., C): one row of class scores per label."""
    if input.ndim == 0:
        raise ValueError(f"{fn}: input must be (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    if input.ndim == 1:
        return input.reshape(1, input.shape[0])
    if input.ndim == 2:
        return input
    return input.permute(0, *range(2, input.ndim), 1).reshape(-1, input.shape[1])


def _label_shape(input: Tensor) -> tuple[int, ...]:
    """The labels' shape for these class scores: () for (C,), (N, d1, ...) for (N, C, d1, ...)."""
    return () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]


def _check_labels(target: Tensor, input: Tensor, ignore_index: int, fn: str) -> None:
    if target.shape != _label_shape(input):
        letters = "()" if input.ndim == 1 else "(N,)" if input.ndim == 2 else "(N, d1, ...)"
        raise ValueError(f"{fn}: target must be {letters} = {_label_shape(input)}, got shape {target.shape} "
                         f"(input {input.shape})")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{fn}: target must hold integer class labels, got dtype {target.dtype}")
    k = input.shape[0] if input.ndim == 1 else input.shape[1]
    # the range check reads numbers back to the host, so it runs on the CPU only
    # (on the GPU it would stall every training step)
    if target.device == "cpu" and target.numel():
        labels = target.array[target.array != ignore_index]
        if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= k):
            raise ValueError(f"{fn}: labels must lie in [0, {k}), got min {int(labels.min())} max "
                             f"{int(labels.max())} (labels equal to ignore_index={ignore_index} are skipped)")


def _class_weight(weight: Tensor | None, k: int, input: Tensor, fn: str):
    if weight is None:
        return None
    weight = _as_tensor(weight, like=input)
    if weight.shape != (k,):
        raise ValueError(f"{fn}: weight must be (C,) = ({k},), one per class, got shape {weight.shape}")
    return weight.array


def cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and class labels (or class probabilities), as torch.

    input:  (N, C) logits, (N, C, d1, ...) or one sample (C,)
    target: integer labels (N,) / (N, d1, ...) / (), or probabilities of input's shape
    weight: (C,) rescales each class's loss (None: all 1)
    ignore_index: labels equal to it add nothing and are left out of the mean
    reduction: "mean" (divided by the summed weight of the kept labels), "sum" or "none"
    label_smoothing: s in [0, 1]: the target becomes (1 - s) * target + s / C

    >>> import minires as mr
    >>> round(cross_entropy(mr.zeros(2, 4), mr.tensor([0, 3])).item(), 4)   # log(4)
    1.3863
    """
    reduction = _reduction("cross_entropy", reduction, size_average, reduce)
    target = _as_tensor(target, like=input)
    _require_float("cross_entropy", input=input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    rows = _class_rows(input, "cross_entropy")
    k = rows.shape[1]
    w = _class_weight(weight, k, input, "cross_entropy")
    if target.dtype.kind == "f":  # class probabilities, the same shape as input
        if target.shape != input.shape:
            raise TypeError(f"cross_entropy: target must hold integer class labels, got dtype {target.dtype} and "
                            f"shape {target.shape} (class probabilities would have the input's shape {input.shape})")
        _require_float("cross_entropy", input=input, target=target)
        target_rows = _class_rows(target, "cross_entropy")
    else:
        _check_labels(target, input, ignore_index, "cross_entropy")
        target_rows = target.reshape(-1)
    loss = apply(ops.CrossEntropy(w, ignore_index, reduction, label_smoothing), rows, target_rows)
    return loss.reshape(*_label_shape(input)) if reduction == "none" else loss


def nll_loss(input: Tensor, target: Any, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (log_softmax's output), as torch.

    input: (N, C), (N, C, d1, ...) or (C,)   target: integer labels (N,) / (N, d1, ...) / ()
    weight, ignore_index, reduction: as cross_entropy (which is nll_loss(log_softmax(x, 1), t))
    """
    reduction = _reduction("nll_loss", reduction, size_average, reduce)
    target = _as_tensor(target, like=input)
    _require_float("nll_loss", input=input)
    rows = _class_rows(input, "nll_loss")
    _check_labels(target, input, ignore_index, "nll_loss")
    w = _class_weight(weight, rows.shape[1], input, "nll_loss")
    loss = apply(ops.NllLoss(w, ignore_index, reduction), rows, target.reshape(-1))
    return loss.reshape(*_label_shape(input)) if reduction == "none" else loss


def _regression_operands(input: Tensor, target: Any, fn: str) -> tuple[Tensor, Tensor]:
    target = _as_tensor(target, like=input)
    _require_float(fn, input=input, target=target)
    try:
        np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(f"{fn}: input {input.shape} and target {target.shape} do not broadcast") from None
    return input, target


def mse_loss(input: Tensor, target: Any, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Mean squared error: (input - target)^2, averaged ("mean"), summed or kept ("none").

    input, target: any shape, broadcast together (torch warns when they differ; usually a bug)"""
    reduction = _reduction("mse_loss", reduction, size_average, reduce)
    return apply(ops.MseLoss(reduction), *_regression_operands(input, target, "mse_loss"))


def l1_loss(input: Tensor, target: Any, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Mean absolute error: |input - target|, averaged ("mean"), summed or kept ("none")."""
    reduction = _reduction("l1_loss", reduction, size_average, reduce)
    return apply(ops.L1Loss(reduction), *_regression_operands(input, target, "l1_loss"))


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of logits against targets in [0, 1], stable for any logit.

    input, target: one shape     weight: broadcastable to it     pos_weight: (C,), broadcast over the last axis
    loss = -weight * (pos_weight * t * log sigmoid(x) + (1 - t) * log(1 - sigmoid(x)))
    """
    reduction = _reduction("binary_cross_entropy_with_logits", reduction, size_average, reduce)
    target = _as_tensor(target, like=input)
    if target.shape != input.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: target size {target.shape} must be the same as "
                         f"input size {input.shape}")
    _require_float("binary_cross_entropy_with_logits", input=input, target=target)
    extra = {}
    for name, t in (("weight", weight), ("pos_weight", pos_weight)):
        if t is not None:
            t = _as_tensor(t, like=input)
            try:
                np.broadcast_shapes(t.shape, input.shape)
            except ValueError:
                raise ValueError(f"binary_cross_entropy_with_logits: {name} {t.shape} does not broadcast to "
                                 f"input {input.shape}") from None
            extra[name] = t.array
    fn = ops.BceWithLogits(extra.get("weight"), extra.get("pos_weight"), reduction)
    return apply(fn, input, target)


# ---------------------------------------------------------------- activations, padding, dropout2d, one_hot


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise. inplace=True writes the result into input."""
    y = apply(ops.LeakyRelu(negative_slope), input)
    return input.copy_(y) if inplace else y


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + e^-x) elementwise."""
    return apply(ops.Sigmoid(), input)


def tanh(input: Tensor) -> Tensor:
    """tanh x elementwise."""
    return apply(ops.Tanh(), input)


def pad(input: Tensor, pad: tuple[int, ...], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last dimensions, given in torch's order: last dimension first.

    pad = (left, right) pads the last axis, (left, right, top, bottom) the last two, and
    (left, right, top, bottom, front, back) the last three; a negative amount crops.
    akamaster's CIFAR ResNet (option A) adds channels with F.pad(x, (0, 0, 0, 0, c, c)).
    Only mode="constant" is implemented ("reflect", "replicate", "circular" raise).

    >>> import minires as mr
    >>> pad(mr.zeros(2, 3, 4, 4), (0, 0, 0, 0, 1, 1)).shape
    (2, 5, 4, 4)
    """
    _unsupported("pad", mode=(mode, mode == "constant"))
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim or any(not isinstance(p, (int, np.integer)) for p in pad):
        raise ValueError(f"pad: need (before, after) int pairs for at most {input.ndim} dims, got {pad}")
    pairs = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):  # pair i is for axis -1 - i
        pairs[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    grown = tuple((max(a, 0), max(b, 0)) for a, b in pairs)
    y = apply(ops.Pad(grown, 0.0 if value is None else value), input) if any(map(any, grown)) else input
    if all(a >= 0 and b >= 0 for a, b in pairs):
        return y
    crop = tuple(slice(-min(a, 0), n - (-min(b, 0))) for (a, b), n in zip(pairs, y.shape))
    return y[crop]


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None) -> Tensor:
    """Zero whole channels: each (n, c) plane is dropped with probability p, the rest
    scaled by 1/(1-p).   input: (N, C, H, W)

    The mask (N, C, 1, 1) is a constant, so the gradient is gy * mask / (1-p).
    inplace=True writes the result into input."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: p must be in [0, 1], got {p}")
    if input.ndim != 4:
        raise NotImplementedError(f"dropout2d: input of shape {input.shape} is not supported by minires: "
                                  f"only batched (N, C, H, W) images (torch also takes (C, H, W))")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input.mul_(0.0) if inplace else input * 0.0
    rng = generator or default_generator()
    keep = _as_tensor((rng.random(input.shape[:2] + (1, 1)) >= p).astype(input.dtype) / (1 - p), like=input)
    return input.mul_(keep) if inplace else input * keep


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False) -> Tensor:
    """Max pooling to a fixed output size.

    input: (N, C, H, W)   output_size: int or (OH, OW) (None keeps that input size)
    returns (N, C, OH, OW); the sizes must divide H and W (windows H/OH x W/OW, as torch's
    then are). return_indices=True raises NotImplementedError."""
    _require_4d(input, "adaptive_max_pool2d")
    _unsupported("adaptive_max_pool2d", return_indices=(return_indices, not return_indices))
    window = _adaptive_window(input, output_size, "adaptive_max_pool2d") or input.shape[2:]
    return apply(ops.MaxPool2d(window, window, (0, 0)), input)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Integer labels (*) -> (*, num_classes) int64 of 0 and 1; num_classes=-1 uses max + 1.

    >>> import minires as mr
    >>> one_hot(mr.tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: needs an integer tensor of class labels, got dtype {tensor.dtype}")
    labels = tensor.array
    xp = backend.array_module(labels)
    if num_classes == -1:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes}), got min {int(labels.min())} "
                         f"max {int(labels.max())}")
    return Tensor(xp.eye(num_classes, dtype=np.int64)[labels])
