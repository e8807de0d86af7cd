"""Fitting images to the model input size: evaluation crop strategies and training size adaptation (spec 4).

Sizes are ``(height, width)`` (torchvision's order) or one int for a square. All functions keep torchvision's
geometry (centre rounding, FiveCrop order, RandomCrop's ``pad_if_needed``) on RGB uint8 arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from benchmark_pipelines.augmentations.image_ops import check_rgb, check_size, pil_to_array

EVAL_CROP_STRATEGIES = ("resize", "crop", "multicrop", "as_is")
TRAIN_SIZE_STRATEGIES = ("resize", "random_crop", "center_crop", "as_is")


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # PIL's bilinear resize is antialiased (its filter widens when downscaling), like torchvision v2's
    # Resize(antialias=True); the aspect ratio is not preserved, as in the reference.
    return pil_to_array(Image.fromarray(img, "RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR))


def _crop(img: np.ndarray, top: int, left: int, size: tuple[int, int]) -> np.ndarray:
    return np.ascontiguousarray(img[top : top + size[0], left : left + size[1]])


def _center_crop(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    crop_h, crop_w = size
    h, w = img.shape[:2]
    if crop_h > h or crop_w > w:
        # torchvision CenterCrop: zero padding, the odd pixel going to the bottom/right.
        pad_h, pad_w = max(crop_h - h, 0), max(crop_w - w, 0)
        img = np.pad(img, ((pad_h // 2, (pad_h + 1) // 2), (pad_w // 2, (pad_w + 1) // 2), (0, 0)))
        h, w = img.shape[:2]
    # Python's round (half to even), as torchvision's int(round((h - crop_h) / 2.0)).
    return _crop(img, int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0)), size)


def _five_crop(img: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    crop_h, crop_w = size
    h, w = img.shape[:2]
    return [
        _crop(img, 0, 0, size),
        _crop(img, 0, w - crop_w, size),
        _crop(img, h - crop_h, 0, size),
        _crop(img, h - crop_h, w - crop_w, size),
        _center_crop(img, size),
    ]


def eval_crops(img: np.ndarray, strategy: str, size: int | Sequence[int]) -> list[np.ndarray]:
    """The evaluation views of an image, after the mandatory chain (``make_eval_crops`` in the reference).

    - ``"resize"``: one PIL bilinear (antialiased) resize to ``size``, aspect ratio not preserved.
    - ``"crop"``: one centre crop; a side smaller than ``size`` is zero-padded first (torchvision CenterCrop).
    - ``"multicrop"``: five crops in torchvision FiveCrop order: top-left, top-right, bottom-left,
      bottom-right, centre. If ``H <= size_h`` or ``W <= size_w``, a single centre crop instead (reference).
    - ``"as_is"``: the image unchanged, for size-agnostic models.

    Args:
        img: RGB uint8 array (H, W, 3).
        strategy: one of :data:`EVAL_CROP_STRATEGIES`.
        size: ``(height, width)`` or one int.

    Returns:
        The crops (C-contiguous arrays, all of ``size`` except for ``"as_is"``); score fusion averages over them.

    Raises:
        ValueError: unknown strategy or invalid size.
    """
    if strategy not in EVAL_CROP_STRATEGIES:
        raise ValueError(f"unknown evaluation cropping strategy {strategy!r}; allowed: {list(EVAL_CROP_STRATEGIES)}")
    img = check_rgb(img)
    hw = check_size(size)
    if strategy == "resize":
        return [_resize(img, hw)]
    if strategy == "crop":
        return [_center_crop(img, hw)]
    if strategy == "multicrop":
        if img.shape[0] <= hw[0] or img.shape[1] <= hw[1]:
            return [_center_crop(img, hw)]
        return _five_crop(img, hw)
    return [img]


def train_size_adapt(img: np.ndarray, strategy: str, size: int | Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Training size adaptation (``training_cropping_strategy``), after rot90 and flip.

    - ``"resize"``: PIL bilinear resize to ``size`` (as evaluation).
    - ``"random_crop"``: torchvision ``RandomCrop(size, pad_if_needed=True)``: a side shorter than the target
      by ``d`` is zero-padded by ``d`` on *both* ends (torchvision's behaviour), then ``top ~ integers[0, H - h]``
      and ``left ~ integers[0, W - w]`` (inclusive) are drawn from ``rng``, always both, in that order.
    - ``"center_crop"``: centre crop, zero-padded if needed.
    - ``"as_is"``: unchanged.

    Args:
        img: RGB uint8 array (H, W, 3).
        strategy: one of :data:`TRAIN_SIZE_STRATEGIES`.
        size: ``(height, width)`` or one int.
        rng: the generator of the non-deterministic part (only ``"random_crop"`` draws).

    Raises:
        ValueError: unknown strategy or invalid size.
    """
    if strategy not in TRAIN_SIZE_STRATEGIES:
        raise ValueError(f"unknown training cropping strategy {strategy!r}; allowed: {list(TRAIN_SIZE_STRATEGIES)}")
    img = check_rgb(img)
    hw = check_size(size)
    if strategy == "resize":
        return _resize(img, hw)
    if strategy == "center_crop":
        return _center_crop(img, hw)
    if strategy == "random_crop":
        pad_h, pad_w = max(hw[0] - img.shape[0], 0), max(hw[1] - img.shape[1], 0)
        if pad_h or pad_w:
            img = np.pad(img, ((pad_h, pad_h), (pad_w, pad_w), (0, 0)))
        top = int(rng.integers(0, img.shape[0] - hw[0] + 1))
        left = int(rng.integers(0, img.shape[1] - hw[1] + 1))
        return _crop(img, top, left, hw)
    return img


__all__ = ["EVAL_CROP_STRATEGIES", "TRAIN_SIZE_STRATEGIES", "eval_crops", "train_size_adapt"]
