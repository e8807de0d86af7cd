"""The mandatory evaluation chain: firing rates, parameter ranges, crop of large images, determinism."""

from __future__ import annotations

import hashlib
import math
import pickle
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmark_pipelines.augmentations import AIGenBenchV1EvalChain, crop_if_large, sample_rng
from benchmark_pipelines.augmentations.image_ops import (
    add_gaussian_noise,
    random_resized_crop_params,
    to_grayscale,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
N_SEEDS = 2000
PROBABILITIES = {
    "grayscale": 0.1,
    "jpeg_1": 0.5,
    "gaussian_noise": 0.3,
    "jpeg_2": 0.2,
    "random_resized_crop": 0.25,
    "jpeg_3": 0.1,
}


def _assert_binomial(count: int, n: int, p: float, what: str, sigmas: float = 4.5) -> None:
    tolerance = sigmas * math.sqrt(n * p * (1 - p))
    assert abs(count - n * p) <= tolerance, f"{what}: {count}/{n} fired, expected {n * p:.0f} +- {tolerance:.0f}"


def _natural_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(height // 32, 2), max(width // 32, 2), 3), dtype=np.uint8)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    return np.clip(smooth + rng.integers(-6, 7, smooth.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def traces_of_small_images() -> tuple[list[list[tuple[str, dict]]], list[np.ndarray]]:
    chain = AIGenBenchV1EvalChain()
    img = _natural_image(32, 32)
    traces, outputs = [], []
    for sample_id in range(N_SEEDS):
        trace: list[tuple[str, dict]] = []
        outputs.append(chain(img, sample_rng(4321, sample_id), trace=trace))
        traces.append(trace)
    return traces, outputs


def test_each_step_fires_at_its_probability(traces_of_small_images):
    traces, _ = traces_of_small_images
    fired = Counter(name for trace in traces for name, _ in trace)
    assert set(fired) == set(PROBABILITIES)  # crop_if_large never fires on 32x32 images
    for name, p in PROBABILITIES.items():
        _assert_binomial(fired[name], N_SEEDS, p, name)
    order = list(PROBABILITIES)
    for trace in traces:
        names = [name for name, _ in trace]
        assert names == sorted(names, key=order.index)


def test_jpeg_parameters_are_the_benchmark_ones(traces_of_small_images):
    traces, _ = traces_of_small_images
    jpegs = [params for trace in traces for name, params in trace if name.startswith("jpeg")]
    assert {p["quality"] for p in jpegs} == {50, 100}
    assert {p["library"] for p in jpegs} == {"cv2", "pil"}
    _assert_binomial(sum(p["quality"] == 50 for p in jpegs), len(jpegs), 0.5, "quality 50")
    _assert_binomial(sum(p["library"] == "cv2" for p in jpegs), len(jpegs), 0.5, "library cv2")


def test_noise_and_resized_crop_parameters(traces_of_small_images):
    traces, outputs = traces_of_small_images
    stds = [params["std"] for trace in traces for name, params in trace if name == "gaussian_noise"]
    assert min(stds) >= 0.015 * 255 and max(stds) <= 0.075 * 255
    assert max(stds) - min(stds) > 0.9 * 0.06 * 255

    crops = [
        (params, out)
        for trace, out in zip(traces, outputs, strict=True)
        for name, params in trace
        if name == "random_resized_crop"
    ]
    sides = [params["size"] for params, _ in crops]
    assert min(sides) >= 256 and max(sides) <= 512
    assert min(sides) < 270 and max(sides) > 498
    assert {params["interpolation"] for params, _ in crops} == {"bilinear", "bicubic", "lanczos"}
    for params, out in crops:
        top, left, h, w = params["box"]
        assert 0 <= top <= 32 - h and 0 <= left <= 32 - w
        assert out.shape == (params["size"], params["size"], 3)
    for trace, out in zip(traces, outputs, strict=True):
        if all(name != "random_resized_crop" for name, _ in trace):
            assert out.shape == (32, 32, 3)


@pytest.mark.parametrize("shape", [(1080, 1080), (1081, 1080), (1500, 1200), (700, 2000)])
def test_only_images_larger_than_1080_are_cropped(shape):
    chain = AIGenBenchV1EvalChain()
    img = np.zeros((*shape, 3), dtype=np.uint8)
    expected = (min(shape[0], 1080), min(shape[1], 1080))
    for sample_id in (0, 1):
        trace: list[tuple[str, dict]] = []
        out = chain(img, sample_rng(4321, sample_id), trace=trace)
        crops = [params for name, params in trace if name == "crop_if_large"]
        if max(shape) <= 1080:
            assert crops == []
        else:
            (params,) = crops
            assert (params["height"], params["width"]) == expected
            assert 0 <= params["top"] <= shape[0] - expected[0] and 0 <= params["left"] <= shape[1] - expected[1]
        rrc = [params for name, params in trace if name == "random_resized_crop"]
        assert out.shape[:2] == ((rrc[0]["size"],) * 2 if rrc else expected)


def test_crop_offsets_cover_the_whole_inclusive_range():
    img = np.arange(20 * 13 * 3, dtype=np.uint32).reshape(20, 13, 3).astype(np.uint8)
    tops = set()
    for seed in range(300):
        out = crop_if_large(img, sample_rng(4321, seed), 16)
        assert out.shape == (16, 13, 3)
        top = next(t for t in range(5) if np.array_equal(img[t : t + 16], out))
        tops.add(top)
    assert tops == {0, 1, 2, 3, 4}
    assert crop_if_large(img, sample_rng(0, 0), None) is img


def test_degrade_is_steps_2_to_7_and_input_is_untouched():
    img = _natural_image(48, 40)
    before = img.copy()
    chain = AIGenBenchV1EvalChain()
    clone = pickle.loads(pickle.dumps(chain))  # DataLoader workers receive a pickled copy
    for sample_id in range(20):
        a = chain(img, sample_rng(4321, sample_id))
        np.testing.assert_array_equal(a, chain.degrade(img, sample_rng(4321, sample_id)))
        np.testing.assert_array_equal(a, clone(img, sample_rng(4321, sample_id)))
    np.testing.assert_array_equal(img, before)


def test_grayscale_is_pil_luma_with_three_channels():
    img = _natural_image(20, 30, seed=3)
    out = to_grayscale(img)
    expected = np.asarray(Image.fromarray(img).convert("L"))
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], expected)


def test_noise_is_shared_across_channels_rounded_and_clipped():
    img = np.full((200, 200, 3), 128, dtype=np.uint8)
    out = add_gaussian_noise(img, 10.0, np.random.default_rng(0))
    diff = out.astype(int) - 128
    np.testing.assert_array_equal(diff[..., 0], diff[..., 1])
    np.testing.assert_array_equal(diff[..., 0], diff[..., 2])
    assert abs(diff.mean()) < 0.2 and abs(diff.std() - 10.0) < 0.2
    bright = add_gaussian_noise(np.full((50, 50, 3), 250, dtype=np.uint8), 19.0, np.random.default_rng(0))
    assert bright.max() == 255 and bright.dtype == np.uint8


def test_resized_crop_params_fallback_and_bounds():
    # A 1-pixel-high strip: no attempt fits the ratio range, so the central fallback is used.
    assert random_resized_crop_params(1, 100, (0.5, 1.0), (0.9, 1 / 0.9), np.random.default_rng(0)) == (0, 49, 1, 1)
    rng = np.random.default_rng(1)
    for _ in range(200):
        top, left, h, w = random_resized_crop_params(40, 70, (0.5, 1.0), (0.9, 1 / 0.9), rng)
        assert h > 0 and w > 0 and top + h <= 40 and left + w <= 70
        assert 0.5 * 40 * 70 * 0.9 <= h * w <= 40 * 70


def test_sample_rng_definition_and_validation():
    a = sample_rng(4321, 7).integers(0, 2**32, 4)
    b = np.random.default_rng(np.random.SeedSequence([2, 4321, 0, 7, 0])).integers(0, 2**32, 4)
    np.testing.assert_array_equal(a, b)
    # Distinct argument tuples give distinct streams, including the cases a plain SeedSequence confuses.
    for other in [(4321, 8), (4321, 7, 0), (7, 4321), (4321, 2**32 + 7), (4321, 7, 1)]:
        assert not np.array_equal(a, sample_rng(*other).integers(0, 2**32, 4)), other
    assert not np.array_equal(sample_rng(0, 2**32 + 1).integers(0, 2**32, 4), sample_rng(0, 1, 1).integers(0, 2**32, 4))
    with pytest.raises(ValueError, match="non-negative"):
        sample_rng(4321, -1)
    with pytest.raises(ValueError, match="non-negative ints"):
        sample_rng(4321, 1.5)
    with pytest.raises(ValueError, match=r"below 2\*\*64"):
        sample_rng(4321, 2**64)
    with pytest.raises(ValueError, match="positive int or None"):
        AIGenBenchV1EvalChain(maximum_processing_size=0)


_CHILD = """
import hashlib, sys, types
root, image_path, ids = sys.argv[1], sys.argv[2], [int(i) for i in sys.argv[3].split(",")]
# Load only the augmentations package: the top-level package __init__ pulls in Lightning, which this layer
# must not need (checked below).
package = types.ModuleType("benchmark_pipelines")
package.__path__ = [root + "/benchmark_pipelines"]
sys.modules["benchmark_pipelines"] = package
import numpy as np
from benchmark_pipelines.augmentations import AIGenBenchV1EvalChain, sample_rng
assert "lightning" not in sys.modules and "torch" not in sys.modules, "the augmentations layer imported torch"
img = np.load(image_path)
chain = AIGenBenchV1EvalChain()
for i in ids:
    print(i, hashlib.sha256(chain(img, sample_rng(4321, i)).tobytes()).hexdigest())
"""


def test_same_bytes_for_a_sample_in_any_process_and_any_order(tmp_path):
    img = _natural_image(1100, 1090, seed=11)  # larger than 1080: the seeded crop is exercised too
    chain = AIGenBenchV1EvalChain()
    # Pick samples so that together they fire every step.
    ids, covered = [], set()
    for sample_id in range(200):
        trace: list[tuple[str, dict]] = []
        chain(np.zeros((8, 8, 3), dtype=np.uint8), sample_rng(4321, sample_id), trace=trace)
        new = {name for name, _ in trace} - covered
        if new:
            ids.append(sample_id)
            covered |= new
        if covered == set(PROBABILITIES):
            break
    assert covered == set(PROBABILITIES)

    def digest(sample_id: int) -> str:
        return hashlib.sha256(chain(img, sample_rng(4321, sample_id)).tobytes()).hexdigest()

    forward = {i: digest(i) for i in ids}
    backward = {i: digest(i) for i in reversed(ids)}
    assert forward == backward
    assert len(set(forward.values())) == len(ids)

    image_path = tmp_path / "img.npy"
    np.save(image_path, img)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(REPO_ROOT), str(image_path), ",".join(map(str, order))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for order in (ids, ids[::-1])
    ]
    for child in children:
        stdout, stderr = child.communicate(timeout=120)
        assert child.returncode == 0, stderr
        got = {int(line.split()[0]): line.split()[1] for line in stdout.splitlines()}
        assert got == forward
