"""The CDDB data module: one step per task of a scenario, class-incremental (spec continual.md section 2)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from types import MappingProxyType

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from benchmark_pipelines.cddb import CDDBDataset, load_cddb, resolve_scenario
from benchmark_pipelines.data.continual import ClassLabelledDataset, memory_rows, model_data_config
from benchmark_pipelines.data.image_datasets import EVAL_AUGMENTATION_SEED, EvalImageDataset, TrainImageDataset
from benchmark_pipelines.data.samplers import ResumableTrainingData, make_loader
from benchmark_pipelines.protocols import Step

log = logging.getLogger(__name__)

TEST_SPLIT = "test"  # the CDDB `val` folders, the test sets of every reference


@lru_cache(maxsize=4)
def _load(root: str, scenario: tuple[tuple[str, int], ...] | str) -> CDDBDataset:
    return load_cddb(root, scenario if isinstance(scenario, str) else list(scenario))


class CDDBDataModule(ResumableTrainingData, L.LightningDataModule):
    """CDDB scenarios as class-incremental tasks: task ``k`` trains on its images plus the exemplar memory.

    Step ``k`` (``task_<k>`` with ``experiment_info.window_name_prefix: task_``) trains on the train images of
    task ``k`` with class labels real ``2k`` / fake ``2k + 1``, merged with the exemplars of the model's memory,
    and evaluates on the test sets (the ``val`` folders) of tasks ``0..k``. Evaluation batches carry the binary
    label; :meth:`eval_class_info` gives the class labels and tasks of evaluated samples.

    Args:
        dataset_path: the CDDB root (``<root>/<task>/{train,val}/[<sub>/]{0_real,1_fake}``); ``--dataset_path``.
        scenario: ``easy``, ``hard``, ``long`` or a list of (task folder, multiclass flag).
        train_batch_size: per-device training batch (LoRAX: 32).
        eval_batch_size: per-device evaluation batch (LoRAX: 48).
        num_workers: DataLoader workers.
        augmentation_factor: copies of each training image with different seeded augmentations.
        augmentations_base_seed: base seed of the seeded training augmentations.
        maximum_processing_size: larger training images are cropped to this first (``None``: never).
        skip_undecodable: skip (count and log) undecodable images instead of failing.
        current_task: the task to use when no runner sets one.
    """

    def __init__(
        self,
        *,
        dataset_path: str | None = None,
        scenario: str | list[tuple[str, int]] = "easy",
        train_batch_size: int = 32,
        eval_batch_size: int = 48,
        num_workers: int = 0,
        augmentation_factor: int = 1,
        augmentations_base_seed: int = EVAL_AUGMENTATION_SEED,
        maximum_processing_size: int | None = None,
        skip_undecodable: bool = False,
        current_task: int | None = None,
    ) -> None:
        super().__init__()
        if dataset_path is None:
            raise ValueError(
                "CDDB needs its folder: pass --dataset_path /path/to/CDDB (or set dataset_path in local_config.yaml)"
            )
        for name, value in (("train_batch_size", train_batch_size), ("eval_batch_size", eval_batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.dataset_path = str(dataset_path)
        self.scenario_tasks = resolve_scenario(scenario)
        self.scenario_name = scenario if isinstance(scenario, str) else "custom"
        self._scenario_key = scenario if isinstance(scenario, str) else tuple(self.scenario_tasks)
        self.train_batch_size = train_batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.augmentation_factor = augmentation_factor
        self.augmentations_base_seed = augmentations_base_seed
        self.maximum_processing_size = maximum_processing_size
        self.skip_undecodable = skip_undecodable
        self.step_index = current_task or 0
        self.run_seed = 0

    # ------------------------------------------------------------------ data and steps
    @property
    def data(self) -> CDDBDataset:
        return _load(self.dataset_path, self._scenario_key)

    @property
    def task_names(self) -> list[str]:
        return [name for name, _ in self.scenario_tasks]

    @property
    def steps(self) -> list[Step]:
        data = self.data
        task_ids = data.info["train"].task_id
        names = tuple(data.tasks)
        timeline = tuple((name,) for name in names)
        steps = []
        for k, name in enumerate(names):
            rows = np.flatnonzero(task_ids == k)
            rows.setflags(write=False)
            steps.append(
                Step(
                    index=k,
                    name=f"task_{k}",
                    train_rows=rows,
                    generators=(name,),
                    generators_so_far=names[: k + 1],
                    subsets=MappingProxyType({}),
                    timeline=timeline,
                )
            )
        return steps

    @property
    def step(self) -> Step:
        steps = self.steps
        if not 0 <= self.step_index < len(steps):
            raise ValueError(f"task {self.step_index} does not exist: the scenario has {len(steps)} tasks")
        return steps[self.step_index]

    def set_step(self, index: int, *, run_seed: int = 0) -> None:
        self.step_index = index
        self.run_seed = run_seed

    def class_layout(self) -> list[tuple[bool, ...]]:
        """Per task: a real class (``2k``) then a fake class (``2k + 1``)."""
        return [(True, False)] * len(self.scenario_tasks)

    @property
    def generator_id_to_name(self) -> list[str]:
        return self.data.table.generator_id_to_name

    def eval_class_info(self, identifiers: np.ndarray | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Class labels and task ids of evaluated (test split) samples, by their ``ID``."""
        info = self.data.info[TEST_SPLIT]
        rows = self.data.table.split(TEST_SPLIT).rows_of_ids(identifiers)
        return info.class_label[rows], info.task_id[rows]

    # ------------------------------------------------------------------ datasets
    def train_dataset(self) -> ClassLabelledDataset:
        cfg = model_data_config(self.trainer)
        data = self.data
        split = data.table.split("train")
        rows = self.step.train_rows
        mem_rows, mem_labels = memory_rows(split, self.trainer.lightning_module if self.trainer else None)
        all_rows = np.concatenate([rows, mem_rows]).astype(np.int64)
        labels = np.concatenate([data.info["train"].class_label[rows], mem_labels])
        print(f"{self.step.name}: {len(rows)} task images + {len(mem_rows)} exemplars", flush=True)
        base = TrainImageDataset.for_data_module(self, split, all_rows, data.table.generator_ids("train"), cfg)
        return ClassLabelledDataset(base, labels, self.augmentation_factor)

    def _eval_dataset(self, split_name: str, rows: np.ndarray) -> EvalImageDataset:
        cfg = model_data_config(self.trainer)
        table = self.data.table
        return EvalImageDataset(
            table.split(split_name),
            rows,
            table.generator_ids(split_name),
            cropping_strategy=cfg["evaluation_cropping_strategy"],
            input_size=cfg["input_size"],
            mandatory_chain=False,
            skip_undecodable=self.skip_undecodable,
        )

    def eval_dataset(self) -> EvalImageDataset:
        """The test sets of tasks ``0..k`` (binary labels)."""
        rows = np.flatnonzero(self.data.info[TEST_SPLIT].task_id <= self.step_index)
        return self._eval_dataset(TEST_SPLIT, rows)

    def herding_dataloader(self, task: int) -> DataLoader:
        """Training images of ``task`` with the evaluation view and class labels (for exemplar herding)."""
        rows = self.steps[task].train_rows
        ds = ClassLabelledDataset(self._eval_dataset("train", rows), self.data.info["train"].class_label[rows])
        return make_loader(ds, batch_size=self.eval_batch_size, num_workers=self.num_workers, seed=self.run_seed)

    def train_dataloader(self) -> DataLoader:
        return self.resumable_train_loader(self.train_dataset())

    def _eval_loader(self) -> DataLoader:
        return make_loader(
            self.eval_dataset(), batch_size=self.eval_batch_size, num_workers=self.num_workers, seed=self.run_seed
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader()

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader()

    def predict_dataloader(self) -> DataLoader:
        return self._eval_loader()

    # ------------------------------------------------------------------ runner hook
    def step_callbacks(self, step_context) -> list:  # noqa: ANN001
        """The evaluation callbacks of a step (used by ``BenchmarkCLI`` instead of the AUROC metrics and dumps)."""
        from benchmark_pipelines.callbacks.continual_metrics import ContinualMetrics

        return [
            ContinualMetrics(
                step_context.step_dir,
                task_index=step_context.index,
                task_names=self.task_names,
                title=f"CDDB {self.scenario_name}",
            )
        ]


__all__ = ["CDDBDataModule"]
