"""The layers: each a Module holding its parameters and calling one functional form.

Shapes as in PyTorch: images are (N, C, H, W), features (N, F).
"""

from __future__ import annotations

import numpy as np

from ..creation import ones, zeros
from ..tensor import Tensor
from . import functional as F
from . import init
from .container import Sequential  # noqa: F401  (it lived here; nn/container.py now)
from .functional import _pair
from .module import Module, Parameter


class Linear(Module):
    """y = x @ weight^T + bias.   x: (N, in_features)  y: (N, out_features)
    weight: (out_features, in_features), bias: (out_features,); PyTorch's default init."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        dtype = dtype or np.float32
        self.weight = Parameter(zeros(out_features, in_features, dtype=dtype))
        self.bias = Parameter(zeros(out_features, dtype=dtype)) if bias else None
        init.default_uniform_(self.weight, self.bias)
        _to_device(self, device)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution.   x: (N, in_channels, H, W)  y: (N, out_channels, OH, OW)
    weight: (out_channels, in_channels // groups, KH, KW), bias: (out_channels,)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        F._unsupported("Conv2d", padding_mode=(padding_mode, padding_mode == "zeros"))
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.padding_mode = padding_mode
        # checked here, so a wrong setting fails when the layer is built, not at its first call
        self.kernel_size, self.stride = _pair(kernel_size, "kernel_size", "Conv2d"), _pair(stride, "stride", "Conv2d")
        self.dilation = _pair(dilation, "dilation", "Conv2d")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' needs stride 1 (as in torch), got stride={self.stride}")
            self.padding = padding
        else:
            self.padding = _pair(padding, "padding", "Conv2d", minimum=0)
        dtype = dtype or np.float32
        self.weight = Parameter(zeros(out_channels, in_channels // groups, *self.kernel_size, dtype=dtype))
        self.bias = Parameter(zeros(out_channels, dtype=dtype)) if bias else None
        init.default_uniform_(self.weight, self.bias)
        _to_device(self, device)

    def forward(self, x: Tensor) -> Tensor:
        padding = self.padding
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            # total padding dilation*(K-1) per axis; torch puts the odd one at the bottom/right
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            padding = tuple(t // 2 for t in totals)
            if any(t % 2 for t in totals):
                x = F.pad(x, (0, totals[1] % 2, 0, totals[0] % 2))
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class _BatchNorm(Module):
    """Batch normalization per channel (the shared body of BatchNorm1d and BatchNorm2d).

    Training: normalise with the batch's statistics and update the running ones
    (running = (1 - momentum) * running + momentum * batch, variance unbiased;
    momentum=None keeps the cumulative average, momentum = 1 / num_batches_tracked).
    Evaluation: normalise with the running statistics, or with the batch's own when
    track_running_stats=False (then there are none), as torch. affine=False: no weight
    (gamma) or bias (beta); otherwise they start at 1 and 0."""

    _dims: tuple[int, ...] = ()
    _shapes = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        dtype = dtype or np.float32
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", Tensor(np.zeros((), dtype=np.int64)))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        _to_device(self, device)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._dims:
            raise ValueError(f"{type(self).__name__}: input must be {self._shapes}, got shape {x.shape}")
        use_batch_stats = self.training or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array = self.num_batches_tracked.array + 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.array)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, training=use_batch_stats, momentum=momentum, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization per feature.   x, y: (N, num_features) or (N, num_features, L)"""

    _dims, _shapes = (2, 3), "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization per channel.   x, y: (N, num_features, H, W)"""

    _dims, _shapes = (4,), "(N, C, H, W)"


def _to_device(module: Module, device) -> None:
    """torch's device= constructor argument: None keeps the CPU."""
    if device is not None:
        module.to(str(device))


class ReLU(Module):
    """y = max(x, 0), any shape. inplace=True overwrites x with y (x.relu_()), so the
    graph keeps one array instead of two; gradients are the same."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class MaxPool2d(Module):
    """Max over kernel_size windows.   x: (N, C, H, W)  y: (N, C, OH, OW)
    ceil_mode=True rounds the output size up; dilation other than 1 and return_indices=True
    raise NotImplementedError."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        F._unsupported("MaxPool2d", dilation=(dilation, _pair(dilation, "dilation", "MaxPool2d") == (1, 1)),
                       return_indices=(return_indices, not return_indices))
        self.kernel_size, self.stride, self.padding = kernel_size, stride if stride is not None else kernel_size, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over kernel_size windows.   x: (N, C, H, W)  y: (N, C, OH, OW)
    count_include_pad, ceil_mode and divisor_override as torch (see F.avg_pool2d)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride if stride is not None else kernel_size, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to output_size.   x: (N, C, H, W)  y: (N, C, OH, OW)"""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to output_size.   x: (N, C, H, W)  y: (N, C, OH, OW) (sizes must divide H, W)"""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        F._unsupported("AdaptiveMaxPool2d", return_indices=(return_indices, not return_indices))
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_max_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Flatten(Module):
    """Merge dims start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)


class Dropout(Module):
    """Zero entries with probability p while training (scaling the rest by 1/(1-p)).
    inplace=True writes the result into x."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zero whole channels with probability p while training.   x, y: (N, C, H, W)"""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training, self.inplace)


class Identity(Module):
    """y = x. Any constructor arguments are accepted and ignored, as in torch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x
