"""Training augmentation sets: seeding formula, firing rates, parity with torchvision/scipy, the free part."""

from __future__ import annotations

import math
import pickle
import warnings
from collections import Counter

import numpy as np
import pytest
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from benchmark_pipelines.augmentations import (
    TRAIN_AUGMENTATION_SETS,
    AIGenBenchV1EvalChain,
    BaselineTrainAugmentations,
    NoTrainAugmentations,
    SoftTrainAugmentations,
    make_train_augmentations,
    sample_rng,
    train_sample_seed,
)
from benchmark_pipelines.augmentations.train_augmentations import (
    random_coarse_dropout,
    random_color_jitter,
    random_gaussian_blur,
    random_rot90_flip,
)

BASELINE_PROBABILITIES = {
    "random_resized_crop": 0.2,
    "color_jitter": 0.8,
    "grayscale": 0.2,
    "coarse_dropout": 0.2,
    "gaussian_noise": 0.2,
    "gaussian_blur": 0.5,
    "jpeg": 0.5,
}


def _assert_binomial(count: int, n: int, p: float, what: str, sigmas: float = 4.5) -> None:
    tolerance = sigmas * math.sqrt(n * p * (1 - p))
    assert abs(count - n * p) <= tolerance, f"{what}: {count}/{n} fired, expected {n * p:.0f} +- {tolerance:.0f}"


def _image(height: int = 32, width: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_train_sample_seed_formula():
    assert train_sample_seed(4321, 0, 0) == 4321
    assert train_sample_seed(4321, 1, 5) == 4321 + 2**27 + 5
    assert train_sample_seed(4321, 3, 10) == (4321 + 3 * 2**27) % 2**31 + 10
    assert train_sample_seed(4321, 16, 7) == 4321 + 7  # 16 * 2**27 == 2**31 wraps around
    with pytest.raises(ValueError, match="copy_k must be a non-negative int"):
        train_sample_seed(4321, -1, 0)


def test_registry_and_unknown_names():
    assert set(TRAIN_AUGMENTATION_SETS) == {"baseline", "soft", "none"}
    assert isinstance(make_train_augmentations("baseline"), BaselineTrainAugmentations)
    assert isinstance(make_train_augmentations("soft"), SoftTrainAugmentations)
    assert isinstance(make_train_augmentations("none"), NoTrainAugmentations)
    with pytest.raises(
        ValueError, match=r"'baselin'.*did you mean 'baseline'.*allowed: \['baseline', 'none', 'soft'\]"
    ):
        make_train_augmentations("baselin")
    for name in TRAIN_AUGMENTATION_SETS:
        restored = pickle.loads(pickle.dumps(make_train_augmentations(name)))
        assert type(restored) is TRAIN_AUGMENTATION_SETS[name]


def test_baseline_ops_fire_at_their_probabilities():
    augmentations = BaselineTrainAugmentations()
    img = _image()
    n = 1200
    fired: Counter[str] = Counter()
    for i in range(n):
        trace: list[tuple[str, dict]] = []
        out = augmentations.deterministic(img, np.random.default_rng(train_sample_seed(4321, 0, i)), trace)
        fired.update(name for name, _ in trace)
        params = dict(trace)
        assert out.shape == ((256, 256, 3) if "random_resized_crop" in params else img.shape)
        if "jpeg" in params:
            assert 30 <= params["jpeg"]["quality"] <= 100
        if "gaussian_blur" in params:
            assert 0 <= params["gaussian_blur"]["sigma"] <= 3
        if "gaussian_noise" in params:
            assert 0.2 * 255 <= params["gaussian_noise"]["std"] <= 0.44 * 255
        if "coarse_dropout" in params:
            assert 1 <= params["coarse_dropout"]["height"] <= 48 and 1 <= params["coarse_dropout"]["width"] <= 48
    assert set(fired) == set(BASELINE_PROBABILITIES)
    for name, p in BASELINE_PROBABILITIES.items():
        _assert_binomial(fired[name], n, p, name)


def test_soft_deterministic_part_is_the_eval_chain_steps_2_to_7():
    soft = SoftTrainAugmentations()
    chain = AIGenBenchV1EvalChain()
    img = _image(40, 50, seed=1)
    for i in range(30):
        np.testing.assert_array_equal(
            soft.deterministic(img, sample_rng(4321, i)), chain.degrade(img, sample_rng(4321, i))
        )


def test_deterministic_part_repeats_for_the_same_seed():
    img = _image(40, 50, seed=2)
    for name in ("baseline", "soft"):
        augmentations = make_train_augmentations(name)
        for i in range(10):
            seed = train_sample_seed(4321, 2, i)
            a = augmentations.deterministic(img, np.random.default_rng(seed))
            b = augmentations.deterministic(img, np.random.default_rng(seed))
            np.testing.assert_array_equal(a, b)


def test_nondeterministic_part_is_rot90_and_flip():
    img = _image(5, 8, seed=3)
    n = 800
    ks: Counter[int] = Counter()
    flips = 0
    for seed in range(n):
        trace: list[tuple[str, dict]] = []
        out = BaselineTrainAugmentations().nondeterministic(img, np.random.default_rng(seed), trace)
        params = dict(trace)
        k = params["rot90"]["k"]
        ks[k] += 1
        expected = np.rot90(img, k)
        if "hflip" in params:
            flips += 1
            expected = expected[:, ::-1]
        np.testing.assert_array_equal(out, expected)
        assert out.flags.c_contiguous
    assert set(ks) == {0, 1, 2, 3}
    for k in range(4):
        _assert_binomial(ks[k], n, 0.25, f"rot90 k={k}")
    _assert_binomial(flips, n, 0.5, "hflip")
    # np.rot90 by 90 degrees is torchvision's rotate(90, expand=True): counter-clockwise.
    np.testing.assert_array_equal(np.rot90(img, 1), np.asarray(TF.rotate(Image.fromarray(img), 90, expand=True)))


def test_none_set_is_the_identity():
    img = _image(9, 7)
    none = make_train_augmentations("none")
    np.testing.assert_array_equal(none.deterministic(img, np.random.default_rng(0)), img)
    np.testing.assert_array_equal(none.nondeterministic(img, np.random.default_rng(0)), img)


def test_color_jitter_matches_torchvision_on_pil():
    img = _image(24, 20, seed=4)
    for seed in range(12):
        trace: list[tuple[str, dict]] = []
        out = random_color_jitter(img, np.random.default_rng(seed), 1.0, 0.4, 0.4, 0.4, 0.1, trace)
        ((_, params),) = trace
        expected = Image.fromarray(img)
        for i in params["order"]:
            if i == 0:
                expected = TF.adjust_brightness(expected, params["brightness"])
            elif i == 1:
                expected = TF.adjust_contrast(expected, params["contrast"])
            elif i == 2:
                expected = TF.adjust_saturation(expected, params["saturation"])
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # torchvision casts a negative float to uint8
                    expected = TF.adjust_hue(expected, params["hue"])
        np.testing.assert_array_equal(out, np.asarray(expected))


def test_coarse_dropout_fills_one_hole_with_128():
    img = _image(60, 60, seed=5)
    trace: list[tuple[str, dict]] = []
    out = random_coarse_dropout(img, np.random.default_rng(1), 1.0, max_hole=48, fill=128, trace=trace)
    ((_, hole),) = trace
    mask = np.zeros(img.shape[:2], dtype=bool)
    mask[hole["top"] : hole["top"] + hole["height"], hole["left"] : hole["left"] + hole["width"]] = True
    assert (out[mask] == 128).all()
    np.testing.assert_array_equal(out[~mask], img[~mask])


def test_blur_matches_scipy_gaussian_filter():
    ndimage = pytest.importorskip("scipy.ndimage")
    img = _image(40, 50, seed=6)
    for seed in range(5):
        trace: list[tuple[str, dict]] = []
        out = random_gaussian_blur(img, np.random.default_rng(seed), 1.0, (0.0, 3.0), trace)
        sigma = trace[0][1]["sigma"]
        expected = np.stack([ndimage.gaussian_filter(img[..., c].astype(np.float64), sigma) for c in range(3)], -1)
        assert np.abs(out - expected).max() <= 0.5 + 1e-3, sigma


def test_free_part_helpers_do_not_modify_their_input():
    img = _image(30, 30, seed=7)
    before = img.copy()
    rng = np.random.default_rng(0)
    random_rot90_flip(img, rng)
    random_coarse_dropout(img, rng, 1.0, max_hole=48, fill=128)
    random_color_jitter(img, rng, 1.0, 0.4, 0.4, 0.4, 0.1)
    BaselineTrainAugmentations().deterministic(img, rng)
    np.testing.assert_array_equal(img, before)
