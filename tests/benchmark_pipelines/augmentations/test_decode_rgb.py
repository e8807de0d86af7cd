"""decode_rgb on real files written by PIL in every mode the datasets contain, and on broken input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark_pipelines.augmentations import ImageDecodeError, decode_rgb
from benchmark_pipelines.augmentations import decode as decode_module


def _file_bytes(tmp_path: Path, im: Image.Image, name: str, **save_kwargs) -> bytes:
    path = tmp_path / name
    im.save(path, **save_kwargs)
    return path.read_bytes()


def _check_rgb_array(out: np.ndarray, shape: tuple[int, int]) -> None:
    assert out.dtype == np.uint8
    assert out.shape == (*shape, 3)
    assert out.flags.c_contiguous and out.flags.writeable


def test_rgb_png_and_jpeg(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    out = decode_rgb(_file_bytes(tmp_path, Image.fromarray(rgb), "a.png"))
    _check_rgb_array(out, (7, 9))
    np.testing.assert_array_equal(out, rgb)
    jpeg = _file_bytes(tmp_path, Image.fromarray(rgb), "a.jpg", quality=95)
    np.testing.assert_array_equal(decode_rgb(jpeg), np.asarray(Image.open(tmp_path / "a.jpg")))


def test_grayscale_and_bilevel(tmp_path):
    gray = np.array([[0, 17, 255], [128, 64, 3]], dtype=np.uint8)
    out = decode_rgb(_file_bytes(tmp_path, Image.fromarray(gray, "L"), "l.png"))
    _check_rgb_array(out, (2, 3))
    np.testing.assert_array_equal(out, np.repeat(gray[:, :, None], 3, axis=2))

    bits = Image.fromarray(np.array([[0, 255, 0, 255]], dtype=np.uint8), "L").convert("1")
    out = decode_rgb(_file_bytes(tmp_path, bits, "b.png"))
    np.testing.assert_array_equal(out[0, :, 0], [0, 255, 0, 255])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.array([[[200, 100, 50, 0], [200, 100, 50, 255], [200, 100, 50, 128]]], dtype=np.uint8)
    out = decode_rgb(_file_bytes(tmp_path, Image.fromarray(rgba, "RGBA"), "rgba.png"))
    _check_rgb_array(out, (1, 3))
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])  # fully transparent -> white
    np.testing.assert_array_equal(out[0, 1], [200, 100, 50])  # opaque -> unchanged
    expected = np.rint((np.array([200, 100, 50]) * 128 + 255 * 127) / 255)
    np.testing.assert_allclose(out[0, 2], expected, atol=1)

    la = np.array([[[40, 0], [40, 255]]], dtype=np.uint8)
    out = decode_rgb(_file_bytes(tmp_path, Image.fromarray(la, "LA"), "la.png"))
    np.testing.assert_array_equal(out[0], [[255, 255, 255], [40, 40, 40]])

    webp = _file_bytes(tmp_path, Image.fromarray(rgba, "RGBA"), "rgba.webp", lossless=True)
    np.testing.assert_array_equal(decode_rgb(webp)[0, :2], [[255, 255, 255], [200, 100, 50]])


def test_palette_with_and_without_transparency(tmp_path):
    p = Image.fromarray(np.array([[0, 1, 2]], dtype=np.uint8), "P")
    p.putpalette([10, 20, 30, 200, 0, 0, 0, 0, 250])
    out = decode_rgb(_file_bytes(tmp_path, p, "p.png"))
    np.testing.assert_array_equal(out[0], [[10, 20, 30], [200, 0, 0], [0, 0, 250]])

    out = decode_rgb(_file_bytes(tmp_path, p, "pt.png", transparency=1))
    np.testing.assert_array_equal(out[0], [[10, 20, 30], [255, 255, 255], [0, 0, 250]])

    gif = _file_bytes(tmp_path, p, "pt.gif", transparency=2)
    np.testing.assert_array_equal(decode_rgb(gif)[0], [[10, 20, 30], [200, 0, 0], [255, 255, 255]])


def test_cmyk_and_ycbcr(tmp_path):
    cmyk = Image.new("CMYK", (2, 2), (10, 20, 30, 40))
    out = decode_rgb(_file_bytes(tmp_path, cmyk, "c.tif"))
    np.testing.assert_array_equal(out, np.asarray(cmyk.convert("RGB")))
    out = decode_rgb(_file_bytes(tmp_path, Image.new("CMYK", (8, 8), (0, 0, 0, 0)), "c.jpg", quality=100))
    assert np.abs(out.astype(int) - 255).max() <= 1  # no ink is white

    ycc = Image.new("YCbCr", (8, 8), (120, 128, 128))
    out = decode_rgb(_file_bytes(tmp_path, ycc, "y.jpg", quality=100))
    assert np.abs(out.astype(int) - 120).max() <= 1


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path, mode):
    values = np.array([[0, 10 * 257, 1000, 32768, 65535]])
    if mode == "I":
        im = Image.fromarray(values.astype(np.int32), "I")
    else:
        dtype = ">u2" if mode == "I;16B" else "<u2"
        im = Image.frombytes(mode, (5, 1), values.astype(dtype).tobytes())
    data = _file_bytes(tmp_path, im, "g16.tif") if mode != "I;16" else _file_bytes(tmp_path, im, "g16.png")
    assert Image.open(tmp_path / ("g16.png" if mode == "I;16" else "g16.tif")).mode == mode
    out = decode_rgb(data)
    # round(v / 257): 1000 -> 4, 32768 -> 128 (PIL's convert would give 255 for everything above 255)
    np.testing.assert_array_equal(out[0, :, 0], [0, 10, 4, 128, 255])
    np.testing.assert_array_equal(out[..., 0], out[..., 1])


def test_large_image_decodes_and_pil_limit_is_restored(tmp_path, monkeypatch):
    data = _file_bytes(tmp_path, Image.new("L", (9000, 6000), 77), "big.png", compress_level=1)
    out = decode_rgb(data)
    assert out.shape == (6000, 9000, 3)
    assert out[0, 0, 0] == 77 and out[-1, -1, 2] == 77

    # An image far above PIL's limit decodes; the limit is raised only during the call.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    small_but_too_big_for_pil = _file_bytes(tmp_path, Image.new("RGB", (100, 100), (1, 2, 3)), "s.png")
    with pytest.raises(Image.DecompressionBombError):
        Image.open(tmp_path / "s.png")
    np.testing.assert_array_equal(decode_rgb(small_but_too_big_for_pil)[50, 50], [1, 2, 3])
    assert Image.MAX_IMAGE_PIXELS == 1000

    monkeypatch.setattr(decode_module, "DECODE_MAX_PIXELS", 5000)
    with pytest.raises(ImageDecodeError, match=r"ID 3.*exceeds DECODE_MAX_PIXELS"):
        decode_rgb(small_but_too_big_for_pil, where="ID 3")


def test_undecodable_bytes_name_the_sample_and_the_fix(tmp_path):
    where = "split 'validation', ID 1234"
    with pytest.raises(ImageDecodeError, match=r"split 'validation', ID 1234.*skip_undecodable: true"):
        decode_rgb(b"this is not an image", where=where)
    with pytest.raises(ImageDecodeError, match="ID 1234"):
        decode_rgb(b"", where=where)

    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    for name in ("t.png", "t.jpg"):
        data = _file_bytes(tmp_path, noisy, name)
        with pytest.raises(ImageDecodeError, match="ID 1234"):
            decode_rgb(data[: len(data) // 2], where=where)
    assert issubclass(ImageDecodeError, ValueError)
