"""Training augmentation sets (spec 3.3): a seeded "deterministic" part and a free "non-deterministic" part.

The protocol allows only flip, rotation and crop in the non-deterministic part; everything else is seeded per
(copy, element) with :func:`train_sample_seed`, so an epoch over ``augmentation_factor`` copies is a fixed
dataset. The mandatory train preprocessing (crop to <= 1080 px,
:func:`~benchmark_pipelines.augmentations.mandatory_eval.crop_if_large`) and the size adaptation
(:func:`~benchmark_pipelines.augmentations.crops.train_size_adapt`) are applied by the caller, before
``deterministic`` and after ``nondeterministic`` respectively.
"""

from __future__ import annotations

import difflib
import operator

import cv2
import numpy as np
from PIL import Image, ImageEnhance

from benchmark_pipelines.augmentations.image_ops import (
    Trace,
    check_rgb,
    pil_to_array,
    random_gaussian_noise,
    random_grayscale,
    random_resized_crop,
)
from benchmark_pipelines.augmentations.jpeg import random_jpeg
from benchmark_pipelines.augmentations.mandatory_eval import AIGenBenchV1EvalChain

SEED_SHIFT = 2**27
MAXIMUM_SEED_VALUE = 2**31


def train_sample_seed(base_seed: int, copy_k: int, index: int) -> int:
    """Seed of element ``index`` of augmented copy ``copy_k`` (reference ``PreAugmentedDataset``).

    ``seed = (base_seed + copy_k * 2**27) % 2**31 + index``; the caller builds ``np.random.default_rng(seed)``
    and uses it for the mandatory train crop and then :meth:`TrainAugmentations.deterministic`. With
    ``augmentation_factor`` copies, dataset item ``idx`` is copy ``idx % factor``, element ``idx // factor``.

    Raises:
        ValueError: an argument is not a non-negative int.
    """
    values = []
    for what, value in (("base_seed", base_seed), ("copy_k", copy_k), ("index", index)):
        try:
            v = operator.index(value)
        except TypeError:
            raise ValueError(f"{what} must be a non-negative int, got {value!r}") from None
        if v < 0:
            raise ValueError(f"{what} must be a non-negative int, got {v}")
        values.append(v)
    base, k, i = values
    return (base + k * SEED_SHIFT) % MAXIMUM_SEED_VALUE + i


def random_rot90_flip(img: np.ndarray, rng: np.random.Generator, trace: Trace | None = None) -> np.ndarray:
    """Rotation by ``k * 90`` degrees counter-clockwise (``k ~ U{0..3}``, size expands) then a horizontal flip
    with p = 0.5. Draws: ``k``, then the flip uniform.
    """
    img = check_rgb(img)
    k = int(rng.integers(4))
    flip = bool(rng.random() < 0.5)
    if trace is not None:
        trace.append(("rot90", {"k": k}))
        if flip:
            trace.append(("hflip", {}))
    out = np.rot90(img, k)
    if flip:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def _adjust_hue(im: Image.Image, hue_factor: float) -> Image.Image:
    h, s, v = im.convert("HSV").split()
    # torchvision adds np.uint8(hue_factor * 255) with wrap-around; the float->uint8 cast of a negative value
    # is platform dependent, so the x86 result (truncate toward zero, then modulo 256) is computed explicitly.
    shift = int(hue_factor * 255) % 256
    h = Image.fromarray(((np.asarray(h).astype(np.uint16) + shift) % 256).astype(np.uint8), "L")
    return Image.merge("HSV", (h, s, v)).convert("RGB")


def random_color_jitter(
    img: np.ndarray,
    rng: np.random.Generator,
    p: float,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    trace: Trace | None = None,
) -> np.ndarray:
    """With probability ``p``, torchvision ``ColorJitter`` as it runs on PIL images.

    Draws: apply; the order of the four adjustments (``rng.permutation(4)``); the factors
    ``U(1 - brightness, 1 + brightness)``, ``U(1 - contrast, 1 + contrast)``, ``U(1 - saturation, 1 + saturation)``,
    ``U(-hue, hue)``. Brightness, contrast and saturation use ``PIL.ImageEnhance`` (contrast blends with the
    mean grey level), hue shifts the H channel of PIL's HSV.
    """
    if rng.random() >= p:
        return img
    order = [int(i) for i in rng.permutation(4)]
    b = float(rng.uniform(1 - brightness, 1 + brightness))
    c = float(rng.uniform(1 - contrast, 1 + contrast))
    s = float(rng.uniform(1 - saturation, 1 + saturation))
    h = float(rng.uniform(-hue, hue))
    if trace is not None:
        trace.append(("color_jitter", {"order": order, "brightness": b, "contrast": c, "saturation": s, "hue": h}))
    im = Image.fromarray(img, "RGB")
    for i in order:
        if i == 0:
            im = ImageEnhance.Brightness(im).enhance(b)
        elif i == 1:
            im = ImageEnhance.Contrast(im).enhance(c)
        elif i == 2:
            im = ImageEnhance.Color(im).enhance(s)
        else:
            im = _adjust_hue(im, h)
    return pil_to_array(im)


def random_coarse_dropout(
    img: np.ndarray,
    rng: np.random.Generator,
    p: float,
    max_hole: int,
    fill: int,
    trace: Trace | None = None,
) -> np.ndarray:
    """With probability ``p``, one rectangle of random size filled with ``fill`` (albumentations ``CoarseDropout``
    with one hole). Draws: apply; hole height, hole width ``~ U{1..max_hole}`` (clipped to the image); top; left.
    """
    if rng.random() >= p:
        return img
    hole_h = min(int(rng.integers(1, max_hole + 1)), img.shape[0])
    hole_w = min(int(rng.integers(1, max_hole + 1)), img.shape[1])
    top = int(rng.integers(0, img.shape[0] - hole_h + 1))
    left = int(rng.integers(0, img.shape[1] - hole_w + 1))
    if trace is not None:
        trace.append(("coarse_dropout", {"top": top, "left": left, "height": hole_h, "width": hole_w}))
    out = img.copy()
    out[top : top + hole_h, left : left + hole_w] = fill
    return out


def random_gaussian_blur(
    img: np.ndarray,
    rng: np.random.Generator,
    p: float,
    sigma_range: tuple[float, float],
    trace: Trace | None = None,
) -> np.ndarray:
    """With probability ``p``, a Gaussian blur with ``sigma ~ U(sigma_range)``. Draws: apply, sigma.

    The reference's ``scipy.ndimage.gaussian_filter`` per channel, computed with cv2 (scipy is not a dependency):
    kernel radius ``int(4 * sigma + 0.5)``, mirror borders (``BORDER_REFLECT`` is scipy's ``"reflect"``),
    filtering in float32 and rounding once, which is within 0.5 grey level of the exact filter. The reference
    filters uint8 in place, which truncates after each of the two passes (about 1 grey level darker on average);
    that bias is not reproduced. A radius of 0 (sigma < 0.125) is the identity, as in scipy.
    """
    if rng.random() >= p:
        return img
    sigma = float(rng.uniform(sigma_range[0], sigma_range[1]))
    if trace is not None:
        trace.append(("gaussian_blur", {"sigma": sigma}))
    radius = int(4 * sigma + 0.5)
    if radius == 0:
        return img
    ksize = 2 * radius + 1
    # cv2's uint8 path uses a fixed-point kernel that can be off by more than one level; float32 is exact enough.
    out = cv2.GaussianBlur(
        img.astype(np.float32), (ksize, ksize), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT
    )
    np.rint(out, out=out)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


class TrainAugmentations:
    """A training augmentation set; this base class is the identity (no augmentation at all, set ``"none"``).

    Subclasses override :meth:`deterministic` (seeded per copy and element) and :meth:`nondeterministic`
    (flip/rotation only, drawn from a generator that changes every epoch).
    """

    name = "none"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def deterministic(self, img: np.ndarray, rng: np.random.Generator, trace: Trace | None = None) -> np.ndarray:
        """The seeded part.

        Args:
            img: RGB uint8 array (H, W, 3), already cropped to <= 1080 px; not modified.
            rng: ``np.random.default_rng(train_sample_seed(4321, k, i))``.
            trace: if given, ``(op name, params)`` is appended for every op that fires.
        """
        return check_rgb(img)

    def nondeterministic(self, img: np.ndarray, rng: np.random.Generator, trace: Trace | None = None) -> np.ndarray:
        """The free part (before the caller's size adaptation)."""
        return check_rgb(img)


class NoTrainAugmentations(TrainAugmentations):
    """Set ``"none"``: both parts are the identity (only the caller's mandatory crop and size adaptation run)."""


class _RotFlipTrainAugmentations(TrainAugmentations):
    def nondeterministic(self, img: np.ndarray, rng: np.random.Generator, trace: Trace | None = None) -> np.ndarray:
        """rot90 by ``k ~ U{0..3}`` (expanding) then horizontal flip with p = 0.5 (:func:`random_rot90_flip`)."""
        return random_rot90_flip(img, rng, trace)


class BaselineTrainAugmentations(_RotFlipTrainAugmentations):
    """``make_baseline_train_aug`` of the reference.

    Deterministic part, in order: RandomResizedCrop(256, scale (0.08, 1), ratio (3/4, 4/3), bilinear) p 0.2;
    ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8; grayscale p 0.2; one hole of 1..48 x 1..48 px filled with 128 p 0.2;
    Gaussian noise std ~ U(0.2, 0.44) * 255 p 0.2 (albumentations' default, heavy); Gaussian blur
    sigma ~ U(0, 3) p 0.5; JPEG quality ~ U{30..100} with a random codec p 0.5.
    Non-deterministic part: rot90 and horizontal flip.
    """

    name = "baseline"

    def deterministic(self, img: np.ndarray, rng: np.random.Generator, trace: Trace | None = None) -> np.ndarray:
        img = check_rgb(img)
        img = random_resized_crop(
            img,
            rng,
            0.2,
            side_range=(256, 256),
            scale=(0.08, 1.0),
            ratio=(3 / 4, 4 / 3),
            interpolations=("bilinear",),
            trace=trace,
        )
        img = random_color_jitter(img, rng, 0.8, 0.4, 0.4, 0.4, 0.1, trace)
        img = random_grayscale(img, rng, 0.2, trace)
        img = random_coarse_dropout(img, rng, 0.2, max_hole=48, fill=128, trace=trace)
        img = random_gaussian_noise(img, rng, 0.2, (0.2, 0.44), trace)
        img = random_gaussian_blur(img, rng, 0.5, (0.0, 3.0), trace)
        return random_jpeg(img, rng, 0.5, tuple(range(30, 101)), trace)


class SoftTrainAugmentations(_RotFlipTrainAugmentations):
    """``make_soft_train_aug`` of the reference: the deterministic part is exactly steps 2-7 of the mandatory
    evaluation chain (:meth:`AIGenBenchV1EvalChain.degrade`); the non-deterministic part is rot90 and flip.
    """

    name = "soft"

    def __init__(self) -> None:
        self._chain = AIGenBenchV1EvalChain(maximum_processing_size=None)

    def deterministic(self, img: np.ndarray, rng: np.random.Generator, trace: Trace | None = None) -> np.ndarray:
        return self._chain.degrade(img, rng, trace)


TRAIN_AUGMENTATION_SETS: dict[str, type[TrainAugmentations]] = {
    "baseline": BaselineTrainAugmentations,
    "soft": SoftTrainAugmentations,
    "none": NoTrainAugmentations,
}


def make_train_augmentations(name: str) -> TrainAugmentations:
    """Builds the training augmentation set registered as ``name`` in :data:`TRAIN_AUGMENTATION_SETS`.

    Raises:
        ValueError: unknown name (the message lists the known ones and close matches).
    """
    cls = TRAIN_AUGMENTATION_SETS.get(name) if isinstance(name, str) else None
    if cls is None:
        close = difflib.get_close_matches(str(name), TRAIN_AUGMENTATION_SETS, n=2)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        raise ValueError(
            f"unknown training augmentation set {name!r}{hint}; allowed: {sorted(TRAIN_AUGMENTATION_SETS)}"
        )
    return cls()


__all__ = [
    "MAXIMUM_SEED_VALUE",
    "SEED_SHIFT",
    "TRAIN_AUGMENTATION_SETS",
    "BaselineTrainAugmentations",
    "NoTrainAugmentations",
    "SoftTrainAugmentations",
    "TrainAugmentations",
    "make_train_augmentations",
    "random_coarse_dropout",
    "random_color_jitter",
    "random_gaussian_blur",
    "random_rot90_flip",
    "train_sample_seed",
]
