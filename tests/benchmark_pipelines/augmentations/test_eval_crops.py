"""Evaluation crop strategies and training size adaptation: exact regions, padding, torchvision geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from benchmark_pipelines.augmentations import eval_crops, train_size_adapt


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _torchvision(fn, img: np.ndarray, *args) -> np.ndarray:
    out = fn(torch.from_numpy(img).permute(2, 0, 1), *args)
    return out.permute(1, 2, 0).numpy()


def test_multicrop_gives_the_five_regions_in_fivecrop_order():
    img = _image(300, 401)
    crops = eval_crops(img, "multicrop", (224, 224))
    assert len(crops) == 5
    top, left = round((300 - 224) / 2), round((401 - 224) / 2)
    expected = [
        img[:224, :224],
        img[:224, -224:],
        img[-224:, :224],
        img[-224:, -224:],
        img[top : top + 224, left : left + 224],
    ]
    for crop, region in zip(crops, expected, strict=True):
        assert crop.flags.c_contiguous
        np.testing.assert_array_equal(crop, region)


@pytest.mark.parametrize(("shape", "size"), [((300, 401), (224, 224)), ((120, 90), (50, 70)), ((81, 64), (40, 63))])
def test_multicrop_matches_torchvision_fivecrop(shape, size):
    img = _image(*shape, seed=1)
    crops = eval_crops(img, "multicrop", size)
    reference = TF.five_crop(torch.from_numpy(img).permute(2, 0, 1), list(size))
    assert len(crops) == len(reference) == 5
    for crop, ref in zip(crops, reference, strict=True):
        np.testing.assert_array_equal(crop, ref.permute(1, 2, 0).numpy())


@pytest.mark.parametrize("shape", [(224, 300), (300, 224), (200, 300), (100, 150)])
def test_multicrop_falls_back_to_one_center_crop_for_small_images(shape):
    img = _image(*shape, seed=2)
    crops = eval_crops(img, "multicrop", 224)
    assert len(crops) == 1
    np.testing.assert_array_equal(crops[0], eval_crops(img, "crop", 224)[0])
    np.testing.assert_array_equal(crops[0], _torchvision(TF.center_crop, img, [224, 224]))


@pytest.mark.parametrize(("shape", "size"), [((3, 5), (6, 6)), ((10, 9), (4, 4)), ((7, 20), (10, 3)), ((5, 5), (5, 5))])
def test_center_crop_pads_with_zeros_like_torchvision(shape, size):
    img = _image(*shape, seed=3)
    (crop,) = eval_crops(img, "crop", size)
    assert crop.shape == (*size, 3)
    np.testing.assert_array_equal(crop, _torchvision(TF.center_crop, img, list(size)))


def test_resize_is_pil_bilinear_to_height_width():
    img = _image(37, 53, seed=4)
    (out,) = eval_crops(img, "resize", (20, 30))
    assert out.shape == (20, 30, 3)
    expected = np.asarray(Image.fromarray(img).resize((30, 20), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out, np.asarray(TF.resize(Image.fromarray(img), [20, 30])))


def test_as_is_and_unknown_strategies():
    img = _image(17, 9)
    (same,) = eval_crops(img, "as_is", 224)
    np.testing.assert_array_equal(same, img)
    with pytest.raises(ValueError, match=r"unknown evaluation cropping strategy 'five'.*'multicrop'"):
        eval_crops(img, "five", 224)
    with pytest.raises(ValueError, match="unknown training cropping strategy 'crop'.*'random_crop'"):
        train_size_adapt(img, "crop", 224, np.random.default_rng(0))
    with pytest.raises(ValueError, match="positive"):
        eval_crops(img, "resize", (0, 3))


def test_random_crop_pads_both_sides_and_draws_top_then_left():
    img = _image(10, 10, seed=5)
    size = (16, 12)
    padded = np.pad(img, ((6, 6), (2, 2), (0, 0)))  # torchvision pad_if_needed pads the missing amount on both ends
    seen = set()
    for seed in range(40):
        out = train_size_adapt(img, "random_crop", size, np.random.default_rng(seed))
        rng = np.random.default_rng(seed)
        top, left = int(rng.integers(0, 22 - 16 + 1)), int(rng.integers(0, 14 - 12 + 1))
        np.testing.assert_array_equal(out, padded[top : top + 16, left : left + 12])
        seen.add((top, left))
    assert len(seen) > 10


def test_training_strategies_shapes_and_center_crop():
    img = _image(40, 30, seed=6)
    rng = np.random.default_rng(0)
    assert train_size_adapt(img, "resize", 24, rng).shape == (24, 24, 3)
    assert train_size_adapt(img, "random_crop", (20, 25), rng).shape == (20, 25, 3)
    np.testing.assert_array_equal(train_size_adapt(img, "center_crop", 24, rng), eval_crops(img, "crop", 24)[0])
    np.testing.assert_array_equal(train_size_adapt(img, "as_is", 24, rng), img)
