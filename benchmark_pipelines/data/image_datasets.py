"""Torch datasets over a SplitTable: decode from bytes, augment in uint8, return fixed-size crops."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmark_pipelines.augmentations import (
    AIGenBenchV1EvalChain,
    EvaluationCache,
    ImageDecodeError,
    crop_if_large,
    decode_rgb,
    eval_crops,
    make_train_augmentations,
    sample_rng,
    train_sample_seed,
    train_size_adapt,
)
from benchmark_pipelines.batch import Batch
from benchmark_pipelines.sample_table import SplitTable

log = logging.getLogger(__name__)

EVAL_AUGMENTATION_SEED = 4321


@dataclass(frozen=True)
class Sample:
    crops: np.ndarray  # (n_crops, H, W, 3) uint8
    label: int
    generator_id: int
    identifier: int
    position: int  # position of the image in the evaluated dataset (global, for crop_to_image_index)


class _SplitRowsDataset(Dataset):
    def __init__(self, split: SplitTable, rows: np.ndarray, generator_ids: np.ndarray, skip_undecodable: bool) -> None:
        self.split = split
        self.rows = np.asarray(rows, dtype=np.int64)
        self.generator_ids = generator_ids
        self.skip_undecodable = skip_undecodable
        self.skipped: list[int] = []

    def _decode(self, row: int) -> np.ndarray | None:
        sample_id = int(self.split.index[row])
        where = f"split {self.split.name!r}, ID {sample_id} ({self.split.source})"
        try:
            return decode_rgb(self.split.read_bytes(row), where=where)
        except ImageDecodeError:
            if not self.skip_undecodable:
                raise
            log.warning("skipping undecodable image: %s", where)
            self.skipped.append(sample_id)
            return None


class TrainImageDataset(_SplitRowsDataset):
    """Training view: ``augmentation_factor`` copies; copy k of element i is seeded per spec 3.2.

    The deterministic (seeded) part of the model's training augmentations uses
    ``seed = (base_seed + k * 2**27) % 2**31 + i``. The non-deterministic part (rot90, flip, size adaptation)
    draws from a generator seeded by (run seed, epoch, dataset index): it changes every epoch and run seed,
    but a resumed run replays exactly the same images (needed for exact resume).
    """

    def __init__(
        self,
        split: SplitTable,
        rows: np.ndarray,
        generator_ids: np.ndarray,
        *,
        augmentations: str = "baseline",
        cropping_strategy: str = "resize",
        input_size: tuple[int, int] = (224, 224),
        augmentation_factor: int = 1,
        base_seed: int = EVAL_AUGMENTATION_SEED,
        run_seed: int = 0,
        maximum_processing_size: int | None = 1080,
        skip_undecodable: bool = False,
    ) -> None:
        super().__init__(split, rows, generator_ids, skip_undecodable)
        if augmentation_factor < 1:
            raise ValueError(f"augmentation_factor must be >= 1, got {augmentation_factor}")
        self.augmentations = make_train_augmentations(augmentations)
        self.cropping_strategy = cropping_strategy
        self.input_size = tuple(input_size)
        self.augmentation_factor = augmentation_factor
        self.base_seed = base_seed
        self.run_seed = run_seed
        self.epoch = 0
        self.maximum_processing_size = maximum_processing_size

    @classmethod
    def for_data_module(
        cls, data: Any, split: SplitTable, rows: np.ndarray, generator_ids: np.ndarray, model_config: dict
    ) -> TrainImageDataset:
        """The training view of ``rows`` with a data module's settings (``augmentation_factor``, seeds, maximum
        processing size, skip policy) and the model's (augmentation set, cropping strategy, input size)."""
        return cls(
            split,
            rows,
            generator_ids,
            augmentations=model_config["training_augmentations"],
            cropping_strategy=model_config["training_cropping_strategy"],
            input_size=model_config["input_size"],
            augmentation_factor=data.augmentation_factor,
            base_seed=data.augmentations_base_seed,
            run_seed=data.run_seed,
            maximum_processing_size=data.maximum_processing_size,
            skip_undecodable=data.skip_undecodable,
        )

    def __len__(self) -> int:
        return len(self.rows) * self.augmentation_factor

    def __getitem__(self, key: int | tuple[int, int]) -> Sample | None:
        # ``(epoch, index)`` from ResumableShuffleSampler; a bare index uses ``self.epoch``.
        epoch, idx = key if isinstance(key, tuple) else (self.epoch, key)
        k, i = idx % self.augmentation_factor, idx // self.augmentation_factor
        row = int(self.rows[i])
        img = self._decode(row)
        if img is None:
            return None
        rng = np.random.default_rng(train_sample_seed(self.base_seed, k, i))
        img = crop_if_large(img, rng, self.maximum_processing_size)
        img = self.augmentations.deterministic(img, rng)
        free = sample_rng(self.run_seed, epoch, idx)
        img = self.augmentations.nondeterministic(img, free)
        img = train_size_adapt(img, self.cropping_strategy, self.input_size, free)
        return Sample(
            img[None], int(self.split.label[row]), int(self.generator_ids[row]), int(self.split.index[row]), idx
        )


class EvalImageDataset(_SplitRowsDataset):
    """Evaluation view: the mandatory chain seeded by (4321, ID), then the evaluation crop strategy.

    The output of a sample depends only on (dataset, split, ID, chain version, seed, crop strategy, input size),
    so it is cached under that key when a cache is given.
    """

    def __init__(
        self,
        split: SplitTable,
        rows: np.ndarray,
        generator_ids: np.ndarray,
        *,
        cropping_strategy: str = "resize",
        input_size: tuple[int, int] = (224, 224),
        base_seed: int = EVAL_AUGMENTATION_SEED,
        maximum_processing_size: int | None = 1080,
        mandatory_chain: bool = True,
        cache: EvaluationCache | None = None,
        skip_undecodable: bool = False,
    ) -> None:
        super().__init__(split, rows, generator_ids, skip_undecodable)
        self.chain = AIGenBenchV1EvalChain(maximum_processing_size=maximum_processing_size) if mandatory_chain else None
        self.cropping_strategy = cropping_strategy
        self.input_size = tuple(input_size)
        self.base_seed = base_seed
        self.cache = cache

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, idx: int) -> Sample | None:
        row = int(self.rows[idx])
        sample_id = int(self.split.index[row])
        crops = self.cache.get(sample_id) if self.cache is not None else None
        if crops is None:
            img = self._decode(row)
            if img is None:
                return None
            if self.chain is not None:
                img = self.chain(img, sample_rng(self.base_seed, sample_id))
            crops = np.stack(eval_crops(img, self.cropping_strategy, self.input_size))
            if self.cache is not None:
                self.cache.put(sample_id, crops)
        return Sample(crops, int(self.split.label[row]), int(self.generator_ids[row]), sample_id, idx)


def collate_samples(samples: list[Sample | None]) -> Batch:
    """Stack samples into a :class:`Batch`; multicrop samples are flattened, one row per crop.

    ``crop_to_image_index`` holds, for every crop, the position of its image in the evaluated dataset
    (global, unlike the reference's batch-local index), so crops map back to their image across batches.
    Skipped (undecodable, policy permitting) samples arrive as ``None`` and are dropped.
    """
    samples = [s for s in samples if s is not None]
    if not samples:
        empty = torch.empty(0, dtype=torch.int64)
        return Batch(torch.empty(0, 3, 1, 1, dtype=torch.uint8), empty, empty, empty, empty)
    counts = [len(s.crops) for s in samples]
    images = (
        np.concatenate([s.crops for s in samples]) if len({c.shape for s in samples for c in s.crops}) == 1 else None
    )
    if images is None:
        raise ValueError(
            "crops of different sizes cannot be batched: use a fixed-size cropping strategy or batch size 1"
        )
    image = torch.from_numpy(images).permute(0, 3, 1, 2)  # NHWC uint8 -> NCHW view, channels-last memory
    rep = lambda vals: torch.tensor(np.repeat(vals, counts), dtype=torch.int64)  # noqa: E731
    return Batch(
        image=image,
        label=rep([s.label for s in samples]),
        generator_id=rep([s.generator_id for s in samples]),
        identifier=rep([s.identifier for s in samples]),
        crop_to_image_index=rep([s.position for s in samples]),
    )


__all__ = ["EVAL_AUGMENTATION_SEED", "EvalImageDataset", "Sample", "TrainImageDataset", "collate_samples"]
