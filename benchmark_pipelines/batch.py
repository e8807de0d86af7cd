"""The one batch type that travels from data loaders to models (DESIGN.md contract 4)."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Batch(NamedTuple):
    """A collated batch.

    Attributes:
        image: uint8 tensor (B, 3, H, W); normalisation happens on the model's device.
        label: int64 (B,), 0 real / 1 fake (or the class label in multiclass tasks).
        generator_id: int64 (B,), AI-GenBench generator id (0 = real).
        identifier: int64 (B,), the sample's stable ``ID`` in its split.
        crop_to_image_index: int64 (B,) at evaluation: which image (by its position in the evaluated
            split, a global index) each crop belongs to. ``None`` for training batches.
    """

    image: torch.Tensor
    label: torch.Tensor
    generator_id: torch.Tensor
    identifier: torch.Tensor
    crop_to_image_index: torch.Tensor | None = None


__all__ = ["Batch"]
