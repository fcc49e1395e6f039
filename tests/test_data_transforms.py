"""Batch transforms: crops are true crops of the zero-padded images, flips flip exactly the chosen
images, ToFloat and Normalize match hand arithmetic, Compose keeps its order."""

from __future__ import annotations

import numpy as np
import pytest

from minires.data import CIFAR10_MEAN, CIFAR10_STD, transforms


def batch(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 256, shape).astype(np.uint8)  # no zeros: padding stands out


def test_random_crop_shape_dtype_and_independent_offsets():
    images = batch((64, 3, 8, 8))
    out = transforms.RandomCrop(6, padding=2)(images, np.random.default_rng(0))
    assert out.shape == (64, 3, 6, 6) and out.dtype == np.uint8
    top, left = transforms.RandomCrop(6, padding=2).offsets(64, 8, 8, np.random.default_rng(0))
    assert top.min() == 0 and top.max() == 6 and len(set(zip(top.tolist(), left.tolist()))) > 20


def test_random_crop_is_the_window_at_its_offset_in_the_padded_image():
    images = batch((5, 3, 8, 8))
    crop = transforms.RandomCrop(6, padding=2)
    out = crop(images, np.random.default_rng(5))
    top, left = crop.offsets(5, 8, 8, np.random.default_rng(5))  # the same draws, from the same seed
    padded = np.zeros((5, 3, 12, 12), np.uint8)
    padded[:, :, 2:10, 2:10] = images
    for i in range(5):
        np.testing.assert_array_equal(out[i], padded[i, :, top[i] : top[i] + 6, left[i] : left[i] + 6])


def test_random_crop_fills_the_border_with_zeros():
    images = np.full((32, 3, 32, 32), 255, np.uint8)
    crop = transforms.RandomCrop(32, padding=4)
    out = crop(images, np.random.default_rng(1))
    top, left = crop.offsets(32, 32, 32, np.random.default_rng(1))
    # output row r is padded row top + r: a zero row when that lies in the 4 padding rows at either edge
    rows = top[:, None] + np.arange(32)
    cols = left[:, None] + np.arange(32)
    inside = ((rows >= 4) & (rows < 36))[:, :, None] & ((cols >= 4) & (cols < 36))[:, None, :]  # (B, 32, 32)
    np.testing.assert_array_equal(out, np.where(inside, 255, 0)[:, None].repeat(3, axis=1))
    assert (out == 0).any(), "some crop reached into the padding"


def test_random_crop_without_padding_and_too_big():
    images = batch((2, 1, 5, 5))
    np.testing.assert_array_equal(transforms.RandomCrop(5, padding=0)(images, np.random.default_rng(0)), images)
    with pytest.raises(ValueError, match=r"RandomCrop: size=8 must fit the padded images \(7x7\)"):
        transforms.RandomCrop(8, padding=1)(images, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"RandomCrop: images must be a numpy array \(B, C, H, W\), got shape"):
        transforms.RandomCrop(4, padding=0)(images[0], np.random.default_rng(0))


def test_flip_flips_exactly_the_chosen_images():
    images = batch((16, 3, 4, 5))
    flip = transforms.RandomHorizontalFlip()
    out = flip(images, np.random.default_rng(2))
    chosen = flip.chosen(16, np.random.default_rng(2))
    assert 0 < chosen.sum() < 16 and out.dtype == np.uint8
    np.testing.assert_array_equal(out[chosen], images[chosen][:, :, :, ::-1])
    np.testing.assert_array_equal(out[~chosen], images[~chosen])
    np.testing.assert_array_equal(transforms.RandomHorizontalFlip(p=1.0)(images, np.random.default_rng(0)),
                                  images[..., ::-1])
    np.testing.assert_array_equal(transforms.RandomHorizontalFlip(p=0.0)(images, np.random.default_rng(0)), images)


def test_to_float_and_normalize_by_hand():
    images = np.array([0, 51, 255], np.uint8).reshape(1, 3, 1, 1)  # one pixel: R=0, G=51, B=255
    x = transforms.ToFloat()(images, None)
    assert x.dtype == np.float32 and x.ravel().tolist() == pytest.approx([0.0, 0.2, 1.0])
    y = transforms.Normalize((0.5, 0.2, 0.0), (0.5, 0.25, 2.0))(x, None)
    # (0 - 0.5) / 0.5 = -1,  (0.2 - 0.2) / 0.25 = 0,  (1 - 0) / 2 = 0.5
    assert y.dtype == np.float32 and y.ravel().tolist() == pytest.approx([-1.0, 0.0, 0.5], abs=1e-6)
    assert x.ravel().tolist() == pytest.approx([0.0, 0.2, 1.0]), "Normalize left its input alone"


def test_standard_pipelines():
    images = np.full((4, 3, 32, 32), 255, np.uint8)
    want = [(1 - m) / s for m, s in zip(CIFAR10_MEAN, CIFAR10_STD)]  # 255 -> 1.0 -> (1 - mean) / std
    out = transforms.test_transform()(images, np.random.default_rng(0))
    assert out.dtype == np.float32 and out.shape == (4, 3, 32, 32)
    assert out[0, :, 0, 0].tolist() == pytest.approx(want, rel=1e-6)
    out = transforms.train_transform()(images, np.random.default_rng(0))
    assert out.dtype == np.float32 and out.shape == (4, 3, 32, 32)
    assert repr(transforms.train_transform()) == (
        "Compose([RandomCrop(size=32, padding=4), RandomHorizontalFlip(p=0.5), ToFloat(), "
        "Normalize(mean=(0.4914, 0.4822, 0.4465), std=(0.247, 0.2435, 0.2616))])")


def test_compose_applies_in_order_with_one_rng():
    def plus_random(images, rng):
        return images + rng.integers(0, 100)

    def double(images, rng):
        return images * 2

    x = np.zeros((1, 1, 1, 1), np.int64)
    draw = np.random.default_rng(3).integers(0, 100)
    assert transforms.Compose([plus_random, double])(x, np.random.default_rng(3)).item() == 2 * draw
    assert transforms.Compose([double, plus_random])(x, np.random.default_rng(3)).item() == draw
    with pytest.raises(TypeError, match=r"Normalize: images must be float \(put ToFloat\(\) first\), got dtype uint8"):
        transforms.Compose([transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD), transforms.ToFloat()])(
            batch((1, 3, 2, 2)), None)


def test_bad_arguments():
    with pytest.raises(TypeError, match="ToFloat: images must be uint8 in \\[0, 255\\], got dtype float32"):
        transforms.ToFloat()(np.zeros((1, 3, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"Normalize: images must have 3 channels \(one per mean\)"):
        transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)(np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="Normalize: mean and std must have one entry per channel, std > 0"):
        transforms.Normalize((0.5, 0.5), (1.0, 0.0))
    with pytest.raises(ValueError, match=r"RandomHorizontalFlip: p must be in \[0, 1\], got 2"):
        transforms.RandomHorizontalFlip(p=2)
