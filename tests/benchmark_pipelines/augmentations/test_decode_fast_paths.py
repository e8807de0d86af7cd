"""The libspng/TurboJPEG fast paths of decode_rgb give PIL's pixels byte for byte, and leave to PIL what they
cannot reproduce (files PIL converts specially, broken files)."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmark_pipelines.augmentations import ImageDecodeError, decode_rgb
from benchmark_pipelines.augmentations import decode as decode_module


def _encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _pil_reference(data: bytes) -> np.ndarray:
    """What decode_rgb returned before the fast paths: PIL decodes, then the module's mode conversion."""
    with Image.open(BytesIO(data)) as im:
        im.load()
        return decode_module._to_rgb(im)


def _photo_like(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    smooth = cv2.resize(
        rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC
    )
    return np.clip(smooth.astype(np.int16) + rng.integers(-12, 13, smooth.shape), 0, 255).astype(np.uint8)


def _fast(data: bytes) -> np.ndarray | None:
    """The fast path's pixels, None when decode_rgb would let PIL load the file."""
    with Image.open(BytesIO(data)) as im:
        return decode_module._decode_fast(data, im)


def _assert_fast_and_identical(data: bytes, reference: np.ndarray) -> None:
    fast = _fast(data)
    assert fast is not None, "the fast path was not taken"
    assert fast.dtype == np.uint8 and fast.flags.c_contiguous and fast.flags.writeable
    np.testing.assert_array_equal(fast, reference)
    np.testing.assert_array_equal(decode_rgb(data), reference)


# ------------------------------------------------------------------------------------------------ PNG


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA"])
def test_png_fast_path_equals_pil(mode):
    rng = np.random.default_rng(11)
    for h, w in [(1, 1), (7, 13), (64, 33), (129, 200)]:
        rgb = _photo_like(rng, h, w)
        im = Image.fromarray(rgb)
        if mode in ("RGBA", "LA"):
            alpha = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8))
            im = im.convert(mode[:-1])
            im.putalpha(alpha)
        else:
            im = im.convert(mode)
        for kwargs in ({}, {"compress_level": 0}, {"compress_level": 9}, {"optimize": True}):
            data = _encode(im, "PNG", **kwargs)
            reference = np.asarray(Image.open(BytesIO(data)).convert("RGB")) if mode in ("RGB", "L") else None
            if reference is None:
                reference = _pil_reference(data)  # alpha composited on white by PIL, as before
            _assert_fast_and_identical(data, reference)


def test_png_from_other_encoders_and_with_ancillary_chunks():
    rgb = _photo_like(np.random.default_rng(3), 50, 77)
    for level in (0, 3, 9):  # libpng's own filter heuristics, not PIL's
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, level])
        assert ok
        _assert_fast_and_identical(encoded.tobytes(), rgb)
    # gAMA, an ICC profile and text are information only: PIL does not apply them, nor does the fast path.
    data = _encode(Image.fromarray(rgb), "PNG", icc_profile=b"\0" * 200, dpi=(72, 72))
    data = _insert_chunk(data, b"gAMA", struct.pack(">I", 22727))
    _assert_fast_and_identical(data, rgb)
    np.testing.assert_array_equal(np.asarray(Image.open(BytesIO(data)).convert("RGB")), rgb)


def _insert_chunk(png: bytes, chunk_type: bytes, payload: bytes) -> bytes:
    chunk = struct.pack(">I", len(payload)) + chunk_type + payload
    chunk += struct.pack(">I", zlib.crc32(chunk_type + payload))
    return png[:33] + chunk + png[33:]  # right after IHDR


def test_png_that_pil_converts_specially_goes_through_pil():
    rgb = np.random.default_rng(4).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    palette = Image.fromarray(rgb).quantize(16)
    sixteen = Image.frombytes("I;16", (11, 9), np.random.default_rng(5).integers(0, 256, 198, dtype=np.uint8).tobytes())
    cases = {
        "rgb with a transparent colour": _encode(Image.fromarray(rgb), "PNG", transparency=tuple(rgb[0, 0].tolist())),
        "palette": _encode(palette, "PNG"),
        "bilevel": _encode(Image.fromarray(rgb).convert("1"), "PNG"),
        "16-bit grey": _encode(sixteen, "PNG"),
        "animated": _encode(Image.fromarray(rgb), "PNG", save_all=True, append_images=[Image.fromarray(rgb[::-1])]),
    }
    for name, data in cases.items():
        assert _fast(data) is None, name
        np.testing.assert_array_equal(decode_rgb(data), _pil_reference(data), err_msg=name)
    # The transparent colour really is composited on white.
    assert (decode_rgb(cases["rgb with a transparent colour"])[0, 0] == 255).all()


def test_broken_png_behaves_as_pil():
    data = _encode(Image.fromarray(_photo_like(np.random.default_rng(6), 40, 40)), "PNG")
    bad_crc = _insert_chunk(data, b"tEXt", b"k\0v")
    pos = 33 + 8 + 3  # the CRC of the inserted tEXt chunk
    bad_crc = bad_crc[:pos] + bytes([bad_crc[pos] ^ 1]) + bad_crc[pos + 1 :]
    # PIL opens every file, so what it refuses in the header is refused as before: a bad checksum, or a
    # well-checksummed but malformed chunk (an empty sRGB chunk) that libspng alone would skip.
    for bad in (bad_crc, _insert_chunk(data, b"sRGB", b"")):
        with pytest.raises((OSError, ValueError)):
            Image.open(BytesIO(bad)).load()
        with pytest.raises(ImageDecodeError):
            decode_rgb(bad)
    # PIL decodes a file cut inside the last checksums (all pixels are there); libspng refuses it, so it goes
    # through PIL too.
    _assert_behaves_as_pil([data[:cut] for cut in (40, len(data) // 2, len(data) - 30, len(data) - 20)])


def _assert_behaves_as_pil(broken: list[bytes]) -> None:
    outcomes = set()
    for bad in broken:
        try:
            expected = _pil_reference(bad)
        except (OSError, SyntaxError, ValueError):
            outcomes.add("raises")
            with pytest.raises(ImageDecodeError):
                decode_rgb(bad)
        else:
            outcomes.add("decodes")
            np.testing.assert_array_equal(decode_rgb(bad), expected)
    assert outcomes == {"raises", "decodes"}  # both kinds were exercised


# ----------------------------------------------------------------------------------------------- JPEG


def test_probe_says_the_fast_jpeg_decoder_matches_pil():
    # If this fails, every JPEG silently takes the (correct, slower) PIL path: the installed simplejpeg and
    # Pillow disagree on some JPEG, and the tests below show which.
    assert decode_module.fast_jpeg_decoder_matches_pil()


_CV2_SAMPLING = {
    "411": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411,
    "440": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440,
    "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
}


def _random_jpeg(rng: np.random.Generator, variant: str, quality: int) -> bytes:
    h, w = (int(v) for v in rng.integers(1, 120, 2))
    rgb = _photo_like(rng, h, w) if rng.random() < 0.7 else rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    im = Image.fromarray(rgb)
    if variant.startswith("cv2"):
        flags = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _CV2_SAMPLING[variant[4:]]]
        ok, encoded = cv2.imencode(".jpg", rgb, flags)
        assert ok
        return encoded.tobytes()
    if variant.startswith("grey"):
        im = im.convert("L")
    return _encode(im, "JPEG", quality=quality, **_PIL_OPTIONS[variant])


_PIL_OPTIONS = {
    "420": {},
    "422": {"subsampling": 1},
    "444": {"subsampling": 0},
    "progressive": {"progressive": True},
    "optimized, restart markers": {"optimize": True, "restart_marker_rows": 1},
    "rgb (no YCbCr)": {"keep_rgb": True},
    "grey": {},
    "grey progressive": {"progressive": True},
}
JPEG_VARIANTS = [
    "420",
    "422",
    "444",
    "progressive",
    "optimized, restart markers",
    "rgb (no YCbCr)",
    "grey",
    "grey progressive",
    "cv2 411",
    "cv2 440",
    "cv2 422",
]


@pytest.mark.parametrize("variant", JPEG_VARIANTS)
def test_jpeg_fast_path_equals_pil(variant):
    rng = np.random.default_rng(JPEG_VARIANTS.index(variant))
    for quality in (50, 100, 75, 95, *(int(q) for q in rng.integers(1, 101, 4))):
        data = _random_jpeg(rng, variant, quality)
        reference = np.asarray(Image.open(BytesIO(data)).convert("RGB"))
        _assert_fast_and_identical(data, reference)


def test_cmyk_jpeg_goes_through_pil():
    data = _encode(Image.new("CMYK", (8, 8), (10, 20, 30, 40)), "JPEG", quality=90)
    assert _fast(data) is None
    np.testing.assert_array_equal(decode_rgb(data), _pil_reference(data))


def test_broken_jpeg_behaves_as_pil():
    """Truncated or corrupted files: decode_rgb raises when PIL raises and returns PIL's pixels when PIL decodes
    (libjpeg's "corrupt data" warnings make the strict fast path hand the file to PIL)."""
    rng = np.random.default_rng(8)
    data = _encode(Image.fromarray(_photo_like(rng, 64, 80)), "JPEG", quality=90)
    broken = [data[:cut] for cut in (3, 100, len(data) // 2, len(data) - 2)]
    for pos in rng.integers(400, len(data) - 10, 6):
        broken.append(data[:pos] + bytes([data[pos] ^ 0x5A]) + data[pos + 1 :])
    broken.append(data[:400] + b"\xff\x00garbage" + data[400:])
    _assert_behaves_as_pil(broken)
