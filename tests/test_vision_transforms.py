"""minires.vision.transforms and utils: shapes, values by hand and numpy, and torchvision's outputs where it imports."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import minires as mr
from minires.vision import transforms as T
from minires.vision import utils
from minires.vision.transforms import functional as F


def _torchvision():
    """torchvision, or a skip: imported inside the test (tests/test_collection.py); a build that fails to
    load (a CUDA wheel on CPU torch raises RuntimeError) skips too."""
    try:
        import torchvision
    except Exception as error:  # noqa: BLE001 - any failure to load means: no oracle here
        pytest.skip(f"torchvision not importable: {type(error).__name__}: {str(error)[:80]}")
    return torchvision


def _rgb(h=5, w=7, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _chw(h=5, w=7, seed=0):
    return mr.tensor(np.random.default_rng(seed).random((3, h, w), dtype=np.float32))


def test_to_tensor_pil_and_ndarray():
    img = _rgb()
    x = T.ToTensor()(img)
    assert x.shape == (3, 5, 7) and x.dtype == np.float32
    np.testing.assert_array_equal(x.numpy(), np.asarray(img).transpose(2, 0, 1) / np.float32(255))
    gray = T.ToTensor()(np.array([[0, 255]], np.uint8))
    assert gray.shape == (1, 1, 2) and gray.numpy().ravel().tolist() == [0.0, 1.0]
    floats = T.ToTensor()(np.full((2, 2, 3), 3.0))  # float ndarray: not scaled, dtype kept (as torchvision)
    assert floats.dtype == np.float64 and floats.shape == (3, 2, 2) and float(floats.numpy().max()) == 3.0
    with pytest.raises(TypeError, match="PIL Image or an ndarray"):
        T.ToTensor()([1, 2])


def test_normalize_values_and_inplace():
    x = mr.tensor(np.array([[[1.0]], [[3.0]]], np.float32))  # (2, 1, 1)
    y = T.Normalize([1.0, 1.0], [0.5, 4.0])(x)
    assert y.numpy().ravel().tolist() == [0.0, 0.5] and x.numpy().ravel().tolist() == [1.0, 3.0]
    assert T.Normalize([1.0, 1.0], [0.5, 4.0], inplace=True)(x) is x and x.numpy().ravel().tolist() == [0.0, 0.5]
    with pytest.raises(TypeError, match="floating-point"):
        T.Normalize([0], [1])(mr.tensor(np.zeros((1, 2, 2), np.uint8)))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize([0], [0])(mr.zeros(1, 2, 2))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_modes_match_numpy_pad(mode):
    array = np.random.default_rng(1).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    widths = [(2, 3), (1, 4)]  # (top, bottom), (left, right)
    expected = np.pad(array, widths + [(0, 0)], mode=mode)
    got_pil = np.asarray(F.pad(Image.fromarray(array), [1, 2, 4, 3], padding_mode=mode))  # left, top, right, bottom
    np.testing.assert_array_equal(got_pil, expected)
    chw = mr.tensor(array.transpose(2, 0, 1).astype(np.float32))
    got_tensor = F.pad(chw, [1, 2, 4, 3], padding_mode=mode).numpy()
    np.testing.assert_array_equal(got_tensor, expected.transpose(2, 0, 1).astype(np.float32))


def test_random_crop_size_padding_and_seed():
    img = _rgb(8, 8)
    crop = T.RandomCrop(8, padding=2, padding_mode="reflect")
    mr.manual_seed(3)
    first = [np.asarray(crop(img)) for _ in range(5)]
    mr.manual_seed(3)
    again = [np.asarray(crop(img)) for _ in range(5)]
    assert all(a.shape == (8, 8, 3) for a in first)
    assert all((a == b).all() for a, b in zip(first, again)), "manual_seed makes RandomCrop repeatable"
    padded = np.pad(np.asarray(img), [(2, 2), (2, 2), (0, 0)], mode="reflect")
    windows = [padded[i : i + 8, j : j + 8] for i in range(5) for j in range(5)]
    assert all(any((a == w).all() for w in windows) for a in first), "each crop is a window of the padded image"
    assert T.RandomCrop((3, 4))(_chw()).shape == (3, 3, 4)
    assert T.RandomCrop(10, pad_if_needed=True)(_chw()).shape == (3, 10, 10)
    with pytest.raises(ValueError, match="larger than the input image"):
        T.RandomCrop(10)(_chw())


def test_horizontal_flip_p0_p1():
    img, x = _rgb(), _chw()
    np.testing.assert_array_equal(np.asarray(T.RandomHorizontalFlip(p=1.0)(img)), np.asarray(img)[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x).numpy(), x.numpy()[:, :, ::-1])
    assert T.RandomHorizontalFlip(p=0.0)(img) is img


def test_resize_center_crop_random_resized_crop():
    img = _rgb(6, 9)
    assert T.Resize(4)(img).size == (6, 4)  # PIL size is (W, H): the shorter edge (H) becomes 4
    assert T.Resize((3, 5))(img).size == (5, 3)
    assert T.Resize(4)(_chw(6, 9)).shape == (3, 4, 6)
    with pytest.raises(NotImplementedError, match="BICUBIC"):
        T.Resize(4, interpolation=T.InterpolationMode.BICUBIC)(_chw(6, 9))
    with pytest.raises(NotImplementedError, match="interpolation"):
        T.Resize(4, interpolation="area")
    x = mr.tensor(np.arange(30, dtype=np.float32).reshape(1, 5, 6))
    np.testing.assert_array_equal(T.CenterCrop((3, 2))(x).numpy(), x.numpy()[:, 1:4, 2:4])
    assert T.CenterCrop(7)(x).shape == (1, 7, 7)  # smaller images are zero-padded
    mr.manual_seed(0)
    for scale in [(0.08, 1.0), (0.9, 1.0), (5.0, 6.0)]:  # (5, 6) never fits: the center-crop fallback
        assert T.RandomResizedCrop(4, scale=scale)(img).size == (4, 4)
    assert T.RandomResizedCrop.get_params(img, (5.0, 6.0), (3 / 4, 4 / 3)) == (0, 0, 6, 8)  # 6 * 4/3 = 8 wide, (9 - 8) // 2 = 0


def test_to_pil_image_round_trip_and_compose():
    img = _rgb()
    np.testing.assert_array_equal(np.asarray(T.ToPILImage()(T.ToTensor()(img))), np.asarray(img))
    assert T.ToPILImage()(mr.tensor(np.full((1, 2, 2), 0.999, np.float32))).getpixel((0, 0)) == 254  # truncates
    assert T.ToPILImage()(np.zeros((2, 2), np.float32)).mode == "F"
    pipeline = T.Compose([T.CenterCrop(4), T.ToTensor(), T.Lambda(lambda x: x * 2), T.Normalize([0.0] * 3, [2.0] * 3)])
    np.testing.assert_allclose(pipeline(img).numpy(), T.ToTensor()(T.CenterCrop(4)(img)).numpy(), rtol=1e-6)


def test_make_grid_placement_by_hand():
    a = mr.tensor(np.array([[[1.0, 2.0], [3.0, 4.0]]], np.float32))  # (1, 2, 2)
    b = mr.tensor(np.array([[[5.0, 6.0], [7.0, 8.0]]], np.float32))
    grid = utils.make_grid([a, b], padding=1, pad_value=9.0)
    assert grid.shape == (3, 4, 7)  # 1 + 2 + 1 rows; 1 + 2 + 1 + 2 + 1 columns; gray -> 3 channels
    expected = np.array([[9, 9, 9, 9, 9, 9, 9],
                         [9, 1, 2, 9, 5, 6, 9],
                         [9, 3, 4, 9, 7, 8, 9],
                         [9, 9, 9, 9, 9, 9, 9]], np.float32)
    for c in range(3):
        np.testing.assert_array_equal(grid.numpy()[c], expected)
    assert utils.make_grid(mr.zeros(10, 3, 2, 2), nrow=4).shape == (3, 3 * 4 + 2, 4 * 4 + 2)
    np.testing.assert_allclose(utils.make_grid(mr.stack([a, b]), normalize=True, padding=0).numpy()[0, 0],
                               [0, 1 / 7, 4 / 7, 5 / 7], rtol=1e-6)


def test_save_image_writes_png(tmp_path):
    path = tmp_path / "grid.png"
    utils.save_image(mr.tensor(np.full((2, 3, 4, 4), 0.5, np.float32)), str(path), padding=1)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (11, 6) and im.getpixel((1, 1)) == (128, 128, 128)


# ---------------------------------------------------------------------- torchvision as the oracle


def test_deterministic_transforms_equal_torchvision():
    tv = _torchvision()
    tt, tf = tv.transforms, tv.transforms.functional
    img = _rgb(13, 17, seed=4)
    x = T.ToTensor()(img)
    np.testing.assert_array_equal(x.numpy(), tt.ToTensor()(img).numpy())
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    np.testing.assert_array_equal(T.Normalize(mean, std)(x).numpy(), tt.Normalize(mean, std)(tt.ToTensor()(img)).numpy())
    for size in [8, (6, 11), 30]:
        for mode in ["NEAREST", "BILINEAR", "BICUBIC", "LANCZOS"]:
            ours = T.Resize(size, interpolation=getattr(T.InterpolationMode, mode))(img)
            theirs = tt.Resize(size, interpolation=getattr(tt.InterpolationMode, mode))(img)
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), err_msg=f"Resize({size}, {mode})")
        for crop in [5, (4, 9), 20]:
            np.testing.assert_array_equal(np.asarray(T.CenterCrop(crop)(img)), np.asarray(tt.CenterCrop(crop)(img)))
            np.testing.assert_array_equal(T.CenterCrop(crop)(x).numpy(), tt.CenterCrop(crop)(tt.ToTensor()(img)).numpy())
    for mode in ["constant", "edge", "reflect", "symmetric"]:
        np.testing.assert_array_equal(np.asarray(F.pad(img, [1, 2, 3, 4], 7, mode)),
                                      np.asarray(tf.pad(img, [1, 2, 3, 4], 7, mode)), err_msg=mode)
    np.testing.assert_array_equal(np.asarray(F.resized_crop(img, 2, 3, 7, 9, [5, 5])),
                                  np.asarray(tf.resized_crop(img, 2, 3, 7, 9, [5, 5])))
    np.testing.assert_array_equal(np.asarray(T.RandomHorizontalFlip(1.0)(img)),
                                  np.asarray(tt.RandomHorizontalFlip(1.0)(img)))
    np.testing.assert_array_equal(np.asarray(T.ToPILImage()(x)), np.asarray(tt.ToPILImage()(tt.ToTensor()(img))))


def test_tensor_resize_equals_torchvision():
    tv = _torchvision()
    import torch

    x = _chw(13, 17, seed=5)
    for size in [8, (6, 11), (26, 20)]:
        theirs = tv.transforms.Resize(size, antialias=True)(torch.from_numpy(x.numpy().copy())).numpy()
        np.testing.assert_allclose(T.Resize(size)(x).numpy(), theirs, atol=1e-5, err_msg=f"Resize({size})")


def test_make_grid_equals_torchvision(tmp_path):
    tv = _torchvision()
    import torch

    batch = np.random.default_rng(6).random((5, 1, 3, 4), dtype=np.float32) * 4 - 1
    for kwargs in [{}, {"nrow": 2, "padding": 1, "pad_value": 0.5}, {"normalize": True},
                   {"normalize": True, "scale_each": True}, {"normalize": True, "value_range": (0.0, 1.0)}]:
        ours = utils.make_grid(mr.tensor(batch), **kwargs).numpy()
        theirs = tv.utils.make_grid(torch.from_numpy(batch.copy()), **kwargs).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7, err_msg=str(kwargs))
    images = np.random.default_rng(7).random((3, 3, 4, 4), dtype=np.float32)
    utils.save_image(mr.tensor(images), tmp_path / "ours.png", nrow=2)
    tv.utils.save_image(torch.from_numpy(images.copy()), tmp_path / "theirs.png", nrow=2)
    with Image.open(tmp_path / "ours.png") as ours, Image.open(tmp_path / "theirs.png") as theirs:
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
