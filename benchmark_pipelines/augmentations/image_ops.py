"""Pixel building blocks shared by the evaluation chain and the training augmentation sets.

Every function takes and returns RGB uint8 arrays of shape (H, W, 3), never modifies its input, and draws
randomness only from the ``np.random.Generator`` it is given. The ``random_*`` functions follow one draw
order: first one ``rng.random()`` to decide whether the op fires (it fires when the value is below ``p``),
then, only if it fires, its parameters in the order documented on each function. They append
``(name, params)`` to ``trace`` when it fires, so tests can observe what happened.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image

Trace = list[tuple[str, dict[str, Any]]]
"""What fired, in order: ``(op name, parameters)``."""

INTERPOLATIONS: dict[str, Image.Resampling] = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def check_rgb(img: Any, what: str = "image") -> np.ndarray:
    """Checks that ``img`` is a uint8 (H, W, 3) array and returns it C-contiguous.

    Raises:
        TypeError: not a numpy array.
        ValueError: wrong dtype or shape.
    """
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{what} must be a numpy uint8 array of shape (H, W, 3), got {type(img).__name__}")
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(
            f"{what} must be a non-empty uint8 array of shape (H, W, 3) (RGB, channels last), "
            f"got dtype {img.dtype} and shape {img.shape}"
        )
    return np.ascontiguousarray(img)


def check_size(size: int | Sequence[int], what: str = "size") -> tuple[int, int]:
    """Normalises an output size given as ``s`` or ``(height, width)`` to a tuple of two positive ints."""
    try:
        pair = (operator.index(size),) * 2 if not isinstance(size, Sequence) else tuple(operator.index(s) for s in size)
    except TypeError:
        raise ValueError(f"{what} must be an int or a (height, width) pair of ints, got {size!r}") from None
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{what} must be an int or a (height, width) pair of positive ints, got {size!r}")
    return pair[0], pair[1]


def pil_to_array(im: Image.Image) -> np.ndarray:
    """Writable C-contiguous array of a PIL image.

    ``np.asarray`` is an order of magnitude faster than ``np.array`` on a PIL image but views an immutable
    bytes object; the copy makes the result writable (``torch.from_numpy`` warns on read-only arrays).
    """
    return np.asarray(im).copy()


def to_grayscale(img: np.ndarray) -> np.ndarray:
    """Grey version with three equal channels, ITU-R 601-2 luma as PIL's ``convert("L")``.

    ``L = (19595 R + 38470 G + 7471 B + 32768) >> 16``, which is what torchvision's ``rgb_to_grayscale`` does
    on PIL images (the format the reference has at this step). cv2's RGB2GRAY rounds differently.
    """
    gray = np.asarray(Image.fromarray(img, "RGB").convert("L"))
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)  # channel replication, as convert("RGB"), without RGBX repacking


def add_gaussian_noise(img: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Adds zero-mean Gaussian noise of standard deviation ``std`` (grey levels), the same for all channels.

    One (H, W) float32 map from ``rng.standard_normal`` is scaled by ``std`` and added to every channel
    (albumentations >= 2 ``GaussNoise`` default ``per_channel=False``); the sum is rounded to nearest and
    saturated to [0, 255] by ``cv2.add(..., dtype=CV_8U)``, which is about twice as fast as the numpy
    float32 equivalent and rounds the exact sum (numpy's float32 sum can round ``137 + 0.4999996`` up to 137.5).
    """
    noise = rng.standard_normal(img.shape[:2], dtype=np.float32)
    noise *= np.float32(std)
    return cv2.add(img, cv2.merge((noise, noise, noise)), dtype=cv2.CV_8U)


def random_resized_crop_params(
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[int, int, int, int]:
    """torchvision ``RandomResizedCrop.get_params`` reimplemented with ``rng``.

    Up to 10 attempts, each drawing ``area_fraction ~ U(scale)`` then ``log(aspect) ~ U(log(ratio))``, and,
    if the box fits, ``top`` then ``left`` uniformly (inclusive of the last valid offset). If no attempt fits,
    a central crop clamped to the ratio range is returned (no further draws).

    Returns:
        ``(top, left, crop_height, crop_width)``.
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def resized_crop(
    img: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int], interpolation: str
) -> np.ndarray:
    """Crops ``box = (top, left, height, width)`` and resizes it to ``size = (height, width)`` with PIL.

    The crop is taken before resizing (as torchvision's ``resized_crop``) rather than with
    ``Image.resize(box=...)``, which lets the filter read pixels outside the box near its edges.
    """
    top, left, h, w = box
    crop = Image.fromarray(np.ascontiguousarray(img[top : top + h, left : left + w]), "RGB")
    return pil_to_array(crop.resize((size[1], size[0]), INTERPOLATIONS[interpolation]))


def random_grayscale(
    img: np.ndarray, rng: np.random.Generator, p: float, trace: Trace | None = None, name: str = "grayscale"
) -> np.ndarray:
    """With probability ``p``, :func:`to_grayscale`. Draws: the apply uniform only."""
    if rng.random() >= p:
        return img
    if trace is not None:
        trace.append((name, {}))
    return to_grayscale(img)


def random_gaussian_noise(
    img: np.ndarray,
    rng: np.random.Generator,
    p: float,
    std_range: tuple[float, float],
    trace: Trace | None = None,
    name: str = "gaussian_noise",
) -> np.ndarray:
    """With probability ``p``, :func:`add_gaussian_noise` with ``std = U(std_range) * 255``.

    ``std_range`` is a fraction of the maximum value, as in albumentations ``GaussNoise``. Draws: apply, std,
    then the noise map.
    """
    if rng.random() >= p:
        return img
    std = float(rng.uniform(std_range[0], std_range[1])) * 255.0
    if trace is not None:
        trace.append((name, {"std": std}))
    return add_gaussian_noise(img, std, rng)


def random_resized_crop(
    img: np.ndarray,
    rng: np.random.Generator,
    p: float,
    *,
    side_range: tuple[int, int],
    scale: tuple[float, float],
    ratio: tuple[float, float],
    interpolations: Sequence[str],
    trace: Trace | None = None,
    name: str = "random_resized_crop",
) -> np.ndarray:
    """With probability ``p``, a random resized crop to a square of a random side.

    Draws: apply; side ``~ integers[side_range[0], side_range[1]]`` (inclusive); interpolation index
    uniformly from ``interpolations``; then :func:`random_resized_crop_params`.
    """
    if rng.random() >= p:
        return img
    side = int(rng.integers(side_range[0], side_range[1] + 1))
    interpolation = interpolations[int(rng.integers(len(interpolations)))]
    box = random_resized_crop_params(img.shape[0], img.shape[1], scale, ratio, rng)
    if trace is not None:
        trace.append((name, {"size": side, "interpolation": interpolation, "box": box}))
    return resized_crop(img, box, (side, side), interpolation)


__all__ = [
    "INTERPOLATIONS",
    "Trace",
    "add_gaussian_noise",
    "check_rgb",
    "check_size",
    "pil_to_array",
    "random_gaussian_noise",
    "random_grayscale",
    "random_resized_crop",
    "random_resized_crop_params",
    "resized_crop",
    "to_grayscale",
]
