"""Decode encoded image bytes into the one in-memory format of the pipeline: RGB uint8 (H, W, 3)."""

from __future__ import annotations

import functools
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO

import cv2
import numpy as np
import PIL
import pyspng
import simplejpeg
from PIL import Image

from benchmark_pipelines.augmentations.image_ops import pil_to_array

DECODE_MAX_PIXELS = 49_766_400 * 4
"""Largest image (width x height) :func:`decode_rgb` accepts: 4 x 49,766,400 (~199 Mpixel, ~600 MB as RGB).

PIL's own decompression-bomb limit (~89 Mpixel warning, ~179 Mpixel error) is lower than some real photographs
in the benchmark's sources, so it is raised while :func:`decode_rgb` runs and restored afterwards.
"""

_WHITE = (255, 255, 255)
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

# The PIL limit is a module global: callers from several threads must not restore it while another thread
# still needs the raised value, so the override is reference counted.
_limit_lock = threading.Lock()
_limit_users = 0
_saved_limit: int | None = None

# What PIL and its plugins raise on broken input; anything else is a real bug and must propagate.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error, Image.DecompressionBombError)


class ImageDecodeError(ValueError):
    """Raised when encoded image bytes cannot be decoded into an RGB image."""


def _check_pixel_count(width: int, height: int) -> None:
    if width * height > DECODE_MAX_PIXELS:
        raise Image.DecompressionBombError(
            f"image of {width}x{height} pixels exceeds DECODE_MAX_PIXELS={DECODE_MAX_PIXELS}"
        )


@contextmanager
def _raised_pixel_limit() -> Iterator[None]:
    global _limit_users, _saved_limit
    with _limit_lock:
        if _limit_users == 0:
            _saved_limit = Image.MAX_IMAGE_PIXELS
            # None disables PIL's check (and its warning); decode_rgb checks DECODE_MAX_PIXELS itself. While it
            # is disabled, other threads' own Image.open calls are unchecked too: a looser bound, never a failure.
            Image.MAX_IMAGE_PIXELS = None
        _limit_users += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                Image.MAX_IMAGE_PIXELS = _saved_limit


def _high_bit_depth_to_rgb(im: Image.Image) -> np.ndarray:
    values = np.asarray(im)
    if im.mode == "F":
        # Float images have no standard range; follow PIL's convert("L"): round and clip to [0, 255].
        gray = np.clip(np.rint(np.nan_to_num(values)), 0, 255).astype(np.uint8)
    else:
        # 16-bit (and 32-bit "I", which PIL also uses for 16-bit PNGs) -> 8 bit by round(v / 257): maps
        # 0..65535 onto 0..255 exactly and recovers b from 8-bit data stored as b * 257. PIL's own
        # convert would clip everything above 255 to white.
        v = np.clip(values.astype(np.int64), 0, 65535)
        gray = ((v * 255 + 32767) // 65535).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _to_rgb(im: Image.Image) -> np.ndarray:
    if im.mode == "RGB" and "transparency" not in im.info:
        return pil_to_array(im)
    if im.mode in ("L", "1") and "transparency" not in im.info:
        # Channel replication, identical to convert("RGB") but several times faster on very large images.
        gray = np.asarray(im if im.mode == "L" else im.convert("L"))
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    if im.mode in _SIXTEEN_BIT_MODES or im.mode == "F":
        return _high_bit_depth_to_rgb(im)
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        # Alpha is composited on white, as the AI-GenBench dataset builder does; a transparent pixel is white.
        rgba = im if im.mode == "RGBA" else im.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        return pil_to_array(background)
    return pil_to_array(im.convert("RGB"))


# ------------------------------------------------------------------------------------------- fast paths
# PIL decodes PNG and JPEG several times slower than libspng and TurboJPEG (mostly its row-by-row PNG
# unfiltering and its RGBX storage, packed again by np.asarray). PIL still opens every file (header, checksums,
# mode, transparency, animation: its errors are unchanged); only the pixel decoding of files whose pixels
# provably come out identical is delegated, and a file the fast decoder rejects is then loaded by PIL, so broken
# files keep PIL's behaviour.

# PIL modes of 8-bit PNGs whose samples PIL returns as stored -> libspng output format. libspng cannot output
# grey + alpha, so LA comes as RGBA (grey replicated, as PIL's convert("RGBA") does before compositing).
_SPNG_FORMATS = {"L": "L", "RGB": "RGB", "LA": "RGBA", "RGBA": "RGBA"}


def _rawmode(im: Image.Image) -> str | None:
    if len(im.tile) != 1:
        return None
    args = im.tile[0].args
    return args if isinstance(args, str) else args[0] if args else None


def _decode_png_fast(data: bytes, im: Image.Image) -> np.ndarray | None:
    # rawmode == mode: 8 bits per sample (PIL scales 1/2/4-bit grey, keeps the high byte of 16-bit RGB(A));
    # palette, transparency keys, interlaced and animated files go through PIL.
    if (
        im.mode not in _SPNG_FORMATS
        or _rawmode(im) != im.mode
        or "transparency" in im.info
        or im.info.get("interlace")
        or im.get_format_mimetype() != "image/png"
    ):
        return None
    try:
        # libspng without gamma/tRNS/sBIT processing: the stored 8-bit samples, as PIL gives them.
        pixels = pyspng.load(data, format=_SPNG_FORMATS[im.mode])
    except (RuntimeError, ValueError):
        return None
    if im.mode == "L":
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    if im.mode == "RGB":
        return pixels
    return _to_rgb(Image.fromarray(pixels, "RGBA"))  # composited on white like PIL-decoded LA/RGBA files


def _decode_fast(data: bytes, im: Image.Image) -> np.ndarray | None:
    """The pixels of an opened, not yet loaded PNG or JPEG from a faster decoder, or None to let PIL load it."""
    if im.format == "PNG":
        return _decode_png_fast(data, im)
    if im.format == "JPEG" and im.mode in ("RGB", "L") and _rawmode(im) == im.mode:
        return decode_jpeg_like_pil(data)
    return None


# Colour spaces whose conversion to RGB is libjpeg's own (the same code in PIL and TurboJPEG). CMYK/YCCK files
# go through PIL, which inverts Adobe CMYK before converting.
_JPEG_PLAIN_COLORSPACES = frozenset({"YCbCr", "Gray", "RGB"})


def decode_jpeg_like_pil(data: bytes | np.ndarray) -> np.ndarray | None:
    """RGB pixels of a JPEG exactly as ``Image.open(...).convert("RGB")`` gives them, or None.

    TurboJPEG through simplejpeg with PIL's (libjpeg's) defaults: accurate integer IDCT, fancy upsampling,
    full size (no DCT-domain scaling). ``strict=True`` turns libjpeg warnings into failures, so a truncated or
    corrupt file returns None and is left to PIL. None also for CMYK/YCCK files, subsamplings TurboJPEG does
    not handle, and when :func:`fast_jpeg_decoder_matches_pil` is False.

    Raises:
        PIL.Image.DecompressionBombError: the image is larger than :data:`DECODE_MAX_PIXELS`.
    """
    if not fast_jpeg_decoder_matches_pil():
        return None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if colorspace not in _JPEG_PLAIN_COLORSPACES:
        return None
    _check_pixel_count(width, height)
    try:
        return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False, fastupsample=False, min_factor=1)
    except ValueError:
        return None


def _probe_jpegs() -> list[bytes]:
    rng = np.random.default_rng(0)
    smooth = cv2.resize(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8), (45, 37), interpolation=cv2.INTER_CUBIC)
    img = Image.fromarray(np.clip(smooth + rng.integers(0, 24, smooth.shape), 0, 255).astype(np.uint8))
    variants = [
        (img, {"quality": 50}),
        (img, {"quality": 100}),
        (img, {"quality": 75, "subsampling": 1}),
        (img, {"quality": 75, "subsampling": 0, "progressive": True}),
        (img.convert("L"), {"quality": 90}),
    ]
    out = []
    for im, kwargs in variants:
        buf = BytesIO()
        im.save(buf, format="JPEG", **kwargs)
        out.append(buf.getvalue())
    ok, h1v2 = cv2.imencode(
        ".jpg",
        np.asarray(img),
        [cv2.IMWRITE_JPEG_QUALITY, 60, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440],
    )
    if ok:
        out.append(h1v2.tobytes())
    return out


@functools.cache
def fast_jpeg_decoder_matches_pil() -> bool:
    """Whether simplejpeg decodes a probe set of JPEGs (4:2:0, 4:2:2, 4:4:0, progressive 4:4:4, grey) exactly
    as the installed PIL does. Checked once per process; if False (e.g. a libjpeg-turbo build that upsamples
    differently), every JPEG goes through PIL and a warning says so.
    """
    for data in _probe_jpegs():
        with Image.open(BytesIO(data)) as im:
            expected = np.asarray(im.convert("RGB"))
        try:
            got = simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False, fastupsample=False, min_factor=1)
        except ValueError:
            got = None
        if got is None or not np.array_equal(got, expected):
            warnings.warn(
                "simplejpeg does not decode JPEG exactly like PIL with the installed versions "
                f"(simplejpeg {simplejpeg.__version__}, Pillow {PIL.__version__}); decoding JPEG with PIL (slower)",
                RuntimeWarning,
                stacklevel=2,
            )
            return False
    return True


def decode_rgb(data: bytes, *, where: str = "") -> np.ndarray:
    """Decodes an encoded image (PNG, JPEG, WEBP, TIFF, GIF, BMP, ...) into an RGB uint8 array.

    Conversions by mode:

    - ``RGB``: as stored. ``L``, ``P``, ``1``, ``YCbCr``, ``CMYK``: PIL's ``convert("RGB")``.
    - Anything with transparency (``RGBA``, ``LA``, ``PA``, ``P`` or ``L``/``RGB`` with a transparency key):
      composited on a white background.
    - ``I;16``/``I;16B``/``I;16L``/``I`` (16-bit grey): ``round(v / 257)`` clipped to [0, 255] (0..65535 onto
      0..255), replicated to three channels. ``F``: rounded and clipped to [0, 255].
    - Multi-frame files (GIF, animated WEBP): the first frame. EXIF orientation is not applied (pixels as
      stored, like PIL's ``Image.open``).

    Plain 8-bit PNGs are decoded by libspng and YCbCr/grey JPEGs by TurboJPEG (simplejpeg), several times faster
    than PIL and with the same pixels (tests check it byte for byte); everything else, and any file those fail
    on, goes through PIL.

    Images up to :data:`DECODE_MAX_PIXELS` pixels decode; PIL's lower decompression-bomb limit is raised only
    while this call runs (thread-safe), not for the rest of the program.

    Args:
        data: the encoded file content.
        where: what the image is, for the error message (e.g. ``"split 'validation', ID 1234"``).

    Returns:
        A writable, C-contiguous uint8 array of shape (H, W, 3) in RGB order.

    Raises:
        ImageDecodeError: the bytes are not a decodable image, are truncated, or the image is too large.
    """
    try:
        with _raised_pixel_limit(), Image.open(BytesIO(data)) as im:
            _check_pixel_count(*im.size)
            fast = _decode_fast(data, im)
            if fast is not None:
                return fast
            im.load()
            return _to_rgb(im)
    except _DECODE_ERRORS as exc:
        location = f" ({where})" if where else ""
        raise ImageDecodeError(
            f"cannot decode image{location}: {type(exc).__name__}: {exc}. Fix or remove the file, or set "
            "`skip_undecodable: true` in the data config to skip undecodable images."
        ) from exc


__all__ = ["DECODE_MAX_PIXELS", "ImageDecodeError", "decode_rgb"]
