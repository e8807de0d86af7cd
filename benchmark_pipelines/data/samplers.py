"""Loaders of the suite: a shuffling sampler whose order is a pure function of (seed, epoch), so a resumed run
replays the same batches; the DataLoader settings every data module uses; the data-module side of a resume."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from benchmark_pipelines.data.image_datasets import collate_samples


class ResumableShuffleSampler(DistributedSampler):
    """Yields ``(epoch, index)`` pairs from a permutation drawn from ``seed`` and the epoch; DDP-aware.

    Every rank draws the same global permutation (padded by repetition to a multiple of ``num_replicas``, like
    ``DistributedSampler``) and takes every ``num_replicas``-th element from ``rank``. Lightning calls
    :meth:`set_epoch` at each epoch start and, this being a ``DistributedSampler``, does not wrap it under DDP.

    After a mid-epoch resume, :meth:`resume_at` makes the first iteration of that epoch skip the samples all ranks
    had consumed, so the loader continues at the exact position of the checkpoint. Yielding the epoch with the index
    lets the dataset seed per-epoch augmentations with no state in (possibly forked) worker processes.
    """

    def __init__(self, n: int, seed: tuple[int, ...] | int, *, num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        # No call to DistributedSampler.__init__: it would query torch.distributed; the fields are set here.
        self.n = n
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed_tuple = tuple(seed) if isinstance(seed, tuple) else (seed,)
        self.epoch = 0
        self.total_size = math.ceil(n / num_replicas) * num_replicas
        self._resume: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, samples_consumed: int) -> None:
        """Make the next iteration the rest of ``epoch``, after its first ``samples_consumed`` samples (all ranks)."""
        self._resume = (epoch, samples_consumed) if samples_consumed > 0 else None

    def permutation(self, epoch: int) -> np.ndarray:
        order = np.random.default_rng((*self.seed_tuple, epoch)).permutation(self.n)
        if self.total_size > self.n:
            order = np.concatenate([order, order[: self.total_size - self.n]])
        return order

    def __len__(self) -> int:
        return self.total_size // self.num_replicas

    def __iter__(self) -> Iterator[tuple[int, int]]:
        skip = 0
        if self._resume is not None:
            # The first iteration after a resume belongs to the resumed epoch (set_epoch may come later).
            self.epoch, consumed = self._resume
            self._resume = None
            skip = consumed if consumed < self.total_size else 0
        epoch = self.epoch
        for index in self.permutation(epoch)[skip + self.rank :: self.num_replicas].tolist():
            yield epoch, index


class ResumableDataLoader(DataLoader):
    """A DataLoader over a :class:`ResumableShuffleSampler` that Lightning recognises as resumable.

    The position inside an epoch is rebuilt from the Trainer's restored loop counters (``ResumeCheckpointing``
    calls the data module's ``resume_training_at``); the state saved here identifies the order, so resuming with a
    different order (seed, number of devices) is reported.
    """

    def state_dict(self) -> dict:
        sampler = self.sampler
        return {"seed": list(sampler.seed_tuple), "epoch": sampler.epoch, "num_replicas": sampler.num_replicas}

    def load_state_dict(self, state: dict) -> None:
        sampler = self.sampler
        saved = (tuple(state.get("seed", ())), state.get("num_replicas"))
        if saved != (sampler.seed_tuple, sampler.num_replicas):
            warnings.warn(
                f"resuming with a different training order (seed, devices) {saved} -> "
                f"{(sampler.seed_tuple, sampler.num_replicas)}: the rest of this epoch will not match the interrupted run",
                stacklevel=2,
            )


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    num_workers: int,
    sampler: ResumableShuffleSampler | None = None,
    seed: int = 0,
) -> DataLoader:
    """The suite's DataLoader settings: collate into :class:`Batch`; with a resumable shuffling sampler (training,
    ``drop_last`` when larger than a batch) or in order (evaluation, herding). Worker seeds come from ``seed``,
    never from the global RNG (which a resume restores)."""
    return (ResumableDataLoader if sampler is not None else DataLoader)(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=sampler is not None and len(dataset) > batch_size,
        num_workers=min(num_workers, len(dataset)),
        collate_fn=collate_samples,
        pin_memory=torch.cuda.is_available(),
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )


class ResumableTrainingData:
    """The data-module side of an exact resume, for data modules with ``train_batch_size``, ``num_workers``,
    ``run_seed``, ``step_index`` and ``trainer``.

    ``ResumeCheckpointing`` calls :meth:`resume_training_at` on a mid-epoch resume; the next
    :meth:`resumable_train_loader` then continues that epoch after the batches already trained on.
    """

    _resume_position: tuple[int, int] | None = None

    def resume_training_at(self, epoch: int, batches_done: int) -> None:
        """The next training loader continues ``epoch`` after its first ``batches_done`` batches per device."""
        self._resume_position = (epoch, batches_done)

    def resumable_train_loader(self, dataset: Dataset) -> DataLoader:
        """A training loader over ``dataset`` in the (run seed, step, epoch) order, sharded over the devices."""
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = ResumableShuffleSampler(
            len(dataset), (self.run_seed, self.step_index), num_replicas=replicas, rank=rank
        )
        position, self._resume_position = self._resume_position, None
        if position is not None:
            epoch, batches_done = position
            sampler.resume_at(epoch, batches_done * self.train_batch_size * replicas)
        return make_loader(
            dataset,
            batch_size=self.train_batch_size,
            num_workers=self.num_workers,
            sampler=sampler,
            seed=self.run_seed,
        )


__all__ = ["ResumableDataLoader", "ResumableShuffleSampler", "ResumableTrainingData", "make_loader"]
