"""Continual-learning metrics of a task: per-task rows on disk, LoRAX-style report files, TensorBoard scalars.

Each evaluation of task ``k`` (tasks ``0..k``) writes into the task folder ``continual_<stage>.json`` (the
row: per-task accuracies, counts, AP, losses) and ``continual_predictions_<stage>.npz`` (class
probabilities, class labels, task ids, identifiers). The experiment files are then rebuilt from the rows of
tasks ``0..k`` found on disk, so a resumed run reports exactly what an uninterrupted one would:

* ``logs.json`` (JSON lines: ``task``, ``acc_per_task_remapped``, ``bacc_per_task``, losses, ``train_lr``),
* ``metrics.txt`` and ``metrics.json`` (accuracy matrix, AAF, pooled accuracy, BWT, forgettings, mAP),
* ``metrics_plot.png``.

For the ``test`` stage the names get a ``_test`` suffix. Only rank 0 writes; files are written atomically.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from benchmark_pipelines.atomic import atomic_savez, atomic_write_bytes, atomic_write_text
from benchmark_pipelines.metrics.continual_report import build_report, log_lines, metrics_text, plot_png, task_row

STAGE_SPLIT = {"validate": "validation", "test": "test"}


def row_path(task_dir: Path, stage: str) -> Path:
    return Path(task_dir) / f"continual_{stage}.json"


def predictions_path(task_dir: Path, stage: str) -> Path:
    return Path(task_dir) / f"continual_predictions_{stage}.npz"


def report_paths(experiment_dir: Path, stage: str) -> dict[str, Path]:
    """The experiment-level files of a stage: logs, metrics_txt, metrics_json, plot."""
    suffix = "" if stage == "validate" else f"_{stage}"
    d = Path(experiment_dir)
    return {
        "logs": d / f"logs{suffix}.json",
        "metrics_txt": d / f"metrics{suffix}.txt",
        "metrics_json": d / f"metrics{suffix}.json",
        "plot": d / f"metrics_plot{suffix}.png",
    }


def write_report(
    experiment_dir: Path, task_dirs: list[Path], stage: str, task_names: list[str], title: str = ""
) -> dict | None:
    """Rebuild the experiment files of ``stage`` from the rows in ``task_dirs`` (tasks ``0..k``).

    Returns the report, or ``None`` (with a warning) if a task's row is missing.
    """
    rows = []
    for d in task_dirs:
        path = row_path(d, stage)
        if not path.is_file():
            warnings.warn(f"{path} is missing: the continual report of {experiment_dir} is not updated", stacklevel=2)
            return None
        rows.append(json.loads(path.read_text()))
    report = build_report(rows)
    paths = report_paths(experiment_dir, stage)
    atomic_write_text(paths["logs"], log_lines(rows))
    atomic_write_text(paths["metrics_txt"], metrics_text(report, task_names, title))
    atomic_write_text(paths["metrics_json"], json.dumps({"task_names": task_names[: len(rows)], **report}, indent=1))
    atomic_write_bytes(paths["plot"], plot_png(report, task_names, title))
    return report


class ContinualMetrics(Callback):
    """Per-task continual metrics of a class-incremental step (CDDB classes: real ``2k``, fake ``2k + 1``).

    Needs the module's evaluation outputs ``fused_class_probs`` and ``fused_identifiers`` and the data module's
    ``eval_class_info(identifiers) -> (class_labels, task_ids)``.

    Args:
        task_dir: the folder of this task (``.../experiment_<id>/task_<k>``); the experiment folder is its parent
            and the other tasks' folders are its siblings with the same prefix.
        task_index: ``k``.
        task_names: the scenario's task names.
        title: shown in ``metrics.txt`` and the plot.
    """

    def __init__(self, task_dir: str | Path, *, task_index: int, task_names: list[str], title: str = "") -> None:
        self.task_dir = Path(task_dir)
        self.task_index = task_index
        self.task_names = list(task_names)
        self.title = title
        match = re.fullmatch(rf"(.*?){task_index}", self.task_dir.name)
        if match is None:
            raise ValueError(f"task folder {self.task_dir} does not end with the task index {task_index}")
        self.prefix = match.group(1)
        self._buffers: list[dict[str, np.ndarray]] = []
        self.last_validation_step: int | None = None  # global step of the last validation row (runner's check)
        # Training-epoch sums (name -> [weighted sum, count]), kept here so a mid-epoch checkpoint carries them.
        self._train_sums: dict[str, list[float]] = {}
        self._train_means: dict[str, float] = {}

    @property
    def experiment_dir(self) -> Path:
        return self.task_dir.parent

    def task_dirs(self) -> list[Path]:
        return [self.experiment_dir / f"{self.prefix}{i}" for i in range(self.task_index + 1)]

    # ------------------------------------------------------------------ collection
    def _collect(self, outputs: dict[str, torch.Tensor]) -> None:
        if "fused_class_probs" not in outputs:
            raise ValueError("ContinualMetrics needs a continual model (evaluation outputs with fused_class_probs)")
        self._buffers.append(
            {
                "class_probs": outputs["fused_class_probs"].detach().float().cpu().numpy(),
                "identifiers": outputs["fused_identifiers"].cpu().numpy(),
                "labels": outputs["fused_labels"].cpu().numpy(),
            }
        )

    def _finish(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        buffers = _gather(self._buffers, trainer)
        self._buffers = []
        if not buffers:
            return
        probs = np.concatenate([b["class_probs"] for b in buffers])
        ids = np.concatenate([b["identifiers"] for b in buffers]).astype(np.int64)
        binary = np.concatenate([b["labels"] for b in buffers]).astype(np.int64)
        class_labels, task_ids = trainer.datamodule.eval_class_info(ids)
        if not np.array_equal(class_labels % 2, binary):
            raise ValueError("the evaluated samples' class labels disagree with their binary labels")
        n_tasks = self.task_index + 1
        row = {
            "task": self.task_index,
            "task_name": self.task_names[self.task_index],
            "epoch": int(trainer.current_epoch),
            "global_step": int(trainer.global_step),
            **task_row(probs, class_labels, task_ids, n_tasks),
        }
        if stage == "validate":
            self.last_validation_step = int(trainer.global_step)
        for i, (acc, bacc) in enumerate(zip(row["acc_per_task_remapped"], row["bacc_per_task"], strict=True)):
            pl_module.log(f"continual_{stage}/acc_multi_real/{self.task_names[i]}", acc, sync_dist=False)
            pl_module.log(f"continual_{stage}/acc_binary/{self.task_names[i]}", bacc, sync_dist=False)
        pl_module.log(f"continual_{stage}/avg_acc", float(np.mean(row["acc_per_task_remapped"])), sync_dist=False)
        pl_module.log(f"continual_{stage}/avg_bacc", float(np.mean(row["bacc_per_task"])), sync_dist=False)
        if trainer.global_rank != 0:
            return
        atomic_savez(
            predictions_path(self.task_dir, stage),
            class_probs=probs.astype(np.float32),
            class_labels=class_labels.astype(np.int64),
            task_ids=task_ids.astype(np.int64),
            identifiers=ids,
            labels=binary,
        )
        previous = row_path(self.task_dir, stage)
        if previous.is_file():  # keep the training figures of an earlier write (on_train_end adds them)
            old = json.loads(previous.read_text())
            row.update({k: v for k, v in old.items() if k.startswith("train_") and k not in row})
        atomic_write_text(row_path(self.task_dir, stage), json.dumps(row, indent=1))
        report = write_report(self.experiment_dir, self.task_dirs(), stage, self.task_names, self.title)
        if report is not None:
            step = int(getattr(pl_module, "logging_initial_step", 0)) + int(trainer.global_step)
            summary = {
                f"continual_{stage}/{key}": float(report[key])
                for key in ("avg_acc_final", "pooled_acc_final", "bwt", "forgetting", "forgetting_pycil", "mAP")
                if report[key] is not None
            }
            for logger in trainer.loggers:
                logger.log_metrics(summary, step=step)

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        every = trainer.check_val_every_n_epoch or 1
        if trainer.max_epochs is not None and trainer.max_epochs > 0 and trainer.max_epochs % every:
            raise ValueError(
                f"the accuracy row of a task is its evaluation after the last epoch, but with max_epochs "
                f"{trainer.max_epochs} and check_val_every_n_epoch {every} it is never evaluated then: set "
                "--trainer.check_val_every_n_epoch to a divisor of max_epochs"
            )

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._train_sums = {}  # not called when a checkpoint restarts an epoch half-way (the sums are restored)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if not isinstance(outputs, dict) or "loss" not in outputs:
            return
        n = len(outputs["labels"]) if "labels" in outputs else 1
        terms = {"loss": outputs["loss"], **outputs.get("loss_terms", {})}
        for name, value in terms.items():
            acc = self._train_sums.setdefault(name, [0.0, 0.0])
            acc[0] += float(value.detach()) * n
            acc[1] += n

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._train_means = {f"train_{k}": s / n for k, (s, n) in self._train_sums.items() if n}
        for name, value in self._train_means.items():
            pl_module.log(f"continual_{name}_epoch", value, sync_dist=False)
        self._train_sums = {}

    def state_dict(self) -> dict:
        return {"train_sums": {k: list(v) for k, v in self._train_sums.items()}, "train_means": dict(self._train_means)}

    def load_state_dict(self, state_dict: dict) -> None:
        self._train_sums = {k: list(v) for k, v in state_dict.get("train_sums", {}).items()}
        self._train_means = dict(state_dict.get("train_means", {}))

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._buffers = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: ANN001
        if not trainer.sanity_checking:
            self._collect(outputs)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._finish(trainer, pl_module, "validate")

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._buffers = []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: ANN001
        self._collect(outputs)

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._finish(trainer, pl_module, "test")

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        path = row_path(self.task_dir, "validate")
        if not path.is_file():
            warnings.warn(f"task {self.task_index} was never evaluated: {path} is missing", stacklevel=2)
            return
        row = json.loads(path.read_text())
        if row.get("global_step") != trainer.global_step:
            warnings.warn(
                f"task {self.task_index}: the last evaluation (step {row.get('global_step')}) is not after the last "
                f"training step ({trainer.global_step}); its row is reported as it is",
                stacklevel=2,
            )
        row.update(self._train_means)  # train_loss, train_ce_loss, train_div_loss: means over the last epoch
        if trainer.optimizers:
            row["train_lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])  # the last epoch's rate
        atomic_write_text(path, json.dumps(row, indent=1))
        if write_report(self.experiment_dir, self.task_dirs(), "validate", self.task_names, self.title) is not None:
            print(report_paths(self.experiment_dir, "validate")["metrics_txt"].read_text(), flush=True)


def _gather(objs: list, trainer: Trainer) -> list:
    if trainer.world_size <= 1 or not torch.distributed.is_initialized():
        return objs
    out: list = [None] * trainer.world_size
    torch.distributed.all_gather_object(out, objs)
    return [x for rank in out for x in rank]


__all__ = ["ContinualMetrics", "predictions_path", "report_paths", "row_path", "write_report"]
