"""benchmarks/zoo/: the plain PyTorch models benchmarks/bench_zoo.py times run under minires with only the imports swapped.

Every zoo model builds under the swap, runs one training step's forward and backward at
batch 2 on the smallest input it takes (32x32 for the nets that end in a fixed-size
avg_pool2d, 16x16 for DenseNet-BC), and has its source's parameter count; where PyTorch is
installed, the same file built by torch has that count too. DenseNet-BC's file is the twin
of minires.nn.models.densenet_bc100, so its state_dict keys are checked against minires's.
"""

from __future__ import annotations

import ast
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import minires as mr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import zoo  # benchmarks/zoo/, found through the line above

# the parameter counts at 10 classes, as the sources build them (kuangliu/pytorch-cifar's
# models, WRN-16-4 as the paper's table; DenseNet-BC-100 as minires.nn.models.densenet_bc100)
PARAMETERS = {
    "wrn16-4": 2_748_890,
    "kuangliu-resnet18": 11_173_962,
    "kuangliu-preact18": 11_171_146,
    "kuangliu-vgg16": 14_728_266,
    "kuangliu-mobilenetv2": 2_296_922,
    "kuangliu-densenet": 1_000_618,
    "kuangliu-resnext29": 9_128_778,
    "densenet-bc100": 769_162,
}
INPUT_SIDE = {"densenet-bc100": 16}  # adaptive pooling; the others end in a pool sized for 32x32 inputs


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_zoo_model_is_listed_and_every_file_is_plain_pytorch():
    assert set(PARAMETERS) == set(zoo.MODELS)
    assert {file for file, _ in zoo.MODELS.values()} == set(zoo.FILES)
    for name in zoo.FILES:
        tree = ast.parse((zoo.HERE / f"{name}.py").read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert imported <= {"math", "torch", "torch.nn", "torch.nn.functional"}, f"{name}.py imports {imported}"
        assert "torch.nn" in imported, f"{name}.py should import torch.nn as a PyTorch file does"


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_zoo_model_trains_a_step_under_minires(name):
    before = sys.modules.get("torch")
    model = zoo.build(name, "minires")
    assert sys.modules.get("torch") is before, "the swap must be undone"
    assert isinstance(model, mr.nn.Module)
    assert count(model) == PARAMETERS[name]
    side = INPUT_SIDE.get(name, 32)
    rng = np.random.default_rng(0)
    x = mr.tensor(rng.standard_normal((2, 3, side, side), dtype=np.float32))
    logits = model(x)
    assert logits.shape == (2, 10)
    loss = mr.nn.functional.cross_entropy(logits, mr.tensor(np.array([3, 7])))
    loss.backward()
    assert math.isfinite(loss.item())
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{name}: no gradient reached {missing[:5]}"


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_zoo_model_has_the_same_parameter_count_under_torch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    model = zoo.build(name, "torch")
    assert isinstance(model, torch.nn.Module)
    assert count(model) == PARAMETERS[name] == count(zoo.build(name, "minires"))


def test_densenet_bc_file_is_the_twin_of_minires_densenet_bc100():
    from minires.nn import models

    ours, theirs = models.densenet_bc100(), zoo.build("densenet-bc100", "minires")
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
           {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
