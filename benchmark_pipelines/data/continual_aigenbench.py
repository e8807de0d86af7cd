"""AI-GenBench windows as class-incremental tasks (attribution): one real class plus one class per generator."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from benchmark_pipelines.data.continual import ClassLabelledDataset, memory_rows, model_data_config
from benchmark_pipelines.data.datamodule import AIGenBenchDataModule
from benchmark_pipelines.data.image_datasets import EvalImageDataset, TrainImageDataset
from benchmark_pipelines.data.samplers import make_loader
from benchmark_pipelines.generators import REAL_GENERATOR


class ContinualAIGenBenchDataModule(AIGenBenchDataModule):
    """The AI-GenBench data module for the continual methods (LoRAX, fine-tuning, replay).

    Window ``w`` brings ``1 + len(window)`` classes: its real class (the reals selected for it), then one class
    per generator in window order; class labels continue from the previous windows'. Training batches carry
    the class label and include the model's exemplars; evaluation (balanced validation/test views, mandatory
    chain) is unchanged, with binary labels, so the AUROC subsets and ``.npz`` dumps are those of the
    sliding-window benchmark (the model's binary score is the summed probability of its fake classes).

    Use it with ``sliding_windows_definition.benchmark_type: continual_learning`` (window ``k`` trains on window
    ``k`` only); with ``cumulative`` window ``k`` trains on windows ``0..k`` with their own classes.

    Args:
        **kwargs: the arguments of :class:`AIGenBenchDataModule`.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ classes
    def class_layout(self) -> list[tuple[bool, ...]]:
        """Per window: the real class, then one fake class per generator of the window."""
        return [(True, *([False] * len(step.generators))) for step in self.steps]

    @cached_property
    def _class_labels(self) -> tuple[np.ndarray, dict[str, int]]:
        """(class label per train row, -1 for rows of no window; generator name -> class label)."""
        split = self.table.split("train")
        labels = np.full(len(split), -1, dtype=np.int64)
        gen_class: dict[str, int] = {}
        offset = 0
        for step in self.steps:
            for j, g in enumerate(step.generators):
                gen_class[g] = offset + 1 + j
            rows = step.train_rows
            reals = rows[(split.generator[rows] == REAL_GENERATOR) & (labels[rows] < 0)]
            labels[reals] = offset  # a real belongs to the first window that selected it
            offset += 1 + len(step.generators)
        fakes = split.generator != REAL_GENERATOR
        labels[fakes] = [gen_class.get(g, -1) for g in split.generator[fakes]]
        return labels, gen_class

    def train_class_labels(self, rows: np.ndarray) -> np.ndarray:
        """Class labels of train-split rows."""
        labels = self._class_labels[0][rows]
        if (labels < 0).any():
            raise ValueError(f"train rows {rows[labels < 0][:5].tolist()} belong to no window's classes")
        return labels

    # ------------------------------------------------------------------ datasets
    def train_dataset(self) -> ClassLabelledDataset:  # type: ignore[override]
        cfg = model_data_config(self.trainer)
        split = self.table.split("train")
        rows = np.asarray(self.step.train_rows, dtype=np.int64)
        mem_rows, mem_labels = memory_rows(split, self.trainer.lightning_module if self.trainer else None)
        all_rows = np.concatenate([rows, mem_rows])
        labels = np.concatenate([self.train_class_labels(rows), mem_labels])
        print(f"{self.step.name}: {len(rows)} window images + {len(mem_rows)} exemplars", flush=True)
        base = TrainImageDataset.for_data_module(self, split, all_rows, self.table.generator_ids("train"), cfg)
        return ClassLabelledDataset(base, labels, self.augmentation_factor)

    def herding_dataloader(self, task: int) -> DataLoader:
        """Training images of window ``task``'s classes, evaluation view without the mandatory chain."""
        cfg = model_data_config(self.trainer)
        split = self.table.split("train")
        rows = np.asarray(self.steps[task].train_rows, dtype=np.int64)
        first = sum(len(t) for t in self.class_layout()[:task])
        labels = self.train_class_labels(rows)
        keep = (labels >= first) & (labels < first + len(self.class_layout()[task]))
        base = EvalImageDataset(
            split,
            rows[keep],
            self.table.generator_ids("train"),
            cropping_strategy=cfg["evaluation_cropping_strategy"],
            input_size=cfg["input_size"],
            mandatory_chain=False,
            skip_undecodable=self.skip_undecodable,
        )
        ds = ClassLabelledDataset(base, labels[keep])
        return make_loader(ds, batch_size=self.eval_batch_size, num_workers=self.num_workers, seed=self.run_seed)


__all__ = ["ContinualAIGenBenchDataModule"]
