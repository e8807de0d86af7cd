"""jpeg_roundtrip equals what the codecs produce through their ordinary file APIs."""

from __future__ import annotations

from io import BytesIO

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmark_pipelines.augmentations import jpeg as jpeg_module
from benchmark_pipelines.augmentations import jpeg_roundtrip


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(5)
    smooth = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (80, 61), interpolation=cv2.INTER_CUBIC)
    return np.clip(smooth.astype(int) + rng.integers(-8, 9, smooth.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("quality", [30, 50, 100])
def test_pil_equals_pil_file_roundtrip(tmp_path, image, quality):
    path = tmp_path / "a.jpg"
    Image.fromarray(image).save(path, quality=quality)
    expected = np.asarray(Image.open(path))
    out = jpeg_roundtrip(image, quality, "pil")
    np.testing.assert_array_equal(out, expected)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)  # it really went through the codec


@pytest.mark.parametrize("quality", [30, 50, 100])
def test_cv2_equals_cv2_file_roundtrip(tmp_path, image, quality):
    path = str(tmp_path / "a.jpg")
    assert cv2.imwrite(path, image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    expected = cv2.imread(path, cv2.IMREAD_COLOR)[:, :, ::-1]
    np.testing.assert_array_equal(jpeg_roundtrip(image, quality, "cv2"), expected)


@pytest.mark.parametrize("library", ["pil", "cv2"])
def test_grey_looking_image_stays_three_channel(image, library):
    grey = np.repeat(image[:, :, :1], 3, axis=2)
    out = jpeg_roundtrip(grey, 50, library)
    assert out.shape == grey.shape
    assert np.abs(out.astype(int) - grey).mean() < 8


def test_input_is_not_modified_and_views_are_accepted(image):
    before = image.copy()
    view = image[::2, 1::2]
    out = jpeg_roundtrip(view, 50, "pil")
    np.testing.assert_array_equal(out, jpeg_roundtrip(np.ascontiguousarray(view), 50, "pil"))
    np.testing.assert_array_equal(image, before)


def test_invalid_arguments(image):
    with pytest.raises(ValueError, match=r"unknown JPEG library 'turbo'.*\['cv2', 'pil'\]"):
        jpeg_roundtrip(image, 50, "turbo")
    with pytest.raises(ValueError, match="101 behaves as 100"):
        jpeg_roundtrip(image, 101, "pil")
    with pytest.raises(ValueError, match="uint8"):
        jpeg_roundtrip(image.astype(np.float32), 50, "pil")


def _pil_reference(img: np.ndarray, quality: int) -> np.ndarray:
    buf = BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(BytesIO(buf.getvalue())).convert("RGB"))


def _cv2_reference(img: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1]


def test_fast_decoder_is_used_and_both_libraries_match_their_own_codecs_on_many_images(monkeypatch):
    """The round trips decode with TurboJPEG (simplejpeg), not with the library that encoded: byte identity with
    each library's own encode + decode, on odd sizes, noise, smooth and grey-looking content, qualities 1..100."""
    original = jpeg_module.decode_jpeg_like_pil
    fast_decodes = []

    def spy(data):
        out = original(data)
        fast_decodes.append(out is not None)
        return out

    monkeypatch.setattr(jpeg_module, "decode_jpeg_like_pil", spy)
    rng = np.random.default_rng(21)
    for i in range(60):
        h, w = (int(v) for v in rng.integers(1, 150, 2))
        smooth = cv2.resize(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
        img = [smooth, rng.integers(0, 256, (h, w, 3), dtype=np.uint8), np.repeat(smooth[:, :, :1], 3, axis=2)][i % 3]
        quality = (50, 100, int(rng.integers(1, 101)))[(i // 3) % 3]
        np.testing.assert_array_equal(jpeg_roundtrip(img, quality, "pil"), _pil_reference(img, quality))
        np.testing.assert_array_equal(jpeg_roundtrip(img, quality, "cv2"), _cv2_reference(img, quality))
    assert len(fast_decodes) == 120 and all(fast_decodes)
