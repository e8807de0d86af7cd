"""Continual learning parts without Lightning: metrics, herding, the exemplar memory and the LoRAX network."""

from __future__ import annotations

import importlib
from typing import Any

from algorithms.continual.exemplar_memory import Exemplar, ExemplarMemory
from algorithms.continual.herding import herding_selection
from algorithms.continual.metrics import (
    ACCURACY_KINDS,
    accuracy_matrix_from_rows,
    average_accuracy,
    average_accuracy_curve,
    average_incremental_accuracy,
    backward_transfer,
    binary_correct,
    fake_score_from_probs,
    forgetting_lorax,
    forgetting_pycil,
    mean_average_precision,
    multi_real_correct,
    per_task_accuracy,
    pooled_accuracy,
)

# The LoRAX names load on first use: importing peft costs seconds, which metric-only users should not pay.
_LAZY = {
    "CONVIT_SIZES": "algorithms.continual.lorax",
    "DEFAULT_TARGET_MODULES": "algorithms.continual.lorax",
    "LoRAXNetwork": "algorithms.continual.lorax",
    "create_convit_backbone": "algorithms.continual.lorax",
    "div_targets": "algorithms.continual.lorax",
    "lorax_loss": "algorithms.continual.lorax",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ACCURACY_KINDS",
    "CONVIT_SIZES",
    "DEFAULT_TARGET_MODULES",
    "Exemplar",
    "ExemplarMemory",
    "LoRAXNetwork",
    "accuracy_matrix_from_rows",
    "average_accuracy",
    "average_accuracy_curve",
    "average_incremental_accuracy",
    "backward_transfer",
    "binary_correct",
    "create_convit_backbone",
    "div_targets",
    "fake_score_from_probs",
    "forgetting_lorax",
    "forgetting_pycil",
    "herding_selection",
    "lorax_loss",
    "mean_average_precision",
    "multi_real_correct",
    "per_task_accuracy",
    "pooled_accuracy",
]
