"""A test-only callback that parks a real CLI run at a chosen point so a harness can signal or kill it there."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer


class PauseAt(Callback):
    """At ``hook`` of window ``window`` (and ``global_step``, for batch hooks) write ``<marker_dir>/paused`` and wait
    until ``<marker_dir>/release`` exists (the harness kills the process meanwhile, or signals it and releases)."""

    def __init__(self, marker_dir: str, window: int, hook: str, global_step: int | None = None) -> None:
        self.marker_dir = Path(marker_dir)
        self.window = window
        self.hook = hook
        self.global_step = global_step
        self.fired = False

    def _maybe_pause(self, trainer: Trainer, hook: str) -> None:
        if self.fired or hook != self.hook or Path(trainer.default_root_dir).name != f"window_{self.window}":
            return
        if self.global_step is not None and trainer.global_step != self.global_step:
            return
        self.fired = True
        tmp = self.marker_dir / ".paused.tmp"
        tmp.write_text(f"{hook} {trainer.global_step}\n")
        os.replace(tmp, self.marker_dir / "paused")
        deadline = time.monotonic() + 120
        while not (self.marker_dir / "release").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("PauseAt: the harness never killed nor released this run")
            time.sleep(0.02)

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._maybe_pause(trainer, "fit_start")

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        self._maybe_pause(trainer, "train_batch_end")

    def on_validation_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        self._maybe_pause(trainer, "validation_batch_end")
