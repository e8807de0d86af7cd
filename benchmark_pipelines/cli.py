"""BenchmarkCLI: LightningCLI that parses once per step and lets the runner own the step loop."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.io import TorchCheckpointIO

from benchmark_pipelines.callbacks import EvaluationMetrics, PredictionsDump

DEFAULT_SEED = 42


@dataclass
class ExperimentInfo:
    """Where an experiment's outputs go (``--experiment_info.*``).

    Attributes:
        experiment_id: names ``experiment_<id>``. Default: the SLURM job id under SLURM (array jobs:
            ``<array_job>_<task>``), otherwise the next free integer. Pass it to resume a run.
        experiments_data_folder: root of checkpoints, predictions and markers.
        experiment_name_prefix: folder prefix of an experiment.
        window_name_prefix: folder prefix of a window.
    """

    experiment_id: str | int | None = None
    experiments_data_folder: str = "experiments_data"
    experiment_name_prefix: str = "experiment_"
    window_name_prefix: str = "window_"


@dataclass
class CheckpointingConfig:
    """Mid-step checkpoints and interruption handling (``--checkpointing.*``).

    Attributes:
        every_n_train_steps: also checkpoint every N optimizer steps inside a window/task (null: off).
        every_n_minutes: also checkpoint every N minutes of training (null: off).
        requeue_signal: the signal SLURM sends before preemption or time-out (``#SBATCH --signal=SIGUSR1@90``).
            On it the run checkpoints at the next batch boundary, calls ``scontrol requeue <job id>`` and exits.
        requeue: call ``scontrol requeue`` on that signal (only when running as a SLURM batch job).
    """

    every_n_train_steps: int | None = None
    every_n_minutes: float | None = 30.0
    requeue_signal: str = "SIGUSR1"
    requeue: bool = True


@dataclass
class StepContext:
    """What the runner tells the CLI about the step it builds."""

    index: int
    step_dir: Path
    experiment_name: str
    base_weights: str | None = None
    logging_initial_step: int = 0
    extra_callbacks: list = field(default_factory=list)
    # Logged step of the checkpoint a step resumes from: TensorBoard drops the events logged after it (purge_step).
    resume_log_step: int | None = None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a hidden temporary name in the same folder, then renames it into place."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)


class BenchmarkCLI(LightningCLI):
    """LightningCLI for one step (window/task) of a benchmark run, without subcommands (``run=False``).

    ``parse_only=True`` parses and validates the configuration without building model or trainer.
    """

    def __init__(self, *args: Any, step: StepContext | None = None, parse_only: bool = False, **kwargs: Any) -> None:
        self.step_context = step
        self.parse_only = parse_only
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("subclass_mode_data", True)
        kwargs.setdefault("save_config_callback", None)
        kwargs.setdefault("run", False)
        kwargs.setdefault("seed_everything_default", DEFAULT_SEED)
        kwargs.setdefault("auto_configure_optimizers", False)
        kwargs.setdefault("parser_kwargs", {"exit_on_error": False})
        super().__init__(LightningModule, LightningDataModule, *args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_class_arguments(ExperimentInfo, "experiment_info")
        parser.add_class_arguments(CheckpointingConfig, "checkpointing")
        parser.add_argument(
            "--dataset_path",
            type=str | None,
            default=None,
            help="Dataset folder; overrides data.init_args.dataset_path. Omit for the embedded demo dataset.",
        )

    def before_instantiate_classes(self) -> None:
        cfg = self.config
        if cfg.get("dataset_path") is not None:
            cfg.data.init_args.dataset_path = cfg.dataset_path
        ctx = self.step_context
        if ctx is None:
            return
        cfg.model.init_args.logging_initial_step = ctx.logging_initial_step
        cfg.model.init_args.base_weights = ctx.base_weights
        cfg.trainer.default_root_dir = str(ctx.step_dir)
        step_name = ctx.step_dir.name
        for logger in _as_list(cfg.trainer.get("logger")):
            class_path = logger.get("class_path", "") if isinstance(logger, Namespace) else ""
            init = logger.init_args
            if class_path.endswith("TensorBoardLogger") or class_path.endswith("CSVLogger"):
                init.name, init.version = ctx.experiment_name, step_name
                if class_path.endswith("TensorBoardLogger"):
                    init.default_hp_metric = False  # a -1 placeholder logged again at every (re)start
                if class_path.endswith("TensorBoardLogger") and ctx.resume_log_step is not None:
                    # Events logged after the checkpoint (and lost with the killed run) are dropped by readers.
                    init.purge_step = ctx.resume_log_step
            elif class_path.endswith("WandbLogger"):
                init.name = f"{ctx.experiment_name}_{step_name}"
                init.group = ctx.experiment_name
                # A stable id per (experiment, step) lets a restarted job resume the same W&B run.
                init.id = re.sub(r"[^A-Za-z0-9_-]", "-", f"{ctx.experiment_name}-{step_name}")
                if init.get("resume") is None:
                    init.resume = "allow"

    def instantiate_classes(self) -> None:
        if self.parse_only:
            return
        try:
            super().instantiate_classes()
        except ValueError as err:
            # jsonargparse reports a failed constructor as "does not validate against any Union subtype";
            # surface a missing-weights error itself, with its fix.
            from algorithms.models.weights import PretrainedWeightsUnavailable

            cause: BaseException | None = err
            while cause is not None and not isinstance(cause, PretrainedWeightsUnavailable):
                cause = cause.__cause__ or cause.__context__
            if cause is None:
                raise
            raise cause from None

    def instantiate_trainer(self, **kwargs: Any):  # noqa: ANN201
        extra = []
        ctx = self.step_context
        if ctx is not None:
            # A data module with its own evaluation outputs (CDDB: continual metrics) replaces the AUROC
            # metrics and .npz dumps of the sliding-window benchmark; checkpoints and runner callbacks stay.
            step_callbacks = getattr(self.datamodule, "step_callbacks", None)
            if callable(step_callbacks):
                evaluation = list(step_callbacks(ctx))
            else:
                threshold = float(getattr(self.model.hparams, "classification_threshold", 0.5))
                evaluation = [EvaluationMetrics(threshold=threshold), PredictionsDump(ctx.step_dir)]
            extra = [
                ModelCheckpoint(dirpath=str(ctx.step_dir / "checkpoints"), save_last=False),
                *evaluation,
                *ctx.extra_callbacks,
            ]
        kwargs.setdefault("callbacks", [])
        return super().instantiate_trainer(**kwargs) if not extra else self._instantiate_with(extra, **kwargs)

    def _instantiate_with(self, extra: list, **kwargs: Any):  # noqa: ANN202
        configured = self._get(self.config_init, "trainer", default={})
        trainer_config = {**configured, **kwargs}
        # Callbacks from the YAML (trainer.callbacks) and from kwargs both apply; kwargs must not replace them.
        trainer_config["callbacks"] = [*_as_list(configured.get("callbacks")), *_as_list(kwargs.get("callbacks"))]
        plugins = trainer_config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, list) else [plugins]
        if not any(isinstance(p, TorchCheckpointIO) for p in plugins):
            trainer_config["plugins"] = [*plugins, AtomicCheckpointIO()]
        callbacks = [self._get(self.config_init, c) for c in self._parser(self.subcommand).callback_keys]
        return self._instantiate_trainer(trainer_config, callbacks + extra)

    def instantiate_data(self) -> LightningDataModule:
        """Build only the data module from the parsed configuration (for ``parse_only`` CLIs)."""
        from jsonargparse import ArgumentParser

        parser = ArgumentParser(exit_on_error=False)
        parser.add_subclass_arguments(LightningDataModule, "data")
        ns = parser.parse_object({"data": self.config.data.as_dict()})
        return parser.instantiate_classes(ns).data

    def dump_config(self) -> str:
        return self.parser.dump(self.config, skip_none=False, skip_check=True)


def _as_list(value: Any) -> list:
    if value is None or isinstance(value, bool):
        return []
    return list(value) if isinstance(value, list) else [value]


def slurm_experiment_id(env: dict[str, str] | None = None) -> str | None:
    """The SLURM job id (array jobs: ``<array_job>_<task>``), or None outside SLURM."""
    env = os.environ if env is None else env
    if "SLURM_ARRAY_JOB_ID" in env and "SLURM_ARRAY_TASK_ID" in env:
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    # Interactive allocations (srun bash) have SLURM_JOB_NAME=bash: not a batch job, like Lightning's detect().
    if "SLURM_JOB_ID" in env and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        return env["SLURM_JOB_ID"]
    return None


__all__ = [
    "DEFAULT_SEED",
    "AtomicCheckpointIO",
    "BenchmarkCLI",
    "CheckpointingConfig",
    "ExperimentInfo",
    "StepContext",
    "slurm_experiment_id",
]
