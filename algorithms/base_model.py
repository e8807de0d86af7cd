"""The base detector: one logit, BCE, OneCycleLR per window, uint8 batches normalised on the device."""

from __future__ import annotations

import logging
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from typing_extensions import override

from algorithms.registry import create_model
from benchmark_pipelines.batch import Batch

log = logging.getLogger(__name__)

TRAINING_CROPPING = ("resize", "random_crop", "center_crop", "as_is")
EVALUATION_CROPPING = ("resize", "crop", "multicrop", "as_is")
SCHEDULERS = ("OneCycleLR", "none")


def _default_optimizer(params):  # noqa: ANN001, ANN202
    return torch.optim.SGD(params, lr=1e-3, momentum=0.9, weight_decay=1e-4)


def fuse_crop_scores(scores: torch.Tensor, crop_to_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image score = mean of its crops' probabilities. Returns (fused scores, index of each image's first crop)."""
    images, inverse = torch.unique(crop_to_image, return_inverse=True)
    fused = torch.zeros(len(images), dtype=scores.dtype, device=scores.device).index_add_(0, inverse, scores)
    counts = torch.zeros(len(images), dtype=scores.dtype, device=scores.device).index_add_(
        0, inverse, torch.ones_like(scores)
    )
    positions = torch.arange(len(crop_to_image), device=scores.device)
    first = torch.full((len(images),), len(crop_to_image), dtype=torch.long, device=scores.device)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")
    order = torch.argsort(first)  # images in order of appearance
    return (fused / counts)[order], first[order]


class BenchmarkModuleHooks:
    """What every detector of the suite shares with the runner and the data modules (mixed into a LightningModule
    whose hparams hold the crop strategies and training augmentations, with ``input_size``,
    ``logging_initial_step`` and ``evaluation_step(batch, stage)``): the data config, the continuous step axis,
    and validate/test/predict through ``evaluation_step``."""

    def data_config(self) -> dict[str, Any]:
        """What the data module needs from the model: input size, crop strategies, training augmentations."""
        hp = self.hparams
        return {
            "input_size": self.input_size,
            "training_cropping_strategy": hp.training_cropping_strategy,
            "evaluation_cropping_strategy": hp.evaluation_cropping_strategy,
            "training_augmentations": hp.training_augmentations,
        }

    def _log_step_axis(self, **kwargs: Any) -> None:
        # Logging "step" makes Lightning use it as the x-axis: the axis continues across windows and tasks.
        self.log("step", float(self.logging_initial_step + self.global_step), **kwargs)

    def validation_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self.evaluation_step(batch, "validate")

    def test_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self.evaluation_step(batch, "test")

    def predict_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self.evaluation_step(batch, "predict")

    def on_validation_epoch_end(self) -> None:
        self._log_step_axis()

    def on_test_epoch_end(self) -> None:
        self._log_step_axis()

    def on_train_epoch_end(self) -> None:
        self._log_step_axis()


class BaseDeepfakeDetectionModel(BenchmarkModuleHooks, L.LightningModule):
    """Binary AI-generated image detector over any registered backbone.

    Args:
        model_name: registered name with ``_probe`` or ``_tune`` (``python lightning_main.py list_models``).
        optimizer: optimizer callable (YAML ``class_path``/``init_args``), given the trainable parameters.
        scheduler: ``OneCycleLR`` (re-created every window, total steps = Trainer's estimate) or ``none``.
        model_input_size: side or (H, W) at the model input; default: the factory's input config.
        input_mean: normalisation mean override (the AI-GenBench baselines use CLIP statistics everywhere).
        input_std: normalisation std override.
        classification_threshold: threshold of the threshold metrics (AUROC/AP do not use it).
        base_weights: a checkpoint whose state dict initialises the model (the runner sets it between windows).
        logging_initial_step: offset of the logged step axis, so it continues across windows.
        training_cropping_strategy: resize, random_crop, center_crop or as_is.
        evaluation_cropping_strategy: resize, crop, multicrop (five crops, mean of probabilities) or as_is.
        training_augmentations: training augmentation set: baseline, soft or none.
        pretrained: load the backbone's pretrained weights.
        pretrained_path: a local weights file for the backbone (offline machines).
        model_args: extra keyword arguments for the factory.
    """

    def __init__(
        self,
        model_name: str,
        optimizer: OptimizerCallable = _default_optimizer,
        scheduler: Literal["OneCycleLR", "none"] = "OneCycleLR",
        *,
        model_input_size: int | tuple[int, int] | None = None,
        input_mean: tuple[float, float, float] | None = None,
        input_std: tuple[float, float, float] | None = None,
        classification_threshold: float = 0.5,
        base_weights: str | None = None,
        logging_initial_step: int = 0,
        training_cropping_strategy: Literal["resize", "random_crop", "center_crop", "as_is"] = "resize",
        evaluation_cropping_strategy: Literal["resize", "crop", "multicrop", "as_is"] = "resize",
        training_augmentations: Literal["baseline", "soft", "none"] = "baseline",
        pretrained: bool = True,
        pretrained_path: str | None = None,
        model_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if training_cropping_strategy not in TRAINING_CROPPING:
            raise ValueError(
                f"training_cropping_strategy must be one of {TRAINING_CROPPING}, got {training_cropping_strategy!r}"
            )
        if evaluation_cropping_strategy not in EVALUATION_CROPPING:
            raise ValueError(
                f"evaluation_cropping_strategy must be one of {EVALUATION_CROPPING}, got {evaluation_cropping_strategy!r}"
            )
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")
        self.save_hyperparameters(ignore=["optimizer"])
        self.optimizer_factory = optimizer
        built = create_model(
            model_name, num_classes=1, pretrained=pretrained, pretrained_path=pretrained_path, **(model_args or {})
        )
        self.model = built.model
        cfg = built.input_config
        if model_input_size is None:
            size = tuple(cfg.size)
        elif isinstance(model_input_size, int):
            size = (model_input_size, model_input_size)
        else:
            size = tuple(model_input_size)
        self.input_size: tuple[int, int] = size  # type: ignore[assignment]
        mean = torch.tensor(input_mean or cfg.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255
        std = torch.tensor(input_std or cfg.std, dtype=torch.float32).view(1, 3, 1, 1) * 255
        self.register_buffer("pixel_mean", mean, persistent=False)
        self.register_buffer("pixel_std", std, persistent=False)
        self.logging_initial_step = logging_initial_step
        if base_weights:
            self.load_base_weights(base_weights)

    # ------------------------------------------------------------------ weights and data config
    def load_base_weights(self, path: str) -> None:
        """Load the model state dict of a checkpoint (weights only; optimizer and schedule start fresh)."""
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        state = ckpt.get("state_dict", ckpt)
        self.load_state_dict(state, strict=True)

    # ------------------------------------------------------------------ forward
    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) -> normalised float on the model's device (channels-last memory format)."""
        x = images.to(self.device, non_blocking=True).float()
        x = (x - self.pixel_mean) / self.pixel_std
        return x.contiguous(memory_format=torch.channels_last)

    @override
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.normalize(images) if images.dtype == torch.uint8 else images
        return self.model(x).squeeze(1).float()

    # ------------------------------------------------------------------ steps
    @override
    def training_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        logits = self(batch.image)
        loss = F.binary_cross_entropy_with_logits(logits, batch.label.float())
        # The epoch mean (train_loss_epoch) is logged by EvaluationMetrics, whose state survives a mid-epoch resume.
        self.log("train_loss_step", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=len(logits))
        self._log_step_axis(on_step=True, on_epoch=False)
        return {"loss": loss, "scores": torch.sigmoid(logits.detach()), "labels": batch.label}

    def evaluation_step(self, batch: Batch, stage: str) -> dict[str, torch.Tensor]:
        logits = self(batch.image)
        crop_scores = torch.sigmoid(logits)
        crop_losses = F.binary_cross_entropy_with_logits(logits, batch.label.float(), reduction="none")
        index = batch.crop_to_image_index
        fused_scores, first = fuse_crop_scores(crop_scores, index)
        fused_losses, _ = fuse_crop_scores(crop_losses, index)
        if len(logits):
            self.log(f"{'val' if stage == 'validate' else stage}_loss", crop_losses.mean(), batch_size=len(logits))
        return {
            "fused_scores": fused_scores,
            "fused_labels": batch.label[first],
            "fused_generator_ids": batch.generator_id[first],
            "fused_identifiers": batch.identifier[first],
            "fused_losses": fused_losses,
            "crop_scores": crop_scores,
            "crop_labels": batch.label,
            "crop_generator_ids": batch.generator_id,
            "crop_identifiers": batch.identifier,
            "crop_losses": crop_losses,
            "crop_to_image_index": index,
        }

    # ------------------------------------------------------------------ optimisation
    @override
    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"model {self.hparams.model_name!r} has no trainable parameters")
        optimizer = self.optimizer_factory(params)
        if self.hparams.scheduler == "none":
            return optimizer
        total_steps = max(int(self.trainer.estimated_stepping_batches), 1)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=total_steps
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


__all__ = ["BaseDeepfakeDetectionModel", "BenchmarkModuleHooks", "fuse_crop_scores"]
