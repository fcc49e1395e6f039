"""The model zoo of benchmarks/bench_zoo.py: plain PyTorch model files, and the swap that runs them under minires.

Every other file here is a PyTorch program written the way its source writes it, importing
`torch`, `torch.nn` and `torch.nn.functional` and nothing of minires:

    kuangliu_resnet.py, kuangliu_preact_resnet.py, kuangliu_vgg.py,      kuangliu/pytorch-cifar's models/
    kuangliu_mobilenetv2.py, kuangliu_densenet.py, kuangliu_resnext.py   (same class names, arguments, layers)
    wide_resnet.py       WRN-16-4, in the style of xternalz/WideResNet-pytorch
    densenet_bc.py       DenseNet-BC-100, torchvision's way: the twin of minires.nn.models.densenet_bc

`load(name, "minires")` execs one of them with minires installed in sys.modules under
torch's names (as tests/test_pytorch_style.py does), `load(name, "torch")` with PyTorch;
`build(model, side)` makes one of MODELS. This file imports neither framework until asked.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# bench_zoo.py's row name -> (the zoo file, the factory call in it), each built the way its source builds it
MODELS = {
    "wrn16-4": ("wide_resnet", "WideResNet(16, 10, widen_factor=4)"),
    "kuangliu-resnet18": ("kuangliu_resnet", "ResNet18()"),
    "kuangliu-preact18": ("kuangliu_preact_resnet", "PreActResNet18()"),
    "kuangliu-vgg16": ("kuangliu_vgg", "VGG('VGG16')"),
    "kuangliu-mobilenetv2": ("kuangliu_mobilenetv2", "MobileNetV2()"),
    "kuangliu-densenet": ("kuangliu_densenet", "densenet_cifar()"),
    "kuangliu-resnext29": ("kuangliu_resnext", "ResNeXt29_2x64d()"),
    "densenet-bc100": ("densenet_bc", "densenet_bc100()"),
}
FILES = sorted(p.stem for p in HERE.glob("*.py") if p.stem != "__init__")
TORCH_NAMES = ("torch", "torch.nn", "torch.nn.functional", "torch.nn.init")  # what the zoo files reach


def load(name: str, side: str = "minires"):
    """A fresh module object for zoo/<name>.py, its `import torch...` answered by minires or by torch."""
    spec = importlib.util.spec_from_file_location(f"zoo_{name}_{side}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    if side == "torch":
        spec.loader.exec_module(module)
        return module
    swap = {torch_name: importlib.import_module(torch_name.replace("torch", "minires", 1)) for torch_name in TORCH_NAMES}
    saved = {torch_name: sys.modules.get(torch_name) for torch_name in TORCH_NAMES}
    sys.modules.update(swap)
    try:
        spec.loader.exec_module(module)
    finally:  # a real torch imported before comes back
        for torch_name, before in saved.items():
            if before is None:
                sys.modules.pop(torch_name, None)
            else:
                sys.modules[torch_name] = before
    return module


def build(model: str, side: str = "minires"):
    """One of MODELS, built by its zoo file under `side` ("minires" or "torch")."""
    name, call = MODELS[model]
    return eval(call, vars(load(name, side)))  # a call spelled in MODELS above
