"""Misusing the API gives an error that names the op or argument, the value given, and
what is allowed (not a raw numpy error from deep inside a kernel)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minires as mr
import minires.nn.functional as F


def uint8_images(*shape):
    return mr.Tensor(np.zeros(shape, dtype=np.uint8))


def int64_tensor(*shape):
    return mr.Tensor(np.zeros(shape, dtype=np.int64))


# ---------------------------------------------------------------- integer input to a float layer


@pytest.mark.parametrize("make, dtype", [(uint8_images, "uint8"), (int64_tensor, "int64")])
def test_conv2d_on_integer_input_names_the_op_and_the_dtype(make, dtype):
    conv = mr.nn.Conv2d(3, 4, 3)
    with pytest.raises(TypeError, match=rf"conv2d: input must be a floating-point tensor .* got dtype {dtype}"):
        conv(make(1, 3, 8, 8))
    with pytest.raises(TypeError, match=rf"conv2d: input must be a floating-point .* got dtype {dtype}"):
        F.conv2d(make(1, 3, 8, 8), conv.weight)


def test_uint8_images_get_the_scaling_hint():
    with pytest.raises(TypeError, match=r"x\.float\(\) / 255"):
        mr.nn.Conv2d(3, 4, 3)(uint8_images(1, 3, 8, 8))


def test_conv2d_with_an_integer_weight_names_the_weight():
    with pytest.raises(TypeError, match="conv2d: weight must be a floating-point tensor .* got dtype int64"):
        F.conv2d(mr.zeros(1, 3, 8, 8), int64_tensor(4, 3, 3, 3))


def test_linear_on_integer_or_other_float_input():
    layer = mr.nn.Linear(3, 4)
    with pytest.raises(TypeError, match="linear: input must be a floating-point tensor .* got dtype int64"):
        layer(int64_tensor(2, 3))
    with pytest.raises(TypeError, match="linear: all tensors need one floating dtype, got input is float64, "
                                        "weight is float32"):
        layer(mr.zeros(2, 3, dtype=mr.float64))


def test_batch_norm_on_integer_input():
    with pytest.raises(TypeError, match="batch_norm: input must be a floating-point tensor .* got dtype int64"):
        mr.nn.BatchNorm2d(3)(int64_tensor(2, 3, 4, 4))
    with pytest.raises(TypeError, match="batch_norm: input must be a floating-point tensor .* got dtype uint8"):
        mr.nn.BatchNorm2d(3).eval()(uint8_images(2, 3, 4, 4))


@pytest.mark.parametrize("pool", [lambda x: F.avg_pool2d(x, 2), lambda x: F.adaptive_avg_pool2d(x, 1),
                                  lambda x: mr.nn.AvgPool2d(2)(x), lambda x: mr.nn.AdaptiveAvgPool2d(1)(x)])
def test_average_pools_refuse_integers_rather_than_truncate(pool):
    with pytest.raises(TypeError, match=r"avg_pool2d: input must be a floating-point tensor .* got dtype uint8"):
        pool(uint8_images(1, 3, 4, 4))


def test_max_pool_of_integers_is_exact_and_allowed():
    x = mr.Tensor(np.arange(16, dtype=np.uint8).reshape(1, 1, 4, 4))
    assert F.max_pool2d(x, 2).tolist() == [[[[5, 7], [13, 15]]]]


# ---------------------------------------------------------------- wrong number of dimensions


def test_linear_on_a_0d_tensor():
    with pytest.raises(ValueError, match=r"linear: input must have at least 1 dimension .* got a 0-d tensor"):
        mr.nn.Linear(3, 4)(mr.tensor(1.0))
    assert mr.nn.Linear(3, 4)(mr.zeros(3)).shape == (4,)  # 1-D input works, as in PyTorch


def test_linear_weight_and_bias_shapes():
    with pytest.raises(ValueError, match=r"linear: weight must be \(out_features, in_features\), got shape \(3,\)"):
        F.linear(mr.zeros(2, 3), mr.zeros(3))
    with pytest.raises(ValueError, match=r"linear: bias must be \(out_features,\) = \(4,\), got shape \(3,\)"):
        F.linear(mr.zeros(2, 3), mr.zeros(4, 3), mr.zeros(3))


@pytest.mark.parametrize("op", [lambda x: F.conv2d(x, mr.zeros(4, 3, 3, 3)), lambda x: F.max_pool2d(x, 2),
                                lambda x: F.avg_pool2d(x, 2), lambda x: mr.nn.Conv2d(3, 4, 3)(x)])
def test_unbatched_3d_input_says_to_add_the_batch_axis(op):
    with pytest.raises(ValueError, match=r"input must be \(N, C, H, W\), got shape \(3, 8, 8\); an unbatched "
                                         r"\(C, H, W\) image.* is not supported here.*x\.unsqueeze\(0\)"):
        op(mr.zeros(3, 8, 8))


@pytest.mark.parametrize("shape", [(8, 8), (1, 1, 3, 8, 8)])
def test_conv2d_on_other_ndims(shape):
    with pytest.raises(ValueError, match=re.escape(f"conv2d: input must be (N, C, H, W), got shape {shape}")):
        F.conv2d(mr.zeros(*shape), mr.zeros(4, 3, 3, 3))


def test_batch_norm_on_3d_input():
    with pytest.raises(ValueError, match=r"BatchNorm2d: input must be \(N, C, H, W\), got shape \(2, 3, 4\)$"):
        mr.nn.BatchNorm2d(3)(mr.zeros(2, 3, 4))


# ---------------------------------------------------------------- requires_grad


def test_setting_requires_grad_on_an_integer_tensor_is_refused():
    t = mr.tensor([1, 2, 3])
    with pytest.raises(TypeError, match="requires_grad: only floating-point tensors can require grad, "
                                        "got dtype int64"):
        t.requires_grad = True
    assert not t.requires_grad
    with pytest.raises(TypeError, match="requires_grad_: only floating-point tensors .* got dtype int64"):
        t.requires_grad_()
    t.requires_grad = False  # turning it off is always fine on a leaf


def test_setting_requires_grad_on_a_non_leaf_is_refused():
    x = mr.zeros(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"requires_grad: only leaf tensors .* made by MulBackward0; use \.detach\(\)"):
        y.requires_grad = False
    with pytest.raises(RuntimeError, match="requires_grad_: only leaf tensors"):
        y.requires_grad_(False)


def test_requires_grad_setter_on_a_float_leaf_freezes_and_unfreezes():
    w = mr.ones(3, requires_grad=True)
    w.requires_grad = False
    x = mr.ones(3, requires_grad=True)
    (w * x).sum().backward()
    assert w.grad is None and x.grad.tolist() == [1.0, 1.0, 1.0]
    w.requires_grad = True
    (w * x).sum().backward()
    assert w.grad.tolist() == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------- .to(...)


@pytest.mark.parametrize("target", ["gpu", "cuda:x", "cpu:0", "GPU"])
def test_to_an_unknown_device_names_the_argument_and_what_is_allowed(target):
    with pytest.raises(ValueError, match=rf"to: '{target}' is neither a device nor a dtype; expected 'cpu', "
                                         r"'cuda', 'cuda:N' .* or a dtype"):
        mr.zeros(3).to(target)


@pytest.mark.parametrize("target", [None, 5])
def test_to_something_that_is_not_a_device_or_dtype(target):
    with pytest.raises(TypeError, match=r"to: .*expected 'cpu', 'cuda', 'cuda:N'"):
        mr.zeros(3).to(target)


def test_to_a_dtype_minires_does_not_hold():
    with pytest.raises(TypeError, match="to: minires tensors hold bool, integer or floating dtypes, got <U5"):
        mr.zeros(3).to("U5")


def test_to_still_takes_devices_and_dtypes():
    x = mr.zeros(3, requires_grad=True)
    assert x.to("cpu") is x
    assert x.to("float64").dtype == np.float64 and x.to(mr.float64).grad_fn is not None
    assert x.to(mr.int64).dtype == np.int64
    if not mr.backend.gpu_available():
        with pytest.raises(RuntimeError, match="device 'cuda' needs CuPy"):
            x.to("cuda:0")  # a well-formed device: the error is that there is no GPU, not the spelling


def test_module_to_an_unknown_device_names_the_argument_and_moves_nothing():
    layer = mr.nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"Module.to: 'gpu' is neither a device nor a dtype; expected 'cpu'"):
        layer.to("gpu")
    assert layer.weight.dtype == np.float32 and layer.to("float64").weight.dtype == np.float64
