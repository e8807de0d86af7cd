"""Balanced binary accuracy, as a torchmetrics metric with a functional twin."""

from __future__ import annotations

import torch
from torchmetrics.classification import BinaryStatScores
from torchmetrics.functional.classification import binary_stat_scores


def _balanced(tp: torch.Tensor, fp: torch.Tensor, tn: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    tpr = tp / (tp + fn).clamp(min=1)
    tnr = tn / (tn + fp).clamp(min=1)
    return (tpr.float() + tnr.float()) / 2


def balanced_binary_accuracy(preds: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """(TP / (TP + FN) + TN / (TN + FP)) / 2, with predictions ``preds >= threshold``."""
    tp, fp, tn, fn, _ = binary_stat_scores(preds, target, threshold=threshold)
    return _balanced(tp, fp, tn, fn)


class BalancedBinaryAccuracy(BinaryStatScores):
    """(TPR + TNR) / 2; state and DDP reduction inherited from ``BinaryStatScores`` (summed counts)."""

    def compute(self) -> torch.Tensor:
        tp, fp, tn, fn = self._final_state()
        return _balanced(tp, fp, tn, fn)


__all__ = ["BalancedBinaryAccuracy", "balanced_binary_accuracy"]
