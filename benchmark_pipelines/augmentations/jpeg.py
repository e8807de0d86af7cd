"""JPEG compression round trips through PIL or OpenCV, straight from and to numpy."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from io import BytesIO

import cv2
import numpy as np
from PIL import Image

from benchmark_pipelines.augmentations.decode import decode_jpeg_like_pil
from benchmark_pipelines.augmentations.image_ops import Trace, check_rgb, pil_to_array

JPEG_LIBRARIES = ("cv2", "pil")
"""Codecs of the AI-GenBench JPEG helper, in the order the random library index refers to."""


def _check_quality(quality: int) -> int:
    try:
        q = operator.index(quality)
    except TypeError:
        raise ValueError(f"JPEG quality must be an int in [0, 100], got {quality!r}") from None
    if not 0 <= q <= 100:
        # The reference passes 101, which both codecs clamp to 100 (byte-identical output).
        raise ValueError(f"JPEG quality must be in [0, 100] (101 behaves as 100 in both codecs), got {q}")
    return q


def jpeg_roundtrip(img: np.ndarray, quality: int, library: str) -> np.ndarray:
    """Encodes ``img`` as JPEG and decodes it back, with the codec's default settings.

    - ``"pil"``: ``Image.fromarray(img).save(buf, format="JPEG", quality=quality)`` then ``Image.open``
      (PIL's default subsampling and tables; full-size decode, no ``draft``/DCT-domain scaling).
    - ``"cv2"``: RGB -> BGR, ``cv2.imencode(".jpg", bgr, [IMWRITE_JPEG_QUALITY, quality])``, ``cv2.imdecode``
      with ``IMREAD_COLOR``, BGR -> RGB.

    Both always write a three-component JPEG, so a grey-looking RGB image stays three-channel. Each library's own
    encoder writes the file; it is decoded by :func:`~benchmark_pipelines.augmentations.decode.decode_jpeg_like_pil`
    (TurboJPEG with libjpeg's default accurate IDCT and fancy upsampling), which gives the same pixels as
    ``Image.open`` and ``cv2.imdecode`` (both libjpeg-turbo with those defaults; tests compare all three) without
    PIL's RGBX repacking or OpenCV's BGR swaps.

    Args:
        img: RGB uint8 array (H, W, 3).
        quality: JPEG quality in [0, 100].
        library: ``"pil"`` or ``"cv2"``.

    Returns:
        The decoded RGB uint8 array, same shape as ``img``.
    """
    img = check_rgb(img)
    q = _check_quality(quality)
    if library == "pil":
        buf = BytesIO()
        Image.fromarray(img, "RGB").save(buf, format="JPEG", quality=q)
        decoded = decode_jpeg_like_pil(buf.getbuffer())
        if decoded is not None:
            return decoded
        buf.seek(0)
        with Image.open(buf) as im:
            return pil_to_array(im.convert("RGB") if im.mode != "RGB" else im)
    if library == "cv2":
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
        if not ok:
            raise RuntimeError(f"cv2.imencode failed on an image of shape {img.shape} at quality {q}")
        decoded = decode_jpeg_like_pil(encoded)
        if decoded is not None:
            return decoded
        return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    raise ValueError(f"unknown JPEG library {library!r}; allowed: {list(JPEG_LIBRARIES)}")


def random_jpeg(
    img: np.ndarray,
    rng: np.random.Generator,
    p: float,
    qualities: Sequence[int],
    trace: Trace | None = None,
    name: str = "jpeg",
) -> np.ndarray:
    """With probability ``p``, :func:`jpeg_roundtrip` with a random library and quality.

    Draws: apply uniform; library index uniformly over :data:`JPEG_LIBRARIES`; quality index uniformly over
    ``qualities`` (the reference's ``data_augment_cmp`` also picks the method before the quality).
    """
    if rng.random() >= p:
        return img
    library = JPEG_LIBRARIES[int(rng.integers(len(JPEG_LIBRARIES)))]
    quality = int(qualities[int(rng.integers(len(qualities)))])
    if trace is not None:
        trace.append((name, {"library": library, "quality": quality}))
    return jpeg_roundtrip(img, quality, library)


__all__ = ["JPEG_LIBRARIES", "jpeg_roundtrip", "random_jpeg"]
