"""Wrappers shared by factories: a frozen-backbone probe and a backbone-plus-head tune model."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class FrozenBackboneProbe(nn.Module):
    """A linear probe over a frozen backbone.

    The backbone is kept in a one-element tuple, so it is not a registered submodule: it is absent from
    ``parameters()``, ``state_dict()`` and checkpoints, and ``train()``/``requires_grad_()`` do not reach it.
    It is put in eval mode with gradients off once, and features are computed under ``torch.no_grad()``
    (``requires_grad=False`` alone would still update norm-layer statistics in train mode).
    Device and dtype moves (``.to()``, ``.cuda()``, ``.half()``) do reach it through ``_apply``.

    Args:
        backbone: maps images to features (B, D) or anything ``flatten(1)`` turns into (B, D).
        head: maps features to logits.
        features_fn: optional function ``(backbone, x) -> features`` (e.g. ``encode_image``).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, features_fn: Callable | None = None) -> None:
        super().__init__()
        backbone.eval()
        backbone.requires_grad_(False)
        self._backbone = (backbone,)
        self._features_fn = features_fn
        self.head = head

    @property
    def backbone(self) -> nn.Module:
        return self._backbone[0]

    def _apply(self, fn, recurse: bool = True):  # noqa: ANN001 - signature of nn.Module._apply
        self.backbone._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            feats = self._features_fn(self.backbone, x) if self._features_fn else self.backbone(x)
        return feats.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.forward_features(x)
        return self.head(feats.to(self.head_dtype))

    @property
    def head_dtype(self) -> torch.dtype:
        return next(self.head.parameters()).dtype


class BackboneWithHead(nn.Module):
    """Fine-tuning wrapper: backbone features (optionally via ``features_fn``) into a head; all trainable."""

    def __init__(self, backbone: nn.Module, head: nn.Module, features_fn: Callable | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self._features_fn = features_fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self._features_fn(self.backbone, x) if self._features_fn else self.backbone(x)
        return self.head(feats.flatten(1))


@torch.no_grad()
def infer_feature_dim(backbone: nn.Module, size: tuple[int, int], features_fn: Callable | None = None) -> int:
    """Feature size from one dummy forward (in eval mode, restoring the previous mode)."""
    was_training = backbone.training
    backbone.eval()
    p = next(backbone.parameters())
    x = torch.zeros(1, 3, *size, dtype=p.dtype, device=p.device)
    out = features_fn(backbone, x) if features_fn else backbone(x)
    backbone.train(was_training)
    return int(out.flatten(1).shape[1])


__all__ = ["BackboneWithHead", "FrozenBackboneProbe", "infer_feature_dim"]
