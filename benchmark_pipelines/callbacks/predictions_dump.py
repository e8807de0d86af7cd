"""Dump evaluation predictions to ``.npz`` files with the AI-GenBench keys and dtypes (spec section 7)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from benchmark_pipelines.atomic import atomic_savez
from benchmark_pipelines.metrics import assigned_generators

FLOAT_KEYS = ("fused_scores", "fused_losses", "crop_scores", "crop_losses")
INT_KEYS = (
    "fused_labels",
    "fused_generator_ids",
    "fused_identifiers",
    "crop_labels",
    "crop_generator_ids",
    "crop_identifiers",
    "crop_to_image_index",
)


def _gather(objs: list, trainer: Trainer) -> list:
    if trainer.world_size <= 1 or not torch.distributed.is_initialized():
        return objs
    out: list = [None] * trainer.world_size
    torch.distributed.all_gather_object(out, objs)
    return [x for rank in out for x in rank]


def timeline_array(windows: list[list[str]] | tuple) -> np.ndarray:
    """Windows as a unicode array (W, N); ragged windows (same-date rule) are right-padded with ``""``."""
    width = max((len(w) for w in windows), default=0)
    return np.array([list(w) + [""] * (width - len(w)) for w in windows], dtype=str).reshape(len(windows), width)


class PredictionsDump(Callback):
    """Writes ``predictions_{stage}_epoch=E-step=S.npz`` and ``predictions_{stage}_all.npz`` into ``save_dir``.

    Keys: fused_/crop_ scores, labels, generator_ids, identifiers, losses; ``crop_to_image_index`` (global image
    position); ``identifier`` (= fused_identifiers); ``generator_id_to_name`` (unicode); ``windows_timeline``
    (unicode, windows x generators); ``pairing`` (int64 per image: paired generator id for reals, -1 for fakes).
    Rank 0 writes, after gathering every rank's outputs; files are written atomically.
    """

    def __init__(self, save_dir: str | Path | None = None) -> None:
        self.save_dir = Path(save_dir) if save_dir is not None else None
        self._buffers: list[dict[str, np.ndarray]] = []
        self.written: list[Path] = []
        self.last_validation_step: int | None = None  # global step of the last validation dump (runner's check)

    def _collect(self, outputs: dict[str, torch.Tensor]) -> None:
        self._buffers.append(
            {
                k: v.detach().float().cpu().numpy() if k in FLOAT_KEYS else v.cpu().numpy()
                for k, v in outputs.items()
                if isinstance(v, torch.Tensor)
            }
        )

    def _write(self, trainer: Trainer, stage: str, split: str) -> None:
        buffers = _gather(self._buffers, trainer)
        self._buffers = []
        if stage == "validate":
            self.last_validation_step = trainer.global_step
        if trainer.global_rank != 0 or self.save_dir is None:
            return
        arrays: dict[str, np.ndarray] = {}
        for key in FLOAT_KEYS:
            arrays[key] = (
                np.concatenate([b[key] for b in buffers]).astype(np.float32) if buffers else np.zeros(0, np.float32)
            )
        for key in INT_KEYS:
            arrays[key] = (
                np.concatenate([b[key] for b in buffers]).astype(np.int64) if buffers else np.zeros(0, np.int64)
            )
        arrays["identifier"] = arrays["fused_identifiers"]
        dm = trainer.datamodule
        arrays["generator_id_to_name"] = np.array(dm.generator_id_to_name, dtype=str)
        arrays["windows_timeline"] = timeline_array(dm.step.timeline)
        pairing = dm.eval_view(split).pairing
        assigned = assigned_generators(arrays["fused_generator_ids"], arrays["fused_identifiers"], pairing)
        arrays["pairing"] = np.where(arrays["fused_generator_ids"] == 0, assigned, -1).astype(np.int64)
        name = f"predictions_{stage}_epoch={trainer.current_epoch}-step={trainer.global_step}.npz"
        path = atomic_savez(self.save_dir / name, **arrays)
        latest = self.save_dir / f"predictions_{stage}_all.npz"
        tmp = latest.with_name(f".{latest.name}.tmp")
        shutil.copyfile(path, tmp)
        tmp.replace(latest)
        self.written += [path, latest]

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: ANN001
        if not trainer.sanity_checking:
            self._collect(outputs)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._write(trainer, "validate", "validation")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: ANN001
        self._collect(outputs)

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._write(trainer, "test", "test")

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: ANN001
        self._collect(outputs)

    def on_predict_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._write(trainer, "predict", "predict")


__all__ = ["PredictionsDump", "timeline_array"]
