"""Metric subsets of the AI-GenBench protocol, logged with the reference metric names."""

from __future__ import annotations

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
    BinarySpecificity,
)

from benchmark_pipelines.metrics import BalancedBinaryAccuracy, assigned_generators, subset_mask


def metric_generator_name(name: str) -> str:
    """Generator name as it appears in metric names ('.' and spaces become '_')."""
    return name.replace(".", "_").replace(" ", "_")


def _full_collection(threshold: float) -> MetricCollection:
    return MetricCollection(
        {
            "BinaryAUROC": BinaryAUROC(),
            "BinaryAveragePrecision": BinaryAveragePrecision(),
            "BalancedBinaryAccuracy": BalancedBinaryAccuracy(threshold=threshold),
            "BinaryRecall": BinaryRecall(threshold=threshold),
            "BinaryPrecision": BinaryPrecision(threshold=threshold),
            "BinarySpecificity": BinarySpecificity(threshold=threshold),
            "BinaryF1Score": BinaryF1Score(threshold=threshold),
        }
    )


class EvaluationMetrics(Callback):
    """Per stage, one torchmetrics collection per subset.

    Subsets: ``all`` (every evaluated image), each generator (its fakes plus the reals paired with it; AUROC and
    recall), and the protocol's sliding subsets of the current step (``immediate_future``, ``growing``,
    ``growing_whole``, ``past``), logged as ``{subset}_{stage}_{Metric}_epoch/all``.
    Training: ``fit_BinaryAUROC_epoch/all`` and ``fit_BalancedBinaryAccuracy_epoch/all``.
    """

    def __init__(self, threshold: float = 0.5, per_generator: bool = True) -> None:
        self.threshold = threshold
        self.per_generator = per_generator
        self._subsets: dict[str, frozenset[int] | None] = {}
        self._collections: dict[str, MetricCollection] = {}
        self._pairing: dict[int, int] = {}
        self._train: dict[str, list] = {"scores": [], "labels": [], "losses": [], "sizes": []}

    # ------------------------------------------------------------------ setup per epoch
    def _start(self, trainer: Trainer, pl_module: LightningModule, split: str) -> None:
        dm = trainer.datamodule
        name_to_id = {n: i for i, n in enumerate(dm.generator_id_to_name)}
        self._pairing = dict(dm.eval_view(split).pairing)
        subsets: dict[str, frozenset[int] | None] = {"all": None}
        step = dm.step
        for mechanism, generators in step.subsets.items():
            if mechanism != "all":
                subsets[mechanism] = frozenset(name_to_id[g] for g in generators)
        self._subsets = subsets
        self._collections = {name: _full_collection(self.threshold).to(pl_module.device) for name in subsets}
        if self.per_generator:
            for gid, gname in enumerate(dm.generator_id_to_name):
                if gid == 0:
                    continue
                key = f"gen:{gname}"
                self._subsets[key] = frozenset([gid])
                self._collections[key] = MetricCollection(
                    {"BinaryAUROC": BinaryAUROC(), "BinaryRecall": BinaryRecall(threshold=self.threshold)}
                ).to(pl_module.device)

    def _update(self, outputs: dict[str, torch.Tensor]) -> None:
        scores, labels = outputs["fused_scores"].float(), outputs["fused_labels"]
        if len(scores) == 0:
            return
        assigned = assigned_generators(outputs["fused_generator_ids"], outputs["fused_identifiers"], self._pairing)
        for name, ids in self._subsets.items():
            mask = subset_mask(assigned, ids)
            if mask.any():
                self._collections[name].update(scores[mask], labels[mask])

    def _log(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        for name, collection in self._collections.items():
            if not any(m.update_called for m in collection.values()):
                continue
            values = _safe_compute(collection)
            for metric, value in values.items():
                if name == "all":
                    key = f"{stage}_{metric}_epoch/all"
                elif name.startswith("gen:"):
                    key = f"{stage}_{metric}_epoch/{metric_generator_name(name[4:])}"
                else:
                    key = f"{name}_{stage}_{metric}_epoch/all"
                pl_module.log(key, value, sync_dist=False)
            collection.reset()
        pl_module.log(f"{stage}_window", float(trainer.datamodule.step.index))

    # ------------------------------------------------------------------ hooks
    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._start(trainer, pl_module, "validation")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: ANN001
        if not trainer.sanity_checking:
            self._update(outputs)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._log(trainer, pl_module, "validate")

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start(trainer, pl_module, "test")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: ANN001
        self._update(outputs)

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._log(trainer, pl_module, "test")

    # Training-epoch aggregates are kept here, not in torchmetrics/Lightning state, so that a checkpoint written
    # mid-epoch carries them (state_dict) and a resumed epoch ends with the values of an uninterrupted one.
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._train = {"scores": [], "labels": [], "losses": [], "sizes": []}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if not isinstance(outputs, dict) or "scores" not in outputs:
            return
        train = self._train
        train["scores"].append(outputs["scores"].detach().float().cpu())
        train["labels"].append(outputs["labels"].detach().cpu())
        if "loss" in outputs:
            train["losses"].append(float(outputs["loss"].detach()))
            train["sizes"].append(len(outputs["labels"]))

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        train, self._train = self._train, {"scores": [], "labels": [], "losses": [], "sizes": []}
        if not train["scores"]:
            return
        collection = MetricCollection(
            {"BinaryAUROC": BinaryAUROC(), "BalancedBinaryAccuracy": BalancedBinaryAccuracy(threshold=self.threshold)}
        )
        collection.update(torch.cat(train["scores"]), torch.cat(train["labels"]))
        for metric, value in _safe_compute(collection).items():
            pl_module.log(f"fit_{metric}_epoch/all", value.to(pl_module.device), sync_dist=False)
        if train["losses"]:
            sizes = torch.tensor(train["sizes"], dtype=torch.float64)
            mean = (torch.tensor(train["losses"], dtype=torch.float64) * sizes).sum() / sizes.sum()
            pl_module.log("train_loss_epoch", float(mean), sync_dist=False)
        pl_module.log("fit_window", float(trainer.datamodule.step.index))

    def state_dict(self) -> dict:
        train = self._train
        return {
            "train_scores": torch.cat(train["scores"]) if train["scores"] else torch.zeros(0),
            "train_labels": torch.cat(train["labels"]) if train["labels"] else torch.zeros(0, dtype=torch.long),
            "train_losses": list(train["losses"]),
            "train_sizes": list(train["sizes"]),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        scores, labels = state_dict.get("train_scores"), state_dict.get("train_labels")
        self._train = {
            "scores": [scores] if scores is not None and len(scores) else [],
            "labels": [labels] if labels is not None and len(labels) else [],
            "losses": list(state_dict.get("train_losses", [])),
            "sizes": list(state_dict.get("train_sizes", [])),
        }


def _safe_compute(collection: MetricCollection) -> dict[str, torch.Tensor]:
    import warnings

    with warnings.catch_warnings():
        # AUROC of a subset with one class is undefined; torchmetrics warns and returns 0.
        warnings.simplefilter("ignore", UserWarning)
        return {k: v.float() for k, v in collection.compute().items()}


__all__ = ["EvaluationMetrics", "metric_generator_name"]
