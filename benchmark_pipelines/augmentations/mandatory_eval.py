"""The mandatory AI-GenBench evaluation chain (protocol ``aigenbench_v1``), seeded per sample.

Every evaluated image goes through the same degradations, in this order (spec section 3.1):

1. crop to at most 1080 x 1080 at a random offset, only if larger;
2. grayscale, p = 0.1;
3. JPEG, p = 0.5;
4. Gaussian noise, p = 0.3, std ~ U(0.015, 0.075) * 255;
5. JPEG, p = 0.2;
6. random resized crop to a square side ~ U{256..512}, p = 0.25;
7. JPEG, p = 0.1.

Each JPEG step picks the codec uniformly from {cv2, pil} and the quality uniformly from {50, 100} (the
reference's ``[50, 101]`` is a discrete choice and 101 behaves as 100).

Randomness comes only from the ``np.random.Generator`` passed in, normally ``sample_rng(4321, ID)``: an image
gets the same degradation wherever it is evaluated (validate, test, predict, any subset, any worker).
The image stays uint8 between steps: unlike the reference, there is no float round trip that truncates.
"""

from __future__ import annotations

import operator

import numpy as np

from benchmark_pipelines.augmentations.image_ops import (
    Trace,
    check_rgb,
    random_gaussian_noise,
    random_grayscale,
    random_resized_crop,
)
from benchmark_pipelines.augmentations.jpeg import random_jpeg


def sample_rng(base_seed: int, sample_id: int, *extra: int) -> np.random.Generator:
    """The random generator of one sample, from ``(base_seed, sample_id, *extra)``.

    ``np.random.default_rng(np.random.SeedSequence([n, lo(v_1), hi(v_1), ..., lo(v_n), hi(v_n)]))`` where the
    ``v_i`` are the arguments, ``n`` their number and ``lo``/``hi`` the low/high 32-bit words of each. The plain
    ``SeedSequence([base_seed, sample_id, *extra])`` is not injective: ``[a, b]`` and ``[a, b, 0]`` give the same
    stream (short entropy is zero-padded) and an int >= 2**32 is split into several words. This encoding has a
    fixed layout per argument count, so distinct argument tuples give independent streams. PCG64 and
    ``SeedSequence`` are platform independent: the same arguments give the same draws in any process.

    Args:
        base_seed: e.g. 4321 for the evaluation chain.
        sample_id: the sample's stable ``ID`` in its split.
        *extra: further ints to mix in (e.g. an epoch).

    Raises:
        ValueError: an argument is not an int in [0, 2**64).
    """
    values = (base_seed, sample_id, *extra)
    entropy = [len(values)]
    for value in values:
        try:
            v = operator.index(value)
        except TypeError:
            raise ValueError(f"sample_rng takes non-negative ints below 2**64, got {value!r}") from None
        if not 0 <= v < 2**64:
            raise ValueError(f"sample_rng takes non-negative ints below 2**64, got {v}")
        entropy += [v & 0xFFFFFFFF, v >> 32]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def crop_if_large(
    img: np.ndarray, rng: np.random.Generator, maximum_size: int | None, trace: Trace | None = None
) -> np.ndarray:
    """Crops to ``min(H, maximum_size) x min(W, maximum_size)`` at a random offset if H or W is larger.

    Draws (only when a crop happens): ``top ~ integers[0, H - crop_h]`` then ``left ~ integers[0, W - crop_w]``,
    both bounds inclusive, so every position is possible. The reference draws ``torch.randint(0, H - crop_h)``
    (exclusive), which never reaches the last row/column offset; per-image draws cannot match it anyway.
    Images not larger than ``maximum_size`` (or ``maximum_size=None``) are returned unchanged, with no draw.

    Returns:
        A C-contiguous RGB uint8 array.
    """
    img = check_rgb(img)
    if maximum_size is None:
        return img
    h, w = img.shape[:2]
    if h <= maximum_size and w <= maximum_size:
        return img
    crop_h, crop_w = min(h, maximum_size), min(w, maximum_size)
    top = int(rng.integers(0, h - crop_h + 1))
    left = int(rng.integers(0, w - crop_w + 1))
    if trace is not None:
        trace.append(("crop_if_large", {"top": top, "left": left, "height": crop_h, "width": crop_w}))
    return np.ascontiguousarray(img[top : top + crop_h, left : left + crop_w])


class AIGenBenchV1EvalChain:
    """The mandatory evaluation degradations of AI-GenBench v1, on RGB uint8 arrays.

    Draw order, fixed: step 1 draws its two offsets only when it crops; every later step draws one
    ``rng.random()`` ("apply?") and then, only if applied, its parameters: JPEG library index then quality
    index; noise std then the (H, W) float32 noise map; crop side, interpolation index, then the
    ``RandomResizedCrop`` parameters (see :func:`~benchmark_pipelines.augmentations.image_ops.random_resized_crop`).

    Example::

        chain = AIGenBenchV1EvalChain()
        degraded = chain(img, sample_rng(4321, sample_id))

    Args:
        maximum_processing_size: the crop threshold of step 1 (1080 in the benchmark), ``None`` to skip step 1.
    """

    version = "aigenbench_v1"

    GRAYSCALE_P = 0.1
    JPEG_P = (0.5, 0.2, 0.1)
    JPEG_QUALITIES = (50, 100)
    NOISE_P = 0.3
    NOISE_STD_RANGE = (0.015, 0.075)
    RRC_P = 0.25
    RRC_SIDE_RANGE = (256, 512)
    RRC_SCALE = (0.5, 1.0)
    RRC_RATIO = (0.9, 1 / 0.9)
    RRC_INTERPOLATIONS = ("bilinear", "bicubic", "lanczos")

    def __init__(self, *, maximum_processing_size: int | None = 1080) -> None:
        if maximum_processing_size is not None:
            try:
                maximum_processing_size = operator.index(maximum_processing_size)
            except TypeError:
                raise ValueError(
                    f"maximum_processing_size must be a positive int or None, got {maximum_processing_size!r}"
                ) from None
            if maximum_processing_size < 1:
                raise ValueError(
                    f"maximum_processing_size must be a positive int or None, got {maximum_processing_size}"
                )
        self.maximum_processing_size = maximum_processing_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(maximum_processing_size={self.maximum_processing_size})"

    def __call__(self, img: np.ndarray, rng: np.random.Generator, trace: Trace | None = None) -> np.ndarray:
        """Applies steps 1 to 7.

        Args:
            img: RGB uint8 array (H, W, 3); not modified.
            rng: the sample's generator, normally ``sample_rng(4321, ID)``.
            trace: if given, ``(op name, params)`` is appended for every step that fires. Names:
                ``crop_if_large``, ``grayscale``, ``jpeg_1``, ``gaussian_noise``, ``jpeg_2``,
                ``random_resized_crop``, ``jpeg_3``.

        Returns:
            The degraded RGB uint8 array (C-contiguous; may be ``img`` itself if nothing fired).
        """
        img = check_rgb(img)
        img = crop_if_large(img, rng, self.maximum_processing_size, trace)
        return self.degrade(img, rng, trace)

    def degrade(self, img: np.ndarray, rng: np.random.Generator, trace: Trace | None = None) -> np.ndarray:
        """Applies steps 2 to 7 only (also the deterministic part of the "soft" training augmentations)."""
        img = check_rgb(img)
        img = random_grayscale(img, rng, self.GRAYSCALE_P, trace, "grayscale")
        img = random_jpeg(img, rng, self.JPEG_P[0], self.JPEG_QUALITIES, trace, "jpeg_1")
        img = random_gaussian_noise(img, rng, self.NOISE_P, self.NOISE_STD_RANGE, trace, "gaussian_noise")
        img = random_jpeg(img, rng, self.JPEG_P[1], self.JPEG_QUALITIES, trace, "jpeg_2")
        img = random_resized_crop(
            img,
            rng,
            self.RRC_P,
            side_range=self.RRC_SIDE_RANGE,
            scale=self.RRC_SCALE,
            ratio=self.RRC_RATIO,
            interpolations=self.RRC_INTERPOLATIONS,
            trace=trace,
            name="random_resized_crop",
        )
        return random_jpeg(img, rng, self.JPEG_P[2], self.JPEG_QUALITIES, trace, "jpeg_3")


__all__ = ["AIGenBenchV1EvalChain", "crop_if_large", "sample_rng"]
