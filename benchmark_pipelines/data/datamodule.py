"""The data module of one protocol step: train view of the step, balanced evaluation view, loaders."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from benchmark_pipelines.aigenbench_dataset import load_aigenbench
from benchmark_pipelines.augmentations import EvaluationCache
from benchmark_pipelines.data.image_datasets import (
    EVAL_AUGMENTATION_SEED,
    EvalImageDataset,
    TrainImageDataset,
)
from benchmark_pipelines.data.samplers import ResumableTrainingData, make_loader
from benchmark_pipelines.demo_dataset import build_demo_dataset
from benchmark_pipelines.protocols import EvalView, SlidingWindowsProtocol, Step, make_eval_view
from benchmark_pipelines.sample_table import SampleTable

log = logging.getLogger(__name__)

DEFAULT_DEMO_PATH = Path("demo_data") / "aigenbench_demo"


@dataclass
class SlidingWindowsDefinition:
    """Protocol settings (``experiment_info.sliding_windows_definition`` in the YAML)."""

    n_generators_per_window: int = 4
    benchmark_type: Literal["cumulative", "continual_learning", "none"] = "cumulative"
    current_window: int | None = None


@dataclass
class DemoDatasetConfig:
    """Size of the embedded synthetic demo dataset built when no ``dataset_path`` is given."""

    path: str = str(DEFAULT_DEMO_PATH)
    n_generators: int = 12
    train_per_generator: int = 40
    val_per_generator: int = 20
    min_side: int = 96
    max_side: int = 160


@dataclass
class EvaluationCacheConfig:
    """Where evaluation outputs are cached (see ``EvaluationCache``); ``enabled: false`` switches it off."""

    enabled: bool = True
    directory: str = "eval_cache"
    max_gigabytes: float | None = 20.0


@lru_cache(maxsize=4)
def _load_table(path: str) -> SampleTable:
    return load_aigenbench(path)


class AIGenBenchDataModule(ResumableTrainingData, L.LightningDataModule):
    """AI-GenBench data: sliding-window train views and the balanced validation/test view.

    Args:
        dataset_path: the AI-GenBench release (HF ``save_to_disk`` folder). ``None``: build (once) and use the
            embedded synthetic demo dataset described by ``demo``.
        train_batch_size: per-device training batch (effective = devices x accumulate_grad_batches x this).
        eval_batch_size: per-device evaluation batch (in images; multicrop batches hold 5 crops per image).
        num_workers: DataLoader workers (capped at the dataset length).
        augmentation_factor: copies of each training image with different seeded augmentations (paper's "am").
        augmentations_base_seed: 4321 in AI-GenBench.
        maximum_processing_size: images larger than this are cropped first (1080).
        mandatory_evaluation_chain: apply ``aigenbench_v1`` at validate/test/predict (turn off only for debugging).
        skip_undecodable: skip (count and log) undecodable images instead of failing.
        sliding_windows_definition: protocol settings (linked from ``experiment_info``).
        demo: the demo dataset's size and folder.
        evaluation_cache: the evaluation-output cache.
    """

    def __init__(
        self,
        *,
        dataset_path: str | None = None,
        train_batch_size: int = 32,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        augmentation_factor: int = 1,
        augmentations_base_seed: int = EVAL_AUGMENTATION_SEED,
        maximum_processing_size: int | None = 1080,
        mandatory_evaluation_chain: bool = True,
        skip_undecodable: bool = False,
        sliding_windows_definition: SlidingWindowsDefinition | None = None,
        demo: DemoDatasetConfig | None = None,
        evaluation_cache: EvaluationCacheConfig | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("train_batch_size", train_batch_size), ("eval_batch_size", eval_batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.dataset_path = dataset_path
        self.train_batch_size = train_batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.augmentation_factor = augmentation_factor
        self.augmentations_base_seed = augmentations_base_seed
        self.maximum_processing_size = maximum_processing_size
        self.mandatory_evaluation_chain = mandatory_evaluation_chain
        self.skip_undecodable = skip_undecodable
        self.definition = sliding_windows_definition or SlidingWindowsDefinition()
        self.demo = demo or DemoDatasetConfig()
        self.cache_config = evaluation_cache or EvaluationCacheConfig()
        self.protocol = SlidingWindowsProtocol(
            n_generators_per_window=self.definition.n_generators_per_window,
            benchmark_type=self.definition.benchmark_type,
        )
        self.step_index = self.definition.current_window or 0
        self.run_seed = 0
        self._eval_views: dict[str, EvalView] = {}

    # ------------------------------------------------------------------ table and steps
    def resolved_dataset_path(self) -> str:
        if self.dataset_path is not None:
            return str(self.dataset_path)
        d = self.demo
        path = build_demo_dataset(
            d.path,
            n_generators=d.n_generators,
            train_per_generator=d.train_per_generator,
            val_per_generator=d.val_per_generator,
            image_size=(d.min_side, d.max_side),
        )
        return str(path)

    @property
    def table(self) -> SampleTable:
        return _load_table(self.resolved_dataset_path())

    @property
    def steps(self) -> list[Step]:
        return _steps(
            self.resolved_dataset_path(), self.definition.n_generators_per_window, self.definition.benchmark_type
        )

    @property
    def step(self) -> Step:
        steps = self.steps
        if not 0 <= self.step_index < len(steps):
            raise ValueError(f"window {self.step_index} does not exist: the protocol has {len(steps)} windows")
        return steps[self.step_index]

    def set_step(self, index: int, *, run_seed: int = 0) -> None:
        self.step_index = index
        self.run_seed = run_seed

    def eval_view(self, split: str) -> EvalView:
        if split not in self._eval_views:
            self._eval_views[split] = make_eval_view(self.table, split)
        return self._eval_views[split]

    @property
    def generator_id_to_name(self) -> list[str]:
        return self.table.generator_id_to_name

    # ------------------------------------------------------------------ datasets
    def _model_data_config(self) -> dict:
        module = self.trainer.lightning_module if self.trainer is not None else None
        if module is not None and hasattr(module, "data_config"):
            return module.data_config()
        return {
            "input_size": (224, 224),
            "training_cropping_strategy": "resize",
            "evaluation_cropping_strategy": "resize",
            "training_augmentations": "baseline",
        }

    def train_dataset(self) -> TrainImageDataset:
        table = self.table
        return TrainImageDataset.for_data_module(
            self, table.split("train"), self.step.train_rows, table.generator_ids("train"), self._model_data_config()
        )

    def eval_dataset(self, split: str, view: EvalView | None = None) -> EvalImageDataset:
        """The evaluation dataset of ``split`` (balanced view) or of an explicit ``view`` of a split. The cache key
        does not depend on the view: a sample's output depends only on the sample."""
        cfg = self._model_data_config()
        view = view or self.eval_view(split)
        cache = None
        if self.cache_config.enabled:
            key = {
                "dataset": os.path.abspath(self.resolved_dataset_path()),
                "split": view.split,
                "chain": "aigenbench_v1" if self.mandatory_evaluation_chain else "none",
                "seed": self.augmentations_base_seed,
                "maximum_processing_size": self.maximum_processing_size,
                "crop_strategy": cfg["evaluation_cropping_strategy"],
                "input_size": list(cfg["input_size"]),
            }
            max_bytes = (
                None if self.cache_config.max_gigabytes is None else int(self.cache_config.max_gigabytes * 2**30)
            )
            cache = EvaluationCache(self.cache_config.directory, key, max_bytes=max_bytes)
        return EvalImageDataset(
            self.table.split(view.split),
            view.rows,
            self.table.generator_ids(view.split),
            cropping_strategy=cfg["evaluation_cropping_strategy"],
            input_size=cfg["input_size"],
            base_seed=self.augmentations_base_seed,
            maximum_processing_size=self.maximum_processing_size,
            mandatory_chain=self.mandatory_evaluation_chain,
            cache=cache,
            skip_undecodable=self.skip_undecodable,
        )

    def _loader(self, dataset: EvalImageDataset) -> DataLoader:
        return make_loader(dataset, batch_size=self.eval_batch_size, num_workers=self.num_workers, seed=self.run_seed)

    def train_dataloader(self) -> DataLoader:
        return self.resumable_train_loader(self.train_dataset())

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.eval_dataset("validation"))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.eval_dataset("test"))

    def predict_dataloader(self) -> DataLoader:
        # predict: the raw validation split, unbalanced (spec 2.6); pairing is not defined for it.
        view = EvalView("validation", np.arange(len(self.table.split("validation"))), {})
        self._eval_views["predict"] = view
        return self._loader(self.eval_dataset("validation", view))


@lru_cache(maxsize=8)
def _steps(path: str, n: int, benchmark_type: str) -> list[Step]:
    return SlidingWindowsProtocol(n_generators_per_window=n, benchmark_type=benchmark_type).build_steps(
        _load_table(path)
    )


__all__ = [
    "AIGenBenchDataModule",
    "DemoDatasetConfig",
    "EvaluationCacheConfig",
    "SlidingWindowsDefinition",
]
