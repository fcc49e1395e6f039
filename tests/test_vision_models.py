"""minires.vision.models: torchvision's ResNets, ResNeXt-50 and DenseNets with its module names.

Parameter counts are torchvision's; state_dict keys equal torchvision's (where it is installed)
or a PyTorch twin's written module for module (tests/torch_vision_twins.py); a file torch.save
wrote loads with weights=path, strict=True, and the eval logits equal torch's. weights= a
torchvision name goes through the hub cache with the sha256-prefix check; offline it names
the URL and the way out. torch is imported only inside the tests (test_collection.py)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from helpers import offline

import minires
import minires.vision as torchvision
from minires.vision.models import _weights

PARAMS = {
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
    "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904, "densenet121": 7_978_856, "densenet161": 28_681_000,
    "densenet169": 14_149_480, "densenet201": 20_013_928,
}


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch not installed: parity tests skipped")


def torchvision_or_skip():
    torch_or_skip()
    try:  # a torchvision built for another torch raises RuntimeError (operator torchvision::nms), not ImportError
        import torchvision as tv
    except (ImportError, RuntimeError) as e:
        pytest.skip(f"torchvision not importable ({type(e).__name__}: {e})")
    return tv


@pytest.mark.parametrize("name", list(PARAMS))
def test_parameter_counts_are_torchvisions(name):
    model = torchvision.models.get_model(name)
    count = sum(p.numel() for p in model.parameters())
    assert count == PARAMS[name], f"{name}: {count:,} parameters, torchvision has {PARAMS[name]:,}"


def test_resnet18_names_are_torchvisions():
    keys = list(torchvision.models.resnet18().state_dict())
    assert len(keys) == 122, len(keys)  # 62 parameters + 3 buffers for each of 20 BNs
    assert keys[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                        "bn1.num_batches_tracked"]
    assert "layer2.0.downsample.0.weight" in keys and "layer2.0.downsample.1.running_var" in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    dense = list(torchvision.models.densenet121().state_dict())
    assert dense[0] == "features.conv0.weight" and dense[-2:] == ["classifier.weight", "classifier.bias"]
    assert "features.denseblock4.denselayer16.conv2.weight" in dense and "features.transition3.conv.weight" in dense


@pytest.mark.parametrize("name", list(PARAMS))
def test_state_dict_keys_and_shapes_equal_torchvisions(name):
    tv = torchvision_or_skip()
    theirs = {k: tuple(v.shape) for k, v in tv.models.get_model(name).state_dict().items()}
    ours = {k: tuple(v.shape) for k, v in torchvision.models.get_model(name).state_dict().items()}
    assert ours == theirs, sorted(set(ours) ^ set(theirs))[:10]


def _relative(ours, theirs) -> float:
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.mark.parametrize("name, dtype, tol", [("resnet18", "float32", 1e-5), ("resnet18", "float64", 1e-10),
                                              ("densenet121", "float32", 1e-5), ("densenet121", "float64", 1e-10)])
def test_a_file_torch_saved_loads_strictly_and_gives_torchs_logits(name, dtype, tol, tmp_path):
    torch = torch_or_skip()
    from tests import torch_vision_twins as twins

    torch.manual_seed(0)
    theirs = twins.randomised(twins.ResNet18() if name == "resnet18" else twins.DenseNet())
    path = tmp_path / f"{name}.pth"
    torch.save(theirs.state_dict(), path)
    ours = torchvision.models.get_model(name, weights=str(path)).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(dtype)
    if dtype == "float64":
        ours, theirs = ours.double(), theirs.double()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    with minires.no_grad():
        got = ours(minires.tensor(x)).numpy()
    assert got.dtype == np.dtype(dtype) and got.shape == (1, 1000)
    assert _relative(got, expected) <= tol, f"{name} {dtype}: max relative difference {_relative(got, expected):.2e}"


def _perturbed_resnet18():
    model = torchvision.models.resnet18()
    rng = np.random.default_rng(1)
    for name, t in model.state_dict().items():
        if name.endswith(("running_mean", "bias")):
            t.array[...] = rng.standard_normal(t.shape) * 0.1
    return model.eval()


def test_a_file_minires_saved_loads_without_torch(tmp_path):
    model = _perturbed_resnet18()
    minires.save(model.state_dict(), tmp_path / "r18.pth")
    loaded = torchvision.models.resnet18(weights=tmp_path / "r18.pth").eval()
    x = minires.tensor(np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32))
    with minires.no_grad():
        assert np.array_equal(loaded(x).numpy(), model(x).numpy())


def test_densenet_files_with_torchvisions_old_key_names_load(tmp_path):
    model = torchvision.models.densenet121()
    old = {k.replace("norm1.", "norm.1.").replace("conv2.", "conv.2."): v for k, v in model.state_dict().items()
           if not k.endswith("num_batches_tracked")}  # the files predate it, as torchvision's do
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    minires.save(old, tmp_path / "old.pth")
    torchvision.models.densenet121(weights=str(tmp_path / "old.pth"))  # strict=True inside




@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_offline_a_weight_name_names_the_url_and_the_way_out(hub, monkeypatch):
    tried = offline(monkeypatch)
    url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    with pytest.raises(OSError) as caught:
        torchvision.models.resnet18(weights="IMAGENET1K_V1")
    assert tried == [url]
    assert str(caught.value) == (
        f"could not download {url} ([Errno -2] Name or service not known); download it elsewhere and pass "
        f"weights='/path/to/resnet18-f37072fd.pth', or place it in {hub}/")
    assert list(hub.iterdir()) == [], "no temp file left"
    assert _weights.hub_dir() == hub


def test_a_cached_file_with_the_wrong_hash_is_refused_and_kept(hub, monkeypatch):
    offline(monkeypatch)
    hub.mkdir(parents=True)
    bad = hub / "densenet121-a639ec97.pth"
    bad.write_bytes(b"not the published file")
    with pytest.raises(RuntimeError, match=f"{bad}: its sha256 is {hashlib.sha256(bad.read_bytes()).hexdigest()}"):
        torchvision.models.densenet121(weights=torchvision.models.DenseNet121_Weights.DEFAULT)
    assert bad.read_bytes() == b"not the published file"


def _publish(tmp_path, monkeypatch, state_dict, prefix=None):
    """A mirror (file://) holding resnet18-<sha256 prefix>.pth, registered as IMAGENET1K_V1."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    minires.save(state_dict, mirror / "r18.pth")
    digest = hashlib.sha256((mirror / "r18.pth").read_bytes()).hexdigest()
    name = f"resnet18-{prefix or digest[:8]}.pth"
    (mirror / "r18.pth").rename(mirror / name)
    monkeypatch.setattr(_weights, "_URL", mirror.as_uri() + "/")
    monkeypatch.setitem(_weights.WEIGHT_FILES, "resnet18", {"IMAGENET1K_V1": name})
    return name


def test_a_weight_name_downloads_once_checks_the_hash_and_reuses_the_cache(hub, tmp_path, monkeypatch):
    model = _perturbed_resnet18()
    name = _publish(tmp_path, monkeypatch, model.state_dict())
    first = torchvision.models.resnet18(weights="DEFAULT", progress=False)
    assert [p.name for p in hub.iterdir()] == [name]
    offline(monkeypatch)  # the second time comes from the cache
    second = torchvision.models.resnet18(weights="IMAGENET1K_V1")
    for a, b in zip(first.state_dict().values(), model.state_dict().values(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy())
    assert np.array_equal(second.fc.weight.numpy(), model.fc.weight.numpy())


def test_a_download_with_the_wrong_hash_is_not_saved(hub, tmp_path, monkeypatch):
    _publish(tmp_path, monkeypatch, _perturbed_resnet18().state_dict(), prefix="00000000")
    with pytest.raises(RuntimeError, match="its sha256 is .*, not 00000000"):
        torchvision.models.resnet18(weights="IMAGENET1K_V1", progress=False)
    assert list(hub.iterdir()) == []


def test_pretrained_is_deprecated_and_maps_to_imagenet1k_v1(hub, monkeypatch):
    tried = offline(monkeypatch)
    with pytest.warns(UserWarning, match="pretrained= is deprecated"), pytest.raises(OSError):
        torchvision.models.resnet50(pretrained=True)
    assert tried == ["https://download.pytorch.org/models/resnet50-0676ba61.pth"]
    with pytest.warns(UserWarning, match="pretrained= is deprecated"):
        assert isinstance(torchvision.models.resnet18(pretrained=False), torchvision.models.ResNet)


def test_bad_weights_arguments_say_what_is_allowed(tmp_path):
    with pytest.raises(ValueError, match=r"neither a file nor .*IMAGENET1K_V1, DEFAULT"):
        torchvision.models.resnet18(weights="IMAGENET1K_V2")
    with pytest.raises(ValueError, match="1000 classes, but num_classes=10"):
        torchvision.models.resnet18(weights="IMAGENET1K_V1", num_classes=10)
    with pytest.raises(FileNotFoundError, match="no such file"):
        torchvision.models.resnet18(weights=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="unknown model"):
        torchvision.models.get_model("vgg16")
    assert torchvision.models.resnet18(num_classes=10).fc.weight.shape == (10, 512)
    assert repr(torchvision.models.ResNet50_Weights.DEFAULT) == "ResNet50_Weights.IMAGENET1K_V2"
