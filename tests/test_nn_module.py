"""nn.Module: registration, traversal, modes, state_dict round trips and their errors, repr."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close

import minires as mr
from minires import nn


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(8, 3, bias=False))
        self.scale = nn.Parameter(mr.ones(3))
        self.register_buffer("steps", mr.zeros(1))

    def forward(self, x):
        return self.head(self.fc1(x)) * self.scale


def test_parameters_buffers_and_modules_are_found_by_name():
    model = TwoLayer()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "head.1.weight"]
    assert [n for n, _ in model.named_buffers()] == [
        "steps", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert [n for n, _ in model.named_modules()] == ["", "fc1", "bn", "head", "head.0", "head.1"]
    assert [n for n, _ in model.named_children()] == ["fc1", "bn", "head"]
    assert sum(p.numel() for p in model.parameters()) == 4 * 8 + 8 + 8 + 8 + 8 * 3 + 3


def test_shared_parameter_is_listed_once():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[1].weight = model[0].weight
    assert len(list(model.parameters())) == 3


def test_train_eval_zero_grad_and_freezing():
    model = TwoLayer()
    assert model.eval() is model and not model.head[1].training
    model.train()
    assert all(m.training for m in model.modules())
    model(mr.randn(2, 4)).sum().backward()
    assert model.fc1.weight.grad is not None
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.fc1.requires_grad_(False)
    model(mr.randn(2, 4)).sum().backward()
    assert model.fc1.weight.grad is None and model.head[1].weight.grad is not None


def test_state_dict_round_trip_and_dtype_conversion():
    a, b = TwoLayer(), TwoLayer()
    a.bn.running_mean.array[:] = 5
    b.load_state_dict(a.state_dict())
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert_close(y.numpy(), x.numpy(), name)
    b.double()
    assert b.fc1.weight.dtype == np.float64 and b.bn.num_batches_tracked.dtype == np.int64
    a.load_state_dict(b.state_dict())  # values take the receiving model's dtype
    assert a.fc1.weight.dtype == np.float32


def test_state_dict_errors_name_the_keys_and_shapes():
    model = TwoLayer()
    state = model.state_dict()
    del state["fc1.bias"]
    state["extra"] = mr.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['fc1.bias'\], unexpected keys \['extra'\]"):
        model.load_state_dict(state)
    assert model.load_state_dict(state, strict=False) == (["fc1.bias"], ["extra"])
    state = model.state_dict()
    state["fc1.weight"] = np.zeros((8, 5))
    with pytest.raises(ValueError, match=r"fc1.weight has shape \(8, 5\) in the state dict, but \(8, 4\) in the model"):
        model.load_state_dict(state)


def test_repr_is_nested_and_readable():
    text = repr(TwoLayer())
    assert text.splitlines()[0] == "TwoLayer("
    assert "  (fc1): Linear(in_features=4, out_features=8, bias=True)" in text
    assert "  (head): Sequential(\n    (0): ReLU()\n    (1): Linear(in_features=8, out_features=3, bias=False)\n  )" in text
    conv = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
    assert repr(conv) == "Conv2d(3, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)"


def test_batchnorm_layer_tracks_running_statistics_only_in_training():
    bn = nn.BatchNorm2d(3)
    x = mr.randn(4, 3, 2, 2)
    bn(x)
    assert bn.num_batches_tracked.item() == 1 and not np.allclose(bn.running_mean.numpy(), 0)
    bn.eval()
    before = bn.running_mean.numpy().copy()
    bn(x)
    assert np.array_equal(bn.running_mean.numpy(), before) and bn.num_batches_tracked.item() == 1


def test_dropout_scales_in_training_and_is_identity_in_eval():
    drop = nn.Dropout(0.5)
    x = mr.ones(1000)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 400 < (y == 0).sum() < 600
    assert drop.eval()(x) is x


def test_module_without_super_init_says_so():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match=r"call super\(\).__init__\(\) before assigning 'fc'"):
        Broken()


def test_linear_and_conv_default_init_bounds():
    mr.manual_seed(0)
    fc = nn.Linear(100, 50)
    assert np.abs(fc.weight.numpy()).max() <= 0.1 and np.abs(fc.weight.numpy()).max() > 0.09
    conv = nn.Conv2d(4, 8, 3)
    bound = 1 / np.sqrt(4 * 9)
    assert np.abs(conv.weight.numpy()).max() <= bound and np.abs(conv.bias.numpy()).max() <= bound
