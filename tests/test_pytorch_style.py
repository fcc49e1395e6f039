"""PyTorch scripts run with only the imports swapped: the promise `import minires as torch`.

tests/pytorch_style/ holds plain PyTorch programs written the way students copy them (the
official CIFAR-10 tutorial, a kuangliu/pytorch-cifar ResNet-18 trainer, an akamaster
ResNet-20 trainer). Each test execs one of them with minires installed in sys.modules under
torch's names (`torch`, `torch.nn`, `torch.nn.functional`, `torch.optim`,
`torch.utils.data`, ...), not one character of the script changed, and trains it a few
steps on a small CIFAR-like fixture. Where PyTorch is installed, the same script also runs
under torch from the same initial weights and the same batches, and the per-step losses
are compared.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from cifar_fixture import learnable_images

import minires
import minires.autograd
import minires.autograd.function
import minires.backends
import minires.backends.cudnn
import minires.nn
import minires.nn.functional
import minires.nn.init
import minires.optim
import minires.optim.lr_scheduler
import minires.utils
import minires.utils.data

SCRIPTS = Path(__file__).parent / "pytorch_style"

# the swap: each torch module name a script imports, and the minires module it gets instead
AS_TORCH = {
    "torch": minires,
    "torch.autograd": minires.autograd,
    "torch.autograd.function": minires.autograd.function,
    "torch.backends": minires.backends,
    "torch.backends.cudnn": minires.backends.cudnn,
    "torch.nn": minires.nn,
    "torch.nn.functional": minires.nn.functional,
    "torch.nn.init": minires.nn.init,
    "torch.optim": minires.optim,
    "torch.optim.lr_scheduler": minires.optim.lr_scheduler,
    "torch.utils": minires.utils,
    "torch.utils.data": minires.utils.data,
}


@contextlib.contextmanager
def minires_as_torch():
    """While inside, `import torch...` gives minires; afterwards sys.modules is as it was
    (a real torch imported before comes back)."""
    saved = {name: sys.modules.get(name) for name in AS_TORCH}
    sys.modules.update(AS_TORCH)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def load_script(name: str, under: str = "minires"):
    """A fresh module object for tests/pytorch_style/<name>.py, its imports resolved by minires or by torch."""
    spec = importlib.util.spec_from_file_location(f"pytorch_style_{name}_{under}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    with minires_as_torch() if under == "minires" else contextlib.nullcontext():
        spec.loader.exec_module(module)
    return module


def cifar(n_train: int, n_test: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    return learnable_images(n_train, rng), learnable_images(n_test, rng)


def test_scripts_are_plain_pytorch():
    # the scripts import torch and nothing of minires: the swap is the only change
    for path in SCRIPTS.glob("*.py"):
        source = path.read_text()
        assert "import torch\n" in source, path.name
        assert "import minires" not in source and "from minires" not in source, f"{path.name} must be plain PyTorch"


def test_swap_is_undone():
    before = sys.modules.get("torch")
    with minires_as_torch():
        import torch  # noqa: F401  (the swap's own check: this must be minires)

        assert sys.modules["torch"] is minires
    assert sys.modules.get("torch") is before


# ---------------------------------------------------------------------------- under minires

def test_tutorial_learns(capsys):
    tutorial = load_script("cifar10_tutorial")
    train, test = cifar(320)
    losses, accuracy = tutorial.main(train, test, epochs=4, batch_size=8, lr=0.005)
    assert len(losses) == 160 and all(isinstance(v, float) and math.isfinite(v) for v in losses)
    assert np.mean(losses[-20:]) < 0.6 * np.mean(losses[:20]), losses
    assert 0.3 <= accuracy <= 1  # chance is 0.1
    out = capsys.readouterr().out
    assert "GroundTruth:" in out and "Accuracy for class: plane" in out


def test_tutorial_predictions_are_int64_class_indices():
    tutorial = load_script("cifar10_tutorial")
    train, test = cifar(8)
    _, testloader = tutorial.loaders(train, test)
    accuracy, per_class, predicted = tutorial.evaluate(tutorial.build(), testloader)
    assert predicted.dtype == minires.int64 and predicted.shape == (4,)
    assert 0 <= accuracy <= 1 and set(per_class) == set(tutorial.classes)


def test_kuangliu_resnet18_trains():
    kuangliu = load_script("kuangliu_resnet18")
    train, test = cifar(24)
    losses, best_acc = kuangliu.main(train, test, steps=3, batch_size=8)
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert 0 <= best_acc <= 1
    net = kuangliu.build()
    assert sum(p.numel() for p in net.parameters()) == 11_173_962  # ResNet-18's count, as in torch


def test_kuangliu_vgg11_trains():
    kuangliu = load_script("kuangliu_resnet18")
    train, test = cifar(24)
    losses, best_acc = kuangliu.main(train, test, steps=3, batch_size=8, arch='VGG11')
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert 0 <= best_acc <= 1
    net = kuangliu.build(arch='VGG11')
    assert sum(p.numel() for p in net.parameters()) == 9_231_114  # VGG11's count, as in torch


def test_akamaster_resnet20_trains():
    akamaster = load_script("akamaster_resnet20")
    train, test = cifar(48)
    losses, best_prec1 = akamaster.main(train, test, steps=3, batch_size=16)
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert 0 <= best_prec1 <= 1
    model = akamaster.resnet20()
    assert sum(p.numel() for p in model.parameters()) == 269_722  # the paper's 0.27M
    # kaiming_normal_ (fan_in, gain sqrt(2)) through self.apply: the conv weights' spread
    w = model.layer3[0].conv2.weight.numpy()
    assert abs(w.std() - math.sqrt(2 / (64 * 9))) < 0.1 * math.sqrt(2 / (64 * 9))


# ---------------------------------------------------------------------------- against torch
# Same initial weights (torch's, copied), same batches in the same order, then the per-step
# losses side by side. In float32 two correct engines drift apart quickly: a ResNet's
# gradients can be ill-conditioned (in the kuangliu net at width 16, torch's own input
# gradient of one block moves 11% when its input moves by 1e-5, a BN channel with almost no
# variance), and lr=0.1 amplifies that every step. So the ResNets are compared in float64,
# where rounding starts at 1e-16; the tutorial net also as the script is, in float32.

def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'minires[bench]')")


def _twins(name: str, build, double: bool):
    """The script under both, and a model each from the same initial weights: torch's, copied over."""
    torch = _torch()
    theirs, ours = load_script(name, "torch"), load_script(name, "minires")
    torch.manual_seed(0)
    net_t, net = build(theirs), build(ours)
    if double:
        net_t, net = net_t.double(), net.double()
    net.load_state_dict({k: minires.tensor(v.detach().numpy()) for k, v in net_t.state_dict().items()})
    return theirs, ours, net_t, net


def _loader(script, loader, double: bool):
    """The script's loader, or the same batches in float64: its samples stacked into a TensorDataset."""
    if not double:
        return loader
    torch = script.torch
    images = torch.stack([image for image, _ in loader.dataset]).double()
    labels = torch.tensor([int(label) for _, label in loader.dataset])
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=loader.batch_size)


def _assert_losses_match(ours, theirs, rtol):
    ours, theirs = np.array(ours), np.array(theirs)
    assert ours.shape == theirs.shape
    worst = np.max(np.abs(ours - theirs) / np.abs(theirs))
    print(f"per-step losses (torch): {theirs.tolist()}\nworst relative difference from minires: {worst:.2e}")
    np.testing.assert_allclose(ours, theirs, rtol=rtol)


@pytest.mark.parametrize("double, rtol", [(False, 1e-4), (True, 1e-9)])
def test_tutorial_matches_torch(double, rtol):
    theirs, ours, net_t, net = _twins("cifar10_tutorial", lambda m: m.build(), double)
    train, test = cifar(160)
    (train_t, test_t), (train_m, test_m) = theirs.loaders(train, test, 8, False), ours.loaders(train, test, 8, False)
    losses_t = theirs.train(net_t, _loader(theirs, train_t, double), steps=10, lr=0.005)
    losses = ours.train(net, _loader(ours, train_m, double), steps=10, lr=0.005)
    _assert_losses_match(losses, losses_t, rtol)
    acc_t, per_class_t, predicted_t = theirs.evaluate(net_t, _loader(theirs, test_t, double))
    acc, per_class, predicted = ours.evaluate(net, _loader(ours, test_m, double))
    assert (acc, per_class) == (acc_t, per_class_t)
    assert predicted.numpy().tolist() == predicted_t.numpy().tolist() and str(predicted_t.dtype) == "torch.int64"


@pytest.mark.parametrize("name, kwargs, batch", [
    ("kuangliu_resnet18", {"width": 16}, 8),
    ("kuangliu_resnet18", {"width": 16, "arch": "VGG11"}, 8),
    ("akamaster_resnet20", {}, 16),
    pytest.param("kuangliu_resnet18", {}, 8, marks=pytest.mark.slow),  # full width: 11M parameters
])
def test_trainer_matches_torch(name, kwargs, batch):
    theirs, ours, net_t, net = _twins(name, lambda m: m.build(**kwargs), double=True)
    train, test = cifar(5 * batch)
    loaders_t = [_loader(theirs, loader, True) for loader in theirs.loaders(train, test, batch, shuffle=False)]
    loaders = [_loader(ours, loader, True) for loader in ours.loaders(train, test, batch, shuffle=False)]
    losses_t, acc_t = theirs.run(net_t, *loaders_t, steps=5)
    losses, acc = ours.run(net, *loaders, steps=5)
    _assert_losses_match(losses, losses_t, rtol=1e-9)
    assert acc == pytest.approx(acc_t)
