"""Shared parts of the continual-learning data modules (CDDB tasks, AI-GenBench windows as tasks).

A continual data module gives the continual methods (``algorithms.continual.lightning_modules``):

* ``step_index`` and ``class_layout()`` (per task, one flag per new class: ``True`` for a real class);
* training batches whose ``label`` is the class label, over the task's images plus the exemplars of the
  model's ``exemplar_memory`` (read when the training loader is built, i.e. after a checkpoint is restored);
* ``herding_dataloader(task)``: a task's training images without training augmentation (class labels);
* evaluation batches with the usual binary label, so the binary metrics and dumps work unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from benchmark_pipelines.data.image_datasets import Sample
from benchmark_pipelines.sample_table import SplitTable


class ClassLabelledDataset(Dataset):
    """A view of an image dataset whose samples carry class labels instead of the binary label.

    Args:
        base: a ``TrainImageDataset`` or ``EvalImageDataset`` over ``len(class_labels)`` rows.
        class_labels: the class label of each of the base dataset's rows.
        copies: samples per row in ``base`` (the training ``augmentation_factor``).
    """

    def __init__(self, base: Dataset, class_labels: np.ndarray, copies: int = 1) -> None:
        self.base = base
        self.class_labels = np.asarray(class_labels, dtype=np.int64)
        self.copies = copies
        if len(base) != len(self.class_labels) * copies:
            raise ValueError(f"{len(base)} samples but {len(self.class_labels)} class labels x {copies} copies")

    def __len__(self) -> int:
        return len(self.base)

    @property
    def epoch(self) -> int:
        """The training dataset's epoch (seeds its per-epoch augmentations)."""
        return self.base.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.base.epoch = value

    def __getitem__(self, key: int | tuple[int, int]) -> Sample | None:
        # A key is an index, or (epoch, index) from a resumable sampler; the base dataset gets it unchanged.
        idx = key[1] if isinstance(key, tuple) else key
        sample = self.base[key]
        if sample is None:
            return None
        return dataclasses.replace(sample, label=int(self.class_labels[idx // self.copies]))


def memory_rows(split: SplitTable, module: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``split`` and class labels of the exemplars in ``module.exemplar_memory`` (empty without one).

    Raises:
        ValueError: if an exemplar belongs to another split.
    """
    memory = getattr(module, "exemplar_memory", None)
    if memory is None or len(memory) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    entries = memory.entries()
    other = sorted({e.split for e in entries} - {split.name})
    if other:
        raise ValueError(f"exemplars from splits {other} cannot be replayed from the {split.name!r} split")
    ids = np.array([e.sample_id for e in entries], dtype=np.int64)
    labels = np.array([e.label for e in entries], dtype=np.int64)
    return split.rows_of_ids(ids), labels


def model_data_config(trainer: Any) -> dict:
    """Input size, crop strategies and training augmentations of the model being trained (LoRAX defaults)."""
    module = trainer.lightning_module if trainer is not None else None
    if module is not None and hasattr(module, "data_config"):
        return module.data_config()
    return {
        "input_size": (224, 224),
        "training_cropping_strategy": "random_crop",
        "evaluation_cropping_strategy": "crop",
        "training_augmentations": "none",
    }


__all__ = ["ClassLabelledDataset", "memory_rows", "model_data_config"]
