"""Lightning modules of the continual methods: LoRAX, full fine-tuning and fine-tuning with replay.

All three are class-incremental classifiers on the same protocol (spec continual.md section 1): the head grows
by the classes of each new task (CDDB: real ``2k`` and fake ``2k + 1`` of task ``k``), one global exemplar memory
(iCaRL herding, ``floor(M / classes seen)`` per class) is merged into the next task's training set, and the
optimiser is AdamW with the LoRAX learning-rate scaling and cosine-with-warmup schedule.

The module grows to the current task in :meth:`ContinualClassifier.setup`, which Lightning calls before it
restores a checkpoint's weights, so a task interrupted half-way resumes from its own checkpoint;
:meth:`ContinualClassifier.load_base_weights` first rebuilds the tasks a checkpoint holds, then loads it.

The data module they train on provides (duck-typed, see ``benchmark_pipelines.data.continual``):

* ``step_index``: the current task ``k``;
* ``class_layout()``: per task, one flag per new class, ``True`` for a real class (CDDB: ``(True, False)``);
* ``herding_dataloader(task)``: the training images of a task without training augmentation, as batches whose
  ``label`` is the class label and ``identifier`` the sample ``ID`` in the train split;
* training batches whose ``label`` is the class label; evaluation batches with the usual binary label.

The data module reads the memory from the module's ``exemplar_memory`` when it builds the training loader.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import override

from algorithms.base_model import EVALUATION_CROPPING, TRAINING_CROPPING, BenchmarkModuleHooks, fuse_crop_scores
from algorithms.continual.exemplar_memory import ExemplarMemory
from benchmark_pipelines.batch import Batch

log = logging.getLogger(__name__)

SCHEDULERS = ("cosine", "none")
LORAX_MEAN_STD = (0.5, 0.5, 0.5)


class ContinualClassifier(BenchmarkModuleHooks, L.LightningModule):
    """Base of the continual methods: growing head, exemplar memory, optimiser, evaluation outputs.

    Subclasses build their network in ``__init__`` and then call :meth:`_finish_init`; they implement
    :meth:`_add_task`, :meth:`_logits`, :meth:`_training_loss`, :meth:`_herding_features` and
    :meth:`_trainable_named_parameters`.

    Evaluation returns the dict of :class:`algorithms.BaseDeepfakeDetectionModel` (``fused_*``/``crop_*``) with
    the binary detection score = the sum of the fake classes' probabilities, so the AUROC callbacks and
    ``.npz`` dumps work unchanged, plus ``fused_class_probs`` (images x classes) for the continual metrics.

    Args:
        memory_size: exemplar budget ``M`` (0: no replay).
        lr: learning rate of the first task, before scaling by ``effective batch / lr_reference_batch``.
        incremental_lr: learning rate of the later tasks (``None``: ``lr``), scaled the same way.
        lr_reference_batch: the batch the learning rates refer to (LoRAX: 512).
        weight_decay: AdamW weight decay, not applied to biases and 1-D parameters (timm ``add_weight_decay``).
        scheduler: ``cosine`` (timm cosine with warmup, one value per epoch) or ``none``.
        warmup_lr: learning rate at the start of the warmup (LoRAX: 1e-4, above the scaled base rates).
        warmup_epochs: warmup length in epochs.
        min_lr: final learning rate of the cosine.
        model_input_size: input side (or (H, W)) of the network.
        input_mean: normalisation mean (LoRAX: 0.5).
        input_std: normalisation std (LoRAX: 0.5).
        training_cropping_strategy: size adaptation at training (LoRAX: ``random_crop``).
        evaluation_cropping_strategy: evaluation view (LoRAX: ``crop``, a centre crop).
        training_augmentations: training augmentation set (LoRAX: ``none``).
        herding_max_iter: iteration limit of the herding loop.
        classification_threshold: threshold of the binary threshold metrics.
        base_weights: checkpoint of the previous task (the runner sets it).
        logging_initial_step: offset of the logged step axis (the runner sets it).
    """

    def __init__(
        self,
        *,
        memory_size: int = 500,
        lr: float = 1e-4,
        incremental_lr: float | None = 5e-4,
        lr_reference_batch: int = 512,
        weight_decay: float = 1e-6,
        scheduler: Literal["cosine", "none"] = "cosine",
        warmup_lr: float = 1e-4,
        warmup_epochs: int = 5,
        min_lr: float = 1e-5,
        model_input_size: int | tuple[int, int] = 224,
        input_mean: tuple[float, float, float] = LORAX_MEAN_STD,
        input_std: tuple[float, float, float] = LORAX_MEAN_STD,
        training_cropping_strategy: Literal["resize", "random_crop", "center_crop", "as_is"] = "random_crop",
        evaluation_cropping_strategy: Literal["resize", "crop", "multicrop", "as_is"] = "crop",
        training_augmentations: Literal["baseline", "soft", "none"] = "none",
        herding_max_iter: int = 1000,
        classification_threshold: float = 0.5,
        base_weights: str | None = None,
        logging_initial_step: int = 0,
    ) -> None:
        super().__init__()
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")
        if training_cropping_strategy not in TRAINING_CROPPING:
            raise ValueError(
                f"training_cropping_strategy must be one of {TRAINING_CROPPING}, got {training_cropping_strategy!r}"
            )
        if evaluation_cropping_strategy not in EVALUATION_CROPPING:
            raise ValueError(
                f"evaluation_cropping_strategy must be one of {EVALUATION_CROPPING}, got {evaluation_cropping_strategy!r}"
            )
        if lr_reference_batch < 1 or warmup_epochs < 0:
            raise ValueError(
                f"lr_reference_batch must be >= 1 and warmup_epochs >= 0; got {lr_reference_batch}, {warmup_epochs}"
            )
        self.save_hyperparameters()
        size = (model_input_size, model_input_size) if isinstance(model_input_size, int) else model_input_size
        self.input_size: tuple[int, int] = (int(size[0]), int(size[1]))
        self.register_buffer("pixel_mean", torch.tensor(input_mean).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("pixel_std", torch.tensor(input_std).view(1, 3, 1, 1) * 255, persistent=False)
        self.logging_initial_step = logging_initial_step
        self.exemplar_memory = ExemplarMemory(memory_size)
        self.class_layout: list[tuple[bool, ...]] = []
        self._lr_schedule: Any = None

    def _finish_init(self) -> None:
        """Load ``base_weights`` (call at the end of a subclass ``__init__``, once the network exists)."""
        if self.hparams.base_weights:
            self.load_base_weights(self.hparams.base_weights)

    # ------------------------------------------------------------------ what subclasses implement
    def _add_task(self, n_new_classes: int, first: bool) -> None:
        """Grow the network by one task with ``n_new_classes`` classes (``first``: the first task)."""
        raise NotImplementedError

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, classes) of normalised images."""
        raise NotImplementedError

    def _training_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """(loss, class logits, detached loss terms by name, e.g. ``ce_loss``) of a batch with class labels ``y``."""
        raise NotImplementedError

    def _herding_features(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """Features (B, F) of normalised images as the network was at the end of ``task``."""
        raise NotImplementedError

    def _trainable_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """The parameters the current task trains, with their names."""
        raise NotImplementedError

    # ------------------------------------------------------------------ tasks and classes
    @property
    def n_tasks(self) -> int:
        """Number of tasks the network is built for."""
        return len(self.class_layout)

    @property
    def n_classes(self) -> int:
        return sum(len(t) for t in self.class_layout)

    @property
    def class_is_real(self) -> list[bool]:
        """Per class label, whether it is a real class."""
        return [flag for task in self.class_layout for flag in task]

    def task_classes(self, task: int) -> list[int]:
        """Class labels of ``task``."""
        start = sum(len(t) for t in self.class_layout[:task])
        return list(range(start, start + len(self.class_layout[task])))

    def grow_to(self, layout: list[tuple[bool, ...]] | list[list[bool]]) -> None:
        """Build the network for the tasks of ``layout`` (per task, the real flag of each new class).

        Tasks already built must match; the missing ones are added in order.

        Raises:
            ValueError: if the network has more tasks than ``layout`` or a built task differs.
        """
        layout = [tuple(bool(f) for f in task) for task in layout]
        if self.n_tasks > len(layout):
            raise ValueError(
                f"the model is built for {self.n_tasks} tasks but the data defines {len(layout)} up to the current "
                "one; base weights from a later task, or another data configuration?"
            )
        for k, (built, wanted) in enumerate(zip(self.class_layout, layout, strict=False)):
            if built != wanted:
                raise ValueError(
                    f"task {k}: the model's classes {built} differ from the data's {wanted} (real flags per class)"
                )
        for task in layout[self.n_tasks :]:
            if not task:
                raise ValueError("a task must bring at least one class")
            self._add_task(len(task), first=self.n_tasks == 0)
            self.class_layout.append(task)

    # ------------------------------------------------------------------ weights, checkpoints
    def load_base_weights(self, path: str) -> None:
        """Rebuild the tasks of a checkpoint of this method, load its weights and its exemplar memory.

        Optimiser and schedule start fresh (the runner's weights-only hand-over between tasks).
        """
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        state = ckpt.get("continual")
        if state is None:
            raise ValueError(
                f"{path} holds no continual-learning state (class layout, exemplar memory): it was not written by "
                f"{type(self).__name__}"
            )
        self.grow_to(state["class_layout"])
        self.load_state_dict(ckpt["state_dict"], strict=True)
        self.exemplar_memory.load_state_dict(state["memory"])

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["continual"] = {
            "method": type(self).__name__,
            "class_layout": [list(task) for task in self.class_layout],
            "memory": self.exemplar_memory.state_dict(),
        }

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("continual")
        if state is None:
            raise ValueError(f"the checkpoint holds no continual-learning state for {type(self).__name__}")
        saved = [tuple(bool(f) for f in task) for task in state["class_layout"]]
        if saved != self.class_layout:
            raise ValueError(
                f"the checkpoint was taken with the classes {saved}, the model is built for {self.class_layout}"
            )
        self.exemplar_memory.load_state_dict(state["memory"])

    # ------------------------------------------------------------------ Lightning set-up
    def _datamodule(self) -> Any:
        dm = self.trainer.datamodule if self._trainer is not None else None
        if dm is None or not hasattr(dm, "class_layout"):
            raise ValueError(
                f"{type(self).__name__} needs a continual data module (with class_layout(), step_index and "
                "herding_dataloader()): benchmark_pipelines.CDDBDataModule or ContinualAIGenBenchDataModule"
            )
        return dm

    @override
    def setup(self, stage: str) -> None:
        # Called before Lightning restores a checkpoint: the network must already have the task's shape.
        dm = self._datamodule()
        self.grow_to(dm.class_layout()[: dm.step_index + 1])

    @override
    def on_fit_start(self) -> None:
        task = self._datamodule().step_index
        if task == 0 or self.exemplar_memory.budget == 0:
            return
        stored = set(self.exemplar_memory.classes)
        for k in range(task - 1):
            if not set(self.task_classes(k)) <= stored:
                raise ValueError(
                    f"the exemplar memory lacks the classes of task {k} (it holds {sorted(stored)}); the base "
                    "weights come from a run with another memory size?"
                )
        if set(self.task_classes(task - 1)) <= stored:
            return  # restored from a checkpoint of this task: the memory is the saved one
        self.update_memory(task - 1)

    # ------------------------------------------------------------------ exemplar memory
    @torch.no_grad()
    def update_memory(self, task: int) -> None:
        """Add ``task``'s classes to the memory by herding on the network as it was at the end of ``task``.

        Features are computed in eval mode on the images without training augmentation (the reference uses
        the training transform in train mode; ours makes the memory a deterministic function of the weights).
        Under DDP every rank computes a share of the features, rank 0 herds and broadcasts the memory, so
        there is one global memory, never one per rank.
        """
        dm = self._datamodule()
        trainer = self.trainer
        rank, world = trainer.global_rank, trainer.world_size
        was_training = self.training
        self.eval()
        ids, labels, feats = [], [], []
        try:
            for b, batch in enumerate(dm.herding_dataloader(task)):
                if b % world != rank or len(batch.label) == 0:
                    continue
                f = self._herding_features(self.normalize(batch.image), task).float()
                f, first = _fuse_rows(f, batch.crop_to_image_index.to(f.device))
                ids.append(batch.identifier[first.cpu()].numpy())
                labels.append(batch.label[first.cpu()].numpy())
                feats.append(f.cpu().numpy())
        finally:
            self.train(was_training)
        part = (np.concatenate(ids), np.concatenate(labels), np.concatenate(feats)) if ids else None
        parts = [p for p in _all_gather_objects(part, trainer) if p is not None]
        state = None
        if rank == 0:
            if not parts:
                raise ValueError(f"task {task}: the herding loader gave no training image")
            ids_all = np.concatenate([p[0] for p in parts]).astype(np.int64)
            labels_all = np.concatenate([p[1] for p in parts]).astype(np.int64)
            feats_all = np.concatenate([p[2] for p in parts]).astype(np.float32)
            order = np.argsort(ids_all, kind="stable")  # the same candidates order whatever the world size
            ids_all, labels_all, feats_all = ids_all[order], labels_all[order], feats_all[order]
            expected = self.task_classes(task)
            candidates = {}
            for label in expected:
                mask = labels_all == label
                if not mask.any():
                    raise ValueError(f"task {task}: no training image of class {label} to herd exemplars from")
                candidates[label] = (ids_all[mask], feats_all[mask])
            self.exemplar_memory.update(candidates, task=task, max_iter=self.hparams.herding_max_iter)
            state = self.exemplar_memory.state_dict()
        state = trainer.strategy.broadcast(state, src=0)
        self.exemplar_memory.load_state_dict(state)
        sizes = self.exemplar_memory.class_sizes()
        print(
            f"exemplar memory after task {task}: {len(self.exemplar_memory)} exemplars, "
            f"{min(sizes.values())}-{max(sizes.values())} per class over {len(sizes)} classes",
            flush=True,
        )

    # ------------------------------------------------------------------ data config and forward
    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) -> normalised float on the model's device."""
        x = images.to(self.device, non_blocking=True).float()
        return (x - self.pixel_mean) / self.pixel_std

    @override
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (B, classes) of uint8 or normalised images."""
        x = self.normalize(images) if images.dtype == torch.uint8 else images
        return self._logits(x).float()

    def _fake_mask(self, device: torch.device) -> torch.Tensor:
        return ~torch.tensor(self.class_is_real, dtype=torch.bool, device=device)

    def fake_scores(self, probs: torch.Tensor) -> torch.Tensor:
        """Binary detection score: the summed probability of the fake classes."""
        return probs[:, self._fake_mask(probs.device)].sum(dim=1)

    # ------------------------------------------------------------------ steps
    @override
    def training_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        y = batch.label.to(self.device)
        if len(y) and int(y.max()) >= self.n_classes:
            raise ValueError(f"class label {int(y.max())} in a training batch, the model has {self.n_classes} classes")
        loss, logits, extra = self._training_loss(self.normalize(batch.image), y)
        n = len(y)
        # Epoch means are computed by the callbacks (EvaluationMetrics, ContinualMetrics), whose state survives a
        # mid-epoch resume; Lightning's own epoch aggregation would restart from the resumed batch.
        self.log("train_loss_step", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=n)
        for name, value in extra.items():
            self.log(f"train_{name}_step", value, on_step=True, on_epoch=False, batch_size=n)
        self.log("train_lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=True, on_epoch=False)
        self._log_step_axis(on_step=True, on_epoch=False)
        probs = logits.detach().float().softmax(dim=1)
        binary = self._fake_mask(y.device)[y].long()
        return {"loss": loss, "scores": self.fake_scores(probs), "labels": binary, "loss_terms": extra}

    def evaluation_step(self, batch: Batch, stage: str) -> dict[str, torch.Tensor]:
        logits = self(batch.image)
        probs = logits.softmax(dim=1)
        crop_scores = self.fake_scores(probs).clamp(0.0, 1.0)
        labels = batch.label.to(crop_scores.device)
        crop_losses = F.binary_cross_entropy(crop_scores, labels.float(), reduction="none")
        index = batch.crop_to_image_index.to(crop_scores.device)
        fused_scores, first = fuse_crop_scores(crop_scores, index)
        fused_losses, _ = fuse_crop_scores(crop_losses, index)
        fused_probs, _ = _fuse_rows(probs, index)
        if len(logits):
            self.log(f"{'val' if stage == 'validate' else stage}_loss", crop_losses.mean(), batch_size=len(logits))
        return {
            "fused_scores": fused_scores,
            "fused_labels": labels[first],
            "fused_generator_ids": batch.generator_id.to(index.device)[first],
            "fused_identifiers": batch.identifier.to(index.device)[first],
            "fused_losses": fused_losses,
            "fused_class_probs": fused_probs,
            "crop_scores": crop_scores,
            "crop_labels": labels,
            "crop_generator_ids": batch.generator_id,
            "crop_identifiers": batch.identifier,
            "crop_losses": crop_losses,
            "crop_to_image_index": index,
        }

    # ------------------------------------------------------------------ optimisation
    def scaled_learning_rates(self) -> tuple[float, float, float]:
        """(base lr of the current task, warmup lr, min lr): LoRAX scales only the base rate by batch / 512."""
        hp = self.hparams
        trainer = self.trainer
        batch = getattr(trainer.datamodule, "train_batch_size", hp.lr_reference_batch)
        effective = trainer.world_size * trainer.accumulate_grad_batches * batch
        task = self._datamodule().step_index
        base = hp.lr if task == 0 or hp.incremental_lr is None else hp.incremental_lr
        return base * effective / hp.lr_reference_batch, hp.warmup_lr, hp.min_lr

    @override
    def configure_optimizers(self) -> torch.optim.Optimizer:
        named = self._trainable_named_parameters()
        if not named:
            raise ValueError(f"{type(self).__name__} has no trainable parameters")
        decay = [p for n, p in named if p.ndim > 1 and not n.endswith(".bias")]
        no_decay = [p for n, p in named if p.ndim <= 1 or n.endswith(".bias")]
        lr, warmup_lr, min_lr = self.scaled_learning_rates()
        groups = [
            {"params": decay, "weight_decay": self.hparams.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, eps=1e-8)
        self._lr_schedule = None
        if self.hparams.scheduler == "cosine":
            epochs = max(int(self.trainer.max_epochs or 1), 1)
            self._lr_schedule = cosine_warmup_schedule(
                optimizer, epochs=epochs, warmup_lr=warmup_lr, warmup_epochs=self.hparams.warmup_epochs, min_lr=min_lr
            )
        return optimizer

    @override
    def on_train_epoch_start(self) -> None:
        if self._lr_schedule is not None:
            set_epoch_learning_rate(self._lr_schedule, self.current_epoch)


class LoRAXModel(ContinualClassifier):
    """LoRAX (spec continual.md section 1): a frozen ConViT, one new LoRA adapter per task, never merged.

    The features of all adapters are concatenated into one linear head (the classes of every task; 2 per
    CDDB task); from the second task a diversity head on the newest adapter's features adds
    ``div_weight * CE`` over (old classes, each new class). Only the newest adapter and the heads train.

    Args:
        convit_size: "tiny", "small" or "base" (the paper's headline model).
        pretrained: load timm's ImageNet-1k ConViT weights (needs the Hugging Face hub or its cache).
        pretrained_path: a local ConViT checkpoint instead (offline machines).
        target_modules: PEFT target modules (regex, ``re.fullmatch``): default GPSA ``attn.qk``/``attn.v``.
        lora_r: LoRA rank.
        lora_alpha: LoRA alpha.
        lora_dropout: LoRA dropout.
        div_weight: weight of the diversity loss.
        **kwargs: :class:`ContinualClassifier` arguments (memory, optimiser, input, runner hand-over).
    """

    def __init__(
        self,
        convit_size: Literal["tiny", "small", "base"] = "base",
        *,
        pretrained: bool = True,
        pretrained_path: str | None = None,
        target_modules: str | list[str] | None = None,
        lora_r: int = 64,
        lora_alpha: int = 16,
        lora_dropout: float = 0.1,
        div_weight: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        from algorithms.continual.lorax import DEFAULT_TARGET_MODULES, LoRAXNetwork

        if self.input_size[0] != self.input_size[1]:
            raise ValueError(f"ConViT needs a square input; got model_input_size {self.input_size}")
        self.network = LoRAXNetwork(
            convit_size,
            pretrained=pretrained,
            pretrained_path=pretrained_path,
            target_modules=target_modules or DEFAULT_TARGET_MODULES,
            r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            img_size=self.input_size[0],
        )
        self._finish_init()

    @override
    def _add_task(self, n_new_classes: int, first: bool) -> None:
        if first:
            self.network.reset_first_head(n_new_classes)
        else:
            self.network.add_task(n_new_classes)

    @override
    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)[0]

    @override
    def _training_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
        from algorithms.continual.lorax import div_targets

        logits, div_logits = self.network(x)
        ce = F.cross_entropy(logits, y)
        if div_logits is None:
            return ce, logits, {"ce_loss": ce.detach()}
        n_old = self.n_classes - len(self.class_layout[-1])
        div = F.cross_entropy(div_logits, div_targets(y, n_old))
        loss = ce + self.hparams.div_weight * div
        return loss, logits, {"ce_loss": ce.detach(), "div_loss": div.detach()}

    @override
    def _herding_features(self, x: torch.Tensor, task: int) -> torch.Tensor:
        # The concatenated features of adapters 0..task: the network as it was when that task ended.
        return self.network.features(x, n_tasks=task + 1)

    @override
    def _trainable_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        self.network.trainable_parameters()  # freezes everything but the newest adapter and the heads
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def lora_parameter_count(self, task: int | None = None) -> int:
        """LoRA parameters of one task's adapter (default: the newest)."""
        return self.network.lora_parameter_count(task)


class FineTuneModel(ContinualClassifier):
    """Full fine-tuning baseline; with ``memory_size > 0``, fine-tuning with the same exemplar replay as LoRAX.

    The whole backbone and a growing linear head (old rows copied, new rows kaiming-uniform with zero bias,
    like the LoRAX head) train on each task with plain cross-entropy.

    Args:
        backbone: ``convit_tiny``/``convit_small``/``convit_base`` (the LoRAX backbones), or any timm name.
        pretrained: load the backbone's pretrained weights.
        pretrained_path: a local ConViT checkpoint instead (ConViT only).
        **kwargs: :class:`ContinualClassifier` arguments; ``memory_size: 0`` is plain fine-tuning.
    """

    def __init__(
        self,
        backbone: str = "convit_base",
        *,
        pretrained: bool = True,
        pretrained_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.backbone = _create_backbone(backbone, pretrained, pretrained_path, self.input_size)
        self.embed_dim = int(self.backbone.num_features)
        self.register_module("head", None)
        self._finish_init()

    @override
    def _add_task(self, n_new_classes: int, first: bool) -> None:
        old = self.head
        new = nn.Linear(self.embed_dim, (0 if old is None else old.out_features) + n_new_classes)
        nn.init.kaiming_uniform_(new.weight, nonlinearity="linear")
        nn.init.zeros_(new.bias)
        if old is not None:
            new = new.to(old.weight.device, old.weight.dtype)
            with torch.no_grad():
                new.weight[: old.out_features] = old.weight
                new.bias[: old.out_features] = old.bias
        self.head = new

    @override
    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    @override
    def _training_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
        logits = self._logits(x)
        loss = F.cross_entropy(logits, y)
        return loss, logits, {}

    @override
    def _herding_features(self, x: torch.Tensor, task: int) -> torch.Tensor:
        return self.backbone(x)

    @override
    def _trainable_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]


def cosine_warmup_schedule(
    optimizer: torch.optim.Optimizer, *, epochs: int, warmup_lr: float, warmup_epochs: int, min_lr: float
) -> Any:
    """The LoRAX schedule: timm cosine over ``epochs`` with a linear warmup from ``warmup_lr`` (spec 1.4).

    The base rate is the optimizer's; ``warmup_lr`` and ``min_lr`` are not scaled, so with LoRAX's values the
    warmup goes *down* from 1e-4 and the cosine of the first task *rises* towards ``min_lr`` (as in the reference).
    """
    from timm.scheduler import CosineLRScheduler

    return CosineLRScheduler(
        optimizer,
        t_initial=epochs,
        lr_min=min_lr,
        warmup_t=warmup_epochs,
        warmup_lr_init=warmup_lr,
        warmup_prefix=False,
        t_in_epochs=True,
    )


def set_epoch_learning_rate(schedule: Any, epoch: int) -> None:
    """Set the learning rate of ``epoch``: ``f(max(epoch - 1, 0))``.

    The reference steps the schedule with the finished epoch's index after each epoch, so epoch ``e`` trains with
    ``f(e - 1)`` (and epoch 0 with ``f(0)``, the warmup start). Computed from the epoch alone, the rate is also
    right after a resume, whatever the scheduler state in the checkpoint.
    """
    schedule.step(epoch=max(epoch - 1, 0))


def _create_backbone(
    name: str, pretrained: bool, pretrained_path: str | None, input_size: tuple[int, int]
) -> nn.Module:
    from algorithms.continual.lorax import CONVIT_SIZES, create_convit_backbone

    if name.startswith("convit_") and name.removeprefix("convit_") in CONVIT_SIZES:
        if input_size[0] != input_size[1]:
            raise ValueError(f"ConViT needs a square input; got model_input_size {input_size}")
        return create_convit_backbone(
            name.removeprefix("convit_"), pretrained=pretrained, pretrained_path=pretrained_path, img_size=input_size[0]
        )
    if pretrained_path is not None:
        raise ValueError(f"pretrained_path is supported for the ConViT backbones only; got backbone {name!r}")
    import timm

    if not timm.is_model(name):
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=5)
        raise ValueError(f"unknown backbone {name!r}; close matches: {', '.join(close) or 'none'}")
    return timm.create_model(name, pretrained=pretrained, num_classes=0)


def _fuse_rows(values: torch.Tensor, crop_to_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the mean of its crops' rows (B, F) -> (images, F), and each image's first crop position."""
    images, inverse = torch.unique(crop_to_image, return_inverse=True)
    sums = torch.zeros(len(images), values.shape[1], dtype=values.dtype, device=values.device)
    sums.index_add_(0, inverse, values)
    counts = torch.zeros(len(images), dtype=values.dtype, device=values.device)
    counts.index_add_(0, inverse, torch.ones(len(values), dtype=values.dtype, device=values.device))
    positions = torch.arange(len(crop_to_image), device=values.device)
    first = torch.full((len(images),), len(crop_to_image), dtype=torch.long, device=values.device)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")
    order = torch.argsort(first)
    return (sums / counts[:, None])[order], first[order]


def _all_gather_objects(obj: Any, trainer: L.Trainer) -> list[Any]:
    if trainer.world_size <= 1 or not torch.distributed.is_initialized():
        return [obj]
    out: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


__all__ = [
    "ContinualClassifier",
    "FineTuneModel",
    "LoRAXModel",
    "cosine_warmup_schedule",
    "set_epoch_learning_rate",
]
