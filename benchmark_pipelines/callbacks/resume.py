"""Interruptions become resumes: stop signals, mid-step checkpoints with RNG states, graceful stop at a batch end.

A signal (Ctrl-C, SIGTERM, the SLURM requeue signal) only sets a flag. The :class:`ResumeCheckpointing` callback
acts on it at the next batch boundary, where the training state is consistent: during training it writes the
step's resume checkpoint first; then it raises :class:`RunInterrupted`, which the runner turns into a clean exit
(and, for the SLURM signal, ``scontrol requeue``). A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import logging
import signal
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states
from lightning.pytorch import Callback, LightningModule, Trainer

log = logging.getLogger(__name__)

RESUME_CHECKPOINT = "periodic.ckpt"


class RunInterrupted(BaseException):  # noqa: N818 (like KeyboardInterrupt: not an error, a request to stop)
    """Raised at a batch boundary after a stop signal; the runner exits cleanly (and requeues under SLURM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def parse_signal(name: str | int) -> signal.Signals:
    """``"SIGUSR1"``, ``"USR1"`` or a number -> the signal; a clear error otherwise."""
    if isinstance(name, int) or str(name).isdigit():
        return signal.Signals(int(name))
    text = str(name).upper()
    text = text if text.startswith("SIG") else f"SIG{text}"
    try:
        return signal.Signals[text]
    except KeyError:
        raise ValueError(f"unknown signal {name!r}: use a name such as SIGUSR1, SIGUSR2 or SIGTERM") from None


class StopRequest:
    """Installs flag-setting handlers for SIGINT, SIGTERM and the requeue signal; restores the old ones on exit."""

    def __init__(self, requeue_signal: str | int = "SIGUSR1") -> None:
        self.requeue_signal = parse_signal(requeue_signal)
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def requeue_requested(self) -> bool:
        return self.signum == self.requeue_signal

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        if self.signum is None or signum == self.requeue_signal:
            self.signum = signum
        name = signal.Signals(signum).name
        print(f"\nReceived {name}: saving at the next batch boundary, then stopping", flush=True)

    def __enter__(self) -> StopRequest:
        for signum in {signal.SIGINT, signal.SIGTERM, self.requeue_signal}:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def check(self) -> None:
        """Raise :class:`RunInterrupted` if a stop was requested (call only where stopping is safe)."""
        if self.signum is not None:
            raise RunInterrupted(self.signum)


class ResumeCheckpointing(Callback):
    """Checkpoints inside a step and a graceful stop on signals.

    Writes ``<step>/checkpoints/periodic.ckpt`` (atomically, through the Trainer's checkpoint IO; only the last one
    is kept) every ``every_n_train_steps`` optimizer steps and/or ``every_n_minutes``, after the last training
    batch (so an evaluation interrupted after training resumes at evaluation), and when a stop is requested.
    The Lightning checkpoint already holds model, optimizer, scheduler and loop counters; this callback adds the
    RNG states (restored when training restarts) and the logger run ids. The data-loader position is rebuilt from
    the restored loop counters through the data module's ``resume_training_at`` (see ``ResumableShuffleSampler``).
    """

    def __init__(
        self,
        checkpoint_dir: str | Path,
        *,
        every_n_train_steps: int | None = None,
        every_n_minutes: float | None = None,
        stop: StopRequest | None = None,
    ) -> None:
        if every_n_train_steps is not None and every_n_train_steps < 1:
            raise ValueError(f"checkpointing.every_n_train_steps must be >= 1 or null, got {every_n_train_steps}")
        if every_n_minutes is not None and every_n_minutes <= 0:
            raise ValueError(f"checkpointing.every_n_minutes must be > 0 or null, got {every_n_minutes}")
        self.path = Path(checkpoint_dir) / RESUME_CHECKPOINT
        self.every_n_train_steps = every_n_train_steps
        self.every_n_minutes = every_n_minutes
        self.stop = stop
        self._last_save = time.monotonic()
        self._last_saved_step = -1
        self._stop_pending = False
        self._rng_to_restore: dict[str, Any] | None = None
        self.logger_ids: dict[str, str] = {}

    # ------------------------------------------------------------------ state carried in the checkpoint
    def state_dict(self) -> dict[str, Any]:
        states = _collect_rng_states(include_cuda=torch.cuda.is_available())
        # numpy's state holds an ndarray, which torch.load(weights_only=True) refuses: store it as a tensor.
        name, keys, pos, has_gauss, gauss = states["numpy"]
        states["numpy"] = (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss)
        return {"rng_states": states, "loggers": self._ids()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Applied when training restarts, after every setup step, so the next batch draws what it would have drawn.
        states = state_dict.get("rng_states")
        if states is not None:
            name, keys, pos, has_gauss, gauss = states["numpy"]
            states = {**states, "numpy": (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss)}
        self._rng_to_restore = states
        self.logger_ids = dict(state_dict.get("loggers", {}))

    def _ids(self) -> dict[str, str]:
        trainer = getattr(self, "_trainer", None)
        if trainer is None:
            return {}
        return {type(lg).__name__: str(lg.version) for lg in trainer.loggers if lg.version is not None}

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._trainer = trainer

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._continue_data_mid_epoch(trainer)
        if self._rng_to_restore is not None:
            _set_rng_states(self._rng_to_restore)
            self._rng_to_restore = None
        now = self._ids()
        for name, version in self.logger_ids.items():
            if name in now and now[name] != version:
                log.warning("resumed %s run %s differs from the checkpoint's %s", name, now[name], version)
        self._last_save = time.monotonic()

    @staticmethod
    def _continue_data_mid_epoch(trainer: Trainer) -> None:
        """After a mid-epoch resume, rebuild the training loader so it continues where the checkpoint stopped.

        Lightning builds the training loader before restoring a checkpoint when ``configure_optimizers`` asks for
        ``estimated_stepping_batches`` (as OneCycleLR does), and never again on a restart. The restored loop
        counters are only known now, so the loader is requested again. ``processed`` (batches whose training step
        ran in this epoch, as restored; the epoch loop adjusts its counters later) is the number to skip.
        """
        fit_loop = trainer.fit_loop
        done = fit_loop.epoch_loop.batch_progress.current.processed
        if not 0 < done < trainer.num_training_batches:
            return  # fresh start, or resumed at an epoch boundary: Lightning's own iteration is right
        datamodule = trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "resume_training_at"):
            warnings.warn(
                f"resumed mid-epoch after {done} batches, but the data module has no resume_training_at(epoch, "
                "batches_done): the rest of this epoch will not replay the interrupted run's batches",
                stacklevel=2,
            )
            return
        datamodule.resume_training_at(fit_loop.epoch_progress.current.processed, done)
        if fit_loop._data_fetcher is not None:
            fit_loop._data_fetcher.teardown()  # stops workers of the loader built before the restore
        fit_loop._combined_loader = None  # private, but the only way to make setup_data() request it again
        fit_loop.setup_data()

    # ------------------------------------------------------------------ saving
    def _is_last_training_batch(self, trainer: Trainer) -> bool:
        if trainer.max_steps != -1 and trainer.global_step >= trainer.max_steps:
            return True
        last_epoch = trainer.max_epochs is not None and trainer.current_epoch >= trainer.max_epochs - 1
        return bool(last_epoch and trainer.is_last_batch)

    def _stop_requested(self, trainer: Trainer) -> bool:
        local = self.stop is not None and self.stop.requested
        return bool(trainer.strategy.reduce_boolean_decision(local, all=False))

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        stop = self._stop_requested(trainer)
        due = stop or self._is_last_training_batch(trainer)
        step = trainer.global_step
        if not due and self.every_n_train_steps and step % self.every_n_train_steps == 0:
            due = step != self._last_saved_step  # with gradient accumulation, once per optimizer step
        if not due and self.every_n_minutes is not None:
            elapsed = time.monotonic() - self._last_save >= 60 * self.every_n_minutes
            due = bool(trainer.strategy.broadcast(elapsed))
        if due:
            trainer.save_checkpoint(self.path)
            self._last_save, self._last_saved_step = time.monotonic(), step
        # The stop itself waits for the next hook: Lightning logs this batch's metrics after this hook returns.
        self._stop_pending = stop

    def on_train_batch_start(self, trainer: Trainer, *args: Any) -> None:
        if self._stop_pending:
            self._raise_stop()

    def on_train_epoch_end(self, trainer: Trainer, *args: Any) -> None:
        if self._stop_pending:
            self._raise_stop()

    def on_validation_start(self, trainer: Trainer, *args: Any) -> None:
        if self._stop_pending or self._stop_requested(trainer):
            self._raise_stop()

    def on_validation_batch_end(self, trainer: Trainer, *args: Any) -> None:
        # Evaluation is not resumed mid-way: it restarts from the step's last checkpoint (saved after training).
        if self._stop_requested(trainer):
            self._raise_stop()

    on_test_batch_end = on_validation_batch_end

    def _raise_stop(self) -> None:
        signum = self.stop.signum if self.stop is not None and self.stop.signum is not None else signal.SIGTERM
        raise RunInterrupted(signum)


__all__ = ["RESUME_CHECKPOINT", "ResumeCheckpointing", "RunInterrupted", "StopRequest", "parse_signal"]
