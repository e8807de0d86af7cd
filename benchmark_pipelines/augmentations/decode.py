"""Decode encoded image bytes into the one in-memory format of the pipeline: RGB uint8 (H, W, 3)."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO

import cv2
import numpy as np
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
    if im.mode == "RGB":
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
            width, height = im.size
            if width * height > DECODE_MAX_PIXELS:
                raise Image.DecompressionBombError(
                    f"image of {width}x{height} pixels exceeds DECODE_MAX_PIXELS={DECODE_MAX_PIXELS}"
                )
            im.load()
            return _to_rgb(im)
    except _DECODE_ERRORS as exc:
        location = f" ({where})" if where else ""
        raise ImageDecodeError(
            f"cannot decode image{location}: {type(exc).__name__}: {exc}. Fix or remove the file, or set "
            "`skip_undecodable: true` in the data config to skip undecodable images."
        ) from exc


__all__ = ["DECODE_MAX_PIXELS", "ImageDecodeError", "decode_rgb"]
