"""torch.nn's losses, layers, containers, init and clip_grad in minires: every new op
gradchecked in float64 with a random cotangent, compared with torch (float64, forward and
backward) where torch is installed, and every unsupported torch setting refused by name."""

from __future__ import annotations

from collections import OrderedDict
from functools import partial

import numpy as np
import pytest
from helpers import assert_close, random_array, random_tensor

import minires as mr
import minires.nn.functional as F
from minires import nn

LABELS = np.array([2, 0, 4, 1])
IGNORED = np.array([2, -100, 4, 1])
LABELS_2D = np.array([[0, 2, 1], [2, 2, 0]])  # (N, d1) for (N, C, d1) scores
WEIGHT = np.array([0.5, 1.0, 2.0, 1.5, 0.25])


def labels(a):
    return mr.tensor(a)


def seeded(fn):
    """fn with the dropout mask drawn the same way on every call (gradcheck calls it often)."""
    def call(*args):
        mr.manual_seed(3)
        return fn(*args)
    return call


# name -> (minires fn, torch fn (t, TF) -> fn, input shapes); the torch fn takes the same tensors
CASES = {
    "cross_entropy": (lambda x: F.cross_entropy(x, labels(LABELS)),
                      lambda t, TF: lambda x: TF.cross_entropy(x, t.tensor(LABELS)), [(4, 5)]),
    "cross_entropy_weight_ignore_smooth": (
        lambda x: F.cross_entropy(x, labels(IGNORED), weight=mr.tensor(WEIGHT), label_smoothing=0.2),
        lambda t, TF: lambda x: TF.cross_entropy(x, t.tensor(IGNORED), weight=t.tensor(WEIGHT),
                                                 label_smoothing=0.2), [(4, 5)]),
    "cross_entropy_sum_weight": (
        lambda x: F.cross_entropy(x, labels(IGNORED), weight=mr.tensor(WEIGHT), reduction="sum"),
        lambda t, TF: lambda x: TF.cross_entropy(x, t.tensor(IGNORED), weight=t.tensor(WEIGHT), reduction="sum"),
        [(4, 5)]),
    "cross_entropy_none_smooth": (
        lambda x: F.cross_entropy(x, labels(IGNORED), reduction="none", label_smoothing=0.1),
        lambda t, TF: lambda x: TF.cross_entropy(x, t.tensor(IGNORED), reduction="none", label_smoothing=0.1),
        [(4, 5)]),
    "cross_entropy_spatial": (
        lambda x: F.cross_entropy(x, labels(LABELS_2D), weight=mr.tensor(WEIGHT[:3])),
        lambda t, TF: lambda x: TF.cross_entropy(x, t.tensor(LABELS_2D), weight=t.tensor(WEIGHT[:3])),
        [(2, 3, 3)]),
    "cross_entropy_unbatched": (lambda x: F.cross_entropy(x, labels(np.array(3))),
                                lambda t, TF: lambda x: TF.cross_entropy(x, t.tensor(3)), [(5,)]),
    "cross_entropy_probabilities": (
        lambda x, p: F.cross_entropy(x, p.softmax(1), weight=mr.tensor(WEIGHT), label_smoothing=0.1),
        lambda t, TF: lambda x, p: TF.cross_entropy(x, p.softmax(1), weight=t.tensor(WEIGHT), label_smoothing=0.1),
        [(4, 5), (4, 5)]),
    "nll_loss_weight_ignore": (
        lambda x: F.nll_loss(x, labels(IGNORED), weight=mr.tensor(WEIGHT)),
        lambda t, TF: lambda x: TF.nll_loss(x, t.tensor(IGNORED), weight=t.tensor(WEIGHT)), [(4, 5)]),
    "nll_loss_none": (lambda x: F.nll_loss(x, labels(LABELS), reduction="none"),
                      lambda t, TF: lambda x: TF.nll_loss(x, t.tensor(LABELS), reduction="none"), [(4, 5)]),
    "mse_loss": (F.mse_loss, lambda t, TF: TF.mse_loss, [(3, 4), (3, 4)]),
    "mse_loss_sum": (partial(F.mse_loss, reduction="sum"), lambda t, TF: partial(TF.mse_loss, reduction="sum"),
                     [(3, 4), (3, 4)]),
    "l1_loss_none": (partial(F.l1_loss, reduction="none"), lambda t, TF: partial(TF.l1_loss, reduction="none"),
                     [(3, 4), (3, 4)]),
    "l1_loss": (F.l1_loss, lambda t, TF: TF.l1_loss, [(2, 5), (2, 5)]),
    "bce_with_logits": (lambda x, p: F.binary_cross_entropy_with_logits(x, p.sigmoid()),
                        lambda t, TF: lambda x, p: TF.binary_cross_entropy_with_logits(x, p.sigmoid()),
                        [(3, 4), (3, 4)]),
    "bce_with_logits_weights": (
        lambda x, p: F.binary_cross_entropy_with_logits(x, p.sigmoid(), weight=mr.tensor(WEIGHT[:4]),
                                                        pos_weight=mr.tensor(WEIGHT[1:]), reduction="sum"),
        lambda t, TF: lambda x, p: TF.binary_cross_entropy_with_logits(
            x, p.sigmoid(), weight=t.tensor(WEIGHT[:4]), pos_weight=t.tensor(WEIGHT[1:]), reduction="sum"),
        [(3, 4), (3, 4)]),
    "leaky_relu": (partial(F.leaky_relu, negative_slope=0.2), lambda t, TF: partial(TF.leaky_relu, negative_slope=0.2),
                   [(3, 4)]),
    "softmax_implicit_dim": (lambda x: F.softmax(x, dim=1), lambda t, TF: lambda x: TF.softmax(x, dim=1), [(3, 4)]),
    "pad_last_dims_first": (lambda x: F.pad(x, (1, 2, 0, 1, 2, 2)), lambda t, TF: lambda x: TF.pad(x, (1, 2, 0, 1, 2, 2)),
                            [(2, 3, 3, 4)]),
    "pad_negative_crops": (lambda x: F.pad(x, (-1, 2, 1, -2), value=0.5),
                           lambda t, TF: lambda x: TF.pad(x, (-1, 2, 1, -2), value=0.5), [(2, 3, 4, 5)]),
    "max_pool_ceil_mode": (partial(F.max_pool2d, kernel_size=3, stride=2, padding=1, ceil_mode=True),
                           lambda t, TF: partial(TF.max_pool2d, kernel_size=3, stride=2, padding=1, ceil_mode=True),
                           [(2, 2, 6, 8)]),
    "avg_pool_exclude_pad": (
        partial(F.avg_pool2d, kernel_size=3, stride=2, padding=1, count_include_pad=False),
        lambda t, TF: partial(TF.avg_pool2d, kernel_size=3, stride=2, padding=1, count_include_pad=False),
        [(2, 2, 7, 6)]),
    "avg_pool_ceil_mode": (
        partial(F.avg_pool2d, kernel_size=3, stride=2, padding=1, ceil_mode=True),
        lambda t, TF: partial(TF.avg_pool2d, kernel_size=3, stride=2, padding=1, ceil_mode=True), [(1, 2, 6, 6)]),
    "avg_pool_ceil_exclude_pad": (
        partial(F.avg_pool2d, kernel_size=2, stride=2, ceil_mode=True, count_include_pad=False),
        lambda t, TF: partial(TF.avg_pool2d, kernel_size=2, stride=2, ceil_mode=True, count_include_pad=False),
        [(1, 2, 5, 7)]),
    "avg_pool_divisor_override": (
        partial(F.avg_pool2d, kernel_size=2, divisor_override=3),
        lambda t, TF: partial(TF.avg_pool2d, kernel_size=2, divisor_override=3), [(1, 2, 4, 4)]),
    "adaptive_max_pool_2x2": (partial(F.adaptive_max_pool2d, output_size=(2, None)),
                              lambda t, TF: partial(TF.adaptive_max_pool2d, output_size=(2, None)), [(2, 3, 4, 3)]),
    "adaptive_max_pool_1": (partial(F.adaptive_max_pool2d, output_size=1),
                            lambda t, TF: partial(TF.adaptive_max_pool2d, output_size=1), [(2, 3, 5, 4)]),
    "batch_norm_1d": (lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True),
                      lambda t, TF: lambda x, g, b: TF.batch_norm(x, None, None, g, b, training=True),
                      [(5, 3), (3,), (3,)]),
    "batch_norm_1d_with_length": (lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True),
                                  lambda t, TF: lambda x, g, b: TF.batch_norm(x, None, None, g, b, training=True),
                                  [(2, 3, 4), (3,), (3,)]),
}
NO_TORCH = {"dropout2d"}
CASES["dropout2d"] = (seeded(partial(F.dropout2d, p=0.5)), None, [(3, 4, 2, 2)])


@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name):
    fn, _, shapes = CASES[name]
    inputs = [random_tensor(s, seed=i, layout="transposed" if i == 0 else "contiguous")
              for i, s in enumerate(shapes)]
    assert mr.gradcheck(fn, *inputs, name=name)


@pytest.mark.parametrize("name", [n for n in CASES if n not in NO_TORCH])
def test_matches_torch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    fn, torch_fn, shapes = CASES[name]
    arrays = [random_array(s, seed=i) for i, s in enumerate(shapes)]
    ours = [mr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, y_t = fn(*ours), torch_fn(torch, torch.nn.functional)(*theirs)
    assert_close(y.numpy(), y_t.detach().numpy(), f"{name} forward", atol=1e-10, rtol=1e-10)
    gy = random_array(y.shape, seed=7)
    y.backward(gy)
    y_t.backward(torch.tensor(gy))
    for i, (a, a_t) in enumerate(zip(ours, theirs)):
        assert_close(a.grad, a_t.grad.numpy(), f"{name} gradient of input {i}", atol=1e-10, rtol=1e-10)


def test_dropout2d_drops_whole_channels():
    mr.manual_seed(0)
    y = F.dropout2d(mr.ones(8, 16, 3, 3), p=0.5).numpy()
    planes = y.reshape(8, 16, 9)
    assert ((planes == 0).all(axis=2) | (planes == 2).all(axis=2)).all(), "each plane is all 0 or all 1/(1-p)"
    assert 0 < (planes == 0).all(axis=2).sum() < 8 * 16
    assert F.dropout2d(mr.ones(2, 3, 2, 2), training=False).numpy().tolist() == np.ones((2, 3, 2, 2)).tolist()


def test_one_hot():
    assert F.one_hot(mr.tensor([0, 2, 1])).numpy().tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert F.one_hot(mr.tensor([[1], [0]]), 3).shape == (2, 1, 3)
    assert F.one_hot(mr.tensor([1])).dtype == np.int64
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        F.one_hot(mr.tensor([2]), 2)


# ---------------------------------------------------------------- layers and their torch arguments


def _copy_params(ours, theirs, torch):
    with torch.no_grad():
        for (name, p), (name_t, p_t) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == name_t
            p_t.copy_(torch.tensor(p.numpy()))


@pytest.mark.parametrize("kernel, dilation", [(3, 1), (4, 1), (2, 2), ((3, 2), 1)])
def test_conv2d_padding_same_matches_torch(kernel, dilation):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    ours = nn.Conv2d(2, 3, kernel, padding="same", dilation=dilation, dtype=np.float64)
    theirs = torch.nn.Conv2d(2, 3, kernel, padding="same", dilation=dilation, dtype=torch.float64)
    _copy_params(ours, theirs, torch)
    x = random_array((2, 2, 5, 6))
    xm, xt = mr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, y_t = ours(xm), theirs(xt)
    assert y.shape == (2, 3, 5, 6)
    assert_close(y.numpy(), y_t.detach().numpy(), "Conv2d(padding='same') forward", atol=1e-12)
    gy = random_array(y.shape, seed=5)
    y.backward(gy)
    y_t.backward(torch.tensor(gy))
    assert_close(xm.grad, xt.grad.numpy(), "Conv2d(padding='same') input gradient", atol=1e-12)
    assert nn.Conv2d(2, 3, 3, padding="valid")(mr.zeros(1, 2, 5, 5)).shape == (1, 3, 3, 3)


@pytest.mark.parametrize("momentum, track, affine", [(0.1, True, True), (None, True, False), (0.1, False, True)])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batchnorm1d_matches_torch(momentum, track, affine, shape):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    ours = nn.BatchNorm1d(3, momentum=momentum, track_running_stats=track, affine=affine, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(3, momentum=momentum, track_running_stats=track, affine=affine,
                                  dtype=torch.float64)
    assert len(list(ours.parameters())) == (2 if affine else 0)
    for step in range(3):
        x = random_array(shape, seed=step)
        assert_close(ours(mr.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), "train", atol=1e-12)
    for name, b in ours.named_buffers():
        assert_close(b.numpy(), dict(theirs.named_buffers())[name].numpy(), f"buffer {name}", atol=1e-12)
    ours.eval(), theirs.eval()
    x = random_array(shape, seed=9)
    assert_close(ours(mr.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), "eval", atol=1e-12)


def test_layers_match_torch_modules():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    x = random_array((2, 3, 4, 4))
    pairs = [
        (nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Tanh(), torch.nn.Tanh()),
        (nn.LeakyReLU(0.1, inplace=True), torch.nn.LeakyReLU(0.1)), (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
        (nn.LogSoftmax(dim=-1), torch.nn.LogSoftmax(dim=-1)), (nn.AdaptiveMaxPool2d(2), torch.nn.AdaptiveMaxPool2d(2)),
        (nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
        (nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
         torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)),
    ]
    for ours, theirs in pairs:
        assert_close(ours(mr.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(), repr(ours), atol=1e-12)
    logits, target = random_array((4, 5)), IGNORED
    losses = [
        (nn.CrossEntropyLoss(weight=mr.tensor(WEIGHT), label_smoothing=0.3),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(WEIGHT), label_smoothing=0.3)),
        (nn.CrossEntropyLoss(ignore_index=-100, reduction="sum"),
         torch.nn.CrossEntropyLoss(ignore_index=-100, reduction="sum")),
        (nn.NLLLoss(reduction="none"), torch.nn.NLLLoss(reduction="none")),
    ]
    for ours, theirs in losses:
        assert_close(ours(mr.tensor(logits), mr.tensor(target)).numpy(),
                     theirs(torch.tensor(logits), torch.tensor(target)).numpy(), repr(ours), atol=1e-12)
    a, b = random_array((3, 4), seed=1), random_array((3, 4), seed=2)
    for ours, theirs in [(nn.MSELoss(), torch.nn.MSELoss()), (nn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum")),
                         (nn.BCEWithLogitsLoss(pos_weight=mr.tensor(WEIGHT[:4])),
                          torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(WEIGHT[:4])))]:
        target = 1 / (1 + np.exp(-b))
        assert_close(ours(mr.tensor(a), mr.tensor(target)).numpy(),
                     theirs(torch.tensor(a), torch.tensor(target)).numpy(), repr(ours), atol=1e-12)


def test_unsupported_settings_raise_naming_them():
    cases = [
        (lambda: nn.Conv2d(1, 1, 3, padding_mode="reflect"), "padding_mode='reflect'"),
        (lambda: nn.MaxPool2d(2, dilation=2), "dilation=2"),
        (lambda: nn.MaxPool2d(2, return_indices=True), "return_indices=True"),
        (lambda: nn.AdaptiveMaxPool2d(2, return_indices=True), "return_indices=True"),
        (lambda: F.pad(mr.zeros(1, 1, 3, 3), (1, 1), mode="reflect"), "mode='reflect'"),
        (lambda: nn.CrossEntropyLoss(size_average=True), "size_average=True"),
        (lambda: F.mse_loss(mr.zeros(2), mr.zeros(2), reduce=False), "reduce=False"),
        (lambda: F.adaptive_max_pool2d(mr.zeros(1, 1, 5, 5), 2), r"output size \(2, 2\) must divide"),
        (lambda: F.dropout2d(mr.zeros(3, 4, 4)), r"\(3, 4, 4\)"),
        (lambda: nn.DataParallel(nn.Identity(), device_ids=[0, 1]), r"device_ids=\[0, 1\]"),
    ]
    for make, text in cases:
        with pytest.raises(NotImplementedError, match=text):
            make()
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")


def test_constructors_take_torch_arguments():
    assert nn.Linear(2, 3, bias=False, device="cpu", dtype=np.float64).weight.dtype == np.float64
    assert nn.BatchNorm2d(3, affine=False).weight is None
    assert nn.BatchNorm2d(3, track_running_stats=False).running_mean is None
    assert nn.Dropout(0.2, inplace=True)(mr.ones(2)).shape == (2,)
    assert nn.Dropout2d(0.2).eval()(mr.ones(1, 2, 2, 2)).shape == (1, 2, 2, 2)
    assert nn.Identity(54, unused="x")(mr.ones(2)).shape == (2,)
    assert nn.AvgPool2d(2, count_include_pad=False, divisor_override=None)(mr.ones(1, 1, 4, 4)).shape == (1, 1, 2, 2)
    bn = nn.BatchNorm2d(2, track_running_stats=False, dtype=np.float64).eval()
    x = random_tensor((3, 2, 2, 2), requires_grad=False)
    y = bn(x).numpy()  # batch statistics in eval too, as torch
    assert_close(y.mean(axis=(0, 2, 3)), np.zeros(2), "eval without running stats normalises by the batch", atol=1e-6)


# ---------------------------------------------------------------- containers and Module methods


def test_module_list_and_dict_register_their_modules():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 3)])
    layers.append(nn.ReLU())
    layers.insert(0, nn.Identity())
    layers += [nn.Tanh()]
    assert [type(m).__name__ for m in layers] == ["Identity", "Linear", "Linear", "ReLU", "Tanh"]
    assert isinstance(layers[-1], nn.Tanh) and len(layers[1:3]) == 2
    del layers[0]
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2", "3"]
    assert list(layers.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
    heads["b"] = nn.Linear(2, 4)
    assert list(heads) == ["a", "b"] and "b" in heads and len(heads) == 2
    assert list(heads.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    with pytest.raises(NotImplementedError):
        layers(mr.zeros(1, 2))
    seq = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.ReLU()))
    assert isinstance(seq[0:1], nn.Sequential) and list(seq[0:1].state_dict()) == ["fc.weight", "fc.bias"]


def test_module_apply_add_module_and_named_walks():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)))
    order = []
    assert model.apply(lambda m: order.append(type(m).__name__)) is model
    assert order == ["Linear", "Linear", "BatchNorm1d", "Sequential", "Sequential"]  # children first, as torch
    model.apply(lambda m: nn.init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
    assert not model[0].weight.numpy().any()
    model.add_module("head", nn.Linear(3, 1))
    assert [n for n, _ in model.named_children()] == ["0", "1", "head"]
    assert [n for n, _ in model.named_modules()] == ["", "0", "1", "1.0", "1.1", "head"]
    assert [n for n, _ in model.named_buffers()] == ["1.1.running_mean", "1.1.running_var", "1.1.num_batches_tracked"]
    assert model.get_submodule("1.1") is model[1][1]
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, shared)
    assert len(list(twice.named_modules())) == 2 and len(list(twice.named_modules(remove_duplicate=False))) == 3
    assert model.requires_grad_(False) is model and not any(p.requires_grad for p in model.parameters())
    with pytest.raises(TypeError, match="must be a Module or None"):
        model.add_module("x", 3)


def test_data_parallel_runs_the_module_with_torch_state_dict_keys():
    model = nn.Linear(3, 2)
    wrapped = nn.DataParallel(model, device_ids=[0])
    x = mr.randn(4, 3)
    assert_close(wrapped(x).numpy(), model(x).numpy(), "DataParallel runs the module")
    assert list(wrapped.state_dict()) == ["module.weight", "module.bias"]
    assert wrapped.module is model and "one device" in nn.DataParallel.__doc__


# ---------------------------------------------------------------- init, against torch's formulas and samples


INITS = {
    "kaiming_normal_default": (lambda w: nn.init.kaiming_normal_(w), None),
    "kaiming_normal_fan_out_relu": (lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"), None),
    "kaiming_normal_leaky": (lambda w: nn.init.kaiming_normal_(w, a=0.2), None),
    "kaiming_uniform_sqrt5": (lambda w: nn.init.kaiming_uniform_(w, a=5**0.5), None),
    "kaiming_uniform_fan_out_tanh": (lambda w: nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="tanh"),
                                     None),
    "xavier_normal_gain": (lambda w: nn.init.xavier_normal_(w, gain=2.0), None),
    "xavier_uniform": (lambda w: nn.init.xavier_uniform_(w), None),
    "normal": (lambda w: nn.init.normal_(w, 0.5, 0.3), 0.5),
    "uniform": (lambda w: nn.init.uniform_(w, -2.0, 1.0), -0.5),
}


@pytest.mark.parametrize("name", INITS)
def test_init_std_matches_torch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    fill, mean = INITS[name]
    ours = fill(mr.zeros(64, 32, 3, 3, dtype=np.float64)).numpy()
    theirs = getattr(torch.nn.init, name.split("_")[0] + "_" + name.split("_")[1] + "_"
                     if name.startswith(("kaiming", "xavier")) else name + "_")
    torch.manual_seed(0)
    t = torch.zeros(64, 32, 3, 3, dtype=torch.float64)
    kwargs = {"kaiming_normal_fan_out_relu": {"mode": "fan_out", "nonlinearity": "relu"},
              "kaiming_normal_leaky": {"a": 0.2}, "kaiming_uniform_sqrt5": {"a": 5**0.5},
              "kaiming_uniform_fan_out_tanh": {"mode": "fan_out", "nonlinearity": "tanh"},
              "xavier_normal_gain": {"gain": 2.0}, "normal": {"mean": 0.5, "std": 0.3},
              "uniform": {"a": -2.0, "b": 1.0}}.get(name, {})
    theirs(t, **kwargs)
    std_t = t.std().item()
    assert abs(ours.std() - std_t) < 0.02 * std_t, f"{name}: std {ours.std()} vs torch's {std_t}"
    assert abs(ours.mean() - (mean or 0.0)) < 0.02 * std_t + 1e-3, f"{name}: mean {ours.mean()}"
    if "uniform" in name:  # the same bounds
        assert abs(ours.max() - t.max().item()) < 0.01 * std_t and abs(ours.min() - t.min().item()) < 0.01 * std_t


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    for args in [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",), ("leaky_relu", 0.3),
                 ("selu",)]:
        assert nn.init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args), rel=1e-12), args
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        nn.init.calculate_gain("gelu")


def test_constant_zeros_ones():
    w = mr.zeros(2, 3)
    assert (nn.init.constant_(w, 0.25).numpy() == 0.25).all()
    assert (nn.init.ones_(w).numpy() == 1).all() and not nn.init.zeros_(w).numpy().any()


# ---------------------------------------------------------------- clip_grad


@pytest.mark.parametrize("norm_type", [2.0, float("inf"), 1.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    grads = [random_array((3, 4), seed=1), random_array((5,), seed=2)]
    ours = [mr.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, p_t, g in zip(ours, theirs, grads):
        p.grad, p_t.grad = mr.tensor(g.copy()), torch.tensor(g.copy())
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, mr.Tensor) and total.shape == ()
    assert_close(total.numpy(), total_t.numpy(), "total norm", rtol=1e-12)
    for p, p_t in zip(ours, theirs):
        assert_close(p.grad, p_t.grad.numpy(), "clipped gradient", rtol=1e-12)


def test_clip_grad_value_and_nonfinite():
    p = mr.zeros(4, dtype=np.float64, requires_grad=True)
    p.grad = mr.tensor(np.array([-3.0, -0.5, 0.5, 3.0]))
    nn.utils.clip_grad_value_(p, 1.0)
    assert p.grad.numpy().tolist() == [-1.0, -0.5, 0.5, 1.0]
    p.grad = mr.tensor(np.array([np.inf, 1.0, 0.0, 0.0]))
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is inf"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
