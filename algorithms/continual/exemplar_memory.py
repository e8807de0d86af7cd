"""One global rehearsal memory filled by iCaRL herding (spec continual.md section 1.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch

from algorithms.continual.herding import herding_selection


class Exemplar(NamedTuple):
    """One stored exemplar: what a data module needs to re-read the image.

    Attributes:
        sample_id: the sample ``ID`` within its split (the SampleTable ``index`` column).
        label: its class label (``2k`` real / ``2k + 1`` fake of task ``k`` on CDDB).
        task: the task it was added in, or ``None`` if the caller did not say.
        split: the split the ``sample_id`` belongs to (``"train"`` by default).
    """

    sample_id: int
    label: int
    task: int | None
    split: str


class ExemplarMemory:
    """A class-balanced exemplar buffer of fixed total size, as in iCaRL/DyTox/LoRAX (``fixed_memory=False``).

    After each task every class seen so far keeps ``m = budget // n_classes_seen`` exemplars (500 over 14, 10
    and 24 classes gives 35, 50 and 20 on CDDB easy, hard and long). Each class's exemplars are stored in
    herding order, so shrinking a class keeps the top of its ranking.

    There is exactly one memory per run, never one per rank (the DyTox "distributed memory" erratum): under
    DDP the caller gathers the candidates' features to the rank(s) that call :meth:`update` (rank 0, then
    broadcast the :meth:`state_dict`, or all ranks on identical gathered inputs), so every rank ends up with
    the same buffer.

    Args:
        budget: total number of exemplars ``M`` (``0`` disables rehearsal: the memory stays empty).
    """

    def __init__(self, budget: int = 500) -> None:
        if int(budget) != budget or budget < 0:
            raise ValueError(f"budget must be an integer >= 0; got {budget!r}")
        self._budget = int(budget)
        # Per label: sample ids in herding order (so a prefix is the best subset), task tag, split tag.
        self._ids: dict[int, list[int]] = {}
        self._task: dict[int, int | None] = {}
        self._split: dict[int, str] = {}

    @property
    def budget(self) -> int:
        """Total number of exemplars ``M``."""
        return self._budget

    @property
    def classes(self) -> list[int]:
        """Labels of the classes seen so far, ascending."""
        return sorted(self._ids)

    def per_class(self, n_classes_seen: int) -> int:
        """Exemplars per class once ``n_classes_seen`` classes are in memory: ``budget // n_classes_seen``."""
        if n_classes_seen <= 0:
            raise ValueError(f"n_classes_seen must be >= 1; got {n_classes_seen}")
        return self._budget // n_classes_seen

    def update(
        self,
        class_to_candidates: Mapping[int, tuple[np.ndarray, np.ndarray | torch.Tensor]],
        *,
        task: int | None = None,
        split: str = "train",
        max_iter: int = 1000,
    ) -> None:
        """Add the classes of a new task.

        With ``C`` classes after the update and ``m = budget // C``: every stored class is cut to its first
        ``m`` exemplars (the top of its herding order), then ``m`` exemplars of each new class are chosen by
        :func:`herding_selection` on its candidates' features (fewer if it has fewer than ``m`` candidates).

        Args:
            class_to_candidates: new class label -> (sample ids (N,), features (N, F)) of all its training
                samples. In LoRAX the features are the concatenated features of all adapters.
            task: task tag stored with the new exemplars.
            split: split tag of the sample ids.
            max_iter: herding iteration limit.

        Raises:
            ValueError: if a class is already in memory, the ids and features disagree, the ids repeat, or the
                budget cannot hold one exemplar per class.
        """
        if not class_to_candidates:
            raise ValueError("class_to_candidates is empty: a task must add at least one class")
        labels = sorted(int(label) for label in class_to_candidates)
        already = [label for label in labels if label in self._ids]
        if already:
            raise ValueError(f"classes {already} are already in memory (stored classes: {self.classes})")
        candidates: dict[int, tuple[np.ndarray, np.ndarray | torch.Tensor]] = {}
        for label, (ids, features) in class_to_candidates.items():
            ids_arr = np.asarray(ids).astype(np.int64).reshape(-1)
            if not isinstance(features, torch.Tensor):
                features = np.asarray(features)
            if len(features) != len(ids_arr) or getattr(features, "ndim", 0) != 2:
                raise ValueError(
                    f"class {label}: features must be (N, F) with N = {len(ids_arr)} sample ids; "
                    f"got shape {tuple(features.shape)}"
                )
            if len(np.unique(ids_arr)) != len(ids_arr):
                raise ValueError(f"class {label}: the sample ids repeat")
            candidates[int(label)] = (ids_arr, features)

        n_seen = len(self._ids) + len(labels)
        m = self.per_class(n_seen)
        if self._budget > 0 and m == 0:
            raise ValueError(
                f"a budget of {self._budget} exemplars cannot hold one per class for {n_seen} classes; "
                f"use budget >= {n_seen}, or 0 to disable rehearsal"
            )
        for label in self._ids:
            self._ids[label] = self._ids[label][:m]
        for label in labels:
            ids_arr, features = candidates[label]
            rank = herding_selection(features, m, max_iter=max_iter)
            self._ids[label] = [int(i) for i in ids_arr[rank]]
            self._task[label] = None if task is None else int(task)
            self._split[label] = str(split)

    def items(self) -> list[tuple[int, int]]:
        """``(sample_id, label)`` of every exemplar: classes ascending, each in herding order."""
        return [(sample_id, label) for label in self.classes for sample_id in self._ids[label]]

    def entries(self) -> list[Exemplar]:
        """Every exemplar with its task and split tags, in the order of :meth:`items`."""
        return [
            Exemplar(sample_id, label, self._task[label], self._split[label])
            for label in self.classes
            for sample_id in self._ids[label]
        ]

    def class_sizes(self) -> dict[int, int]:
        """Label -> number of stored exemplars, labels ascending."""
        return {label: len(self._ids[label]) for label in self.classes}

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._ids.values())

    def state_dict(self) -> dict[str, Any]:
        """Plain Python ints, strings and lists, so the memory can live in a Lightning checkpoint."""
        labels = self.classes
        return {
            "budget": self._budget,
            "labels": labels,
            "sample_ids": [list(self._ids[label]) for label in labels],
            "tasks": [self._task[label] for label in labels],
            "splits": [self._split[label] for label in labels],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Raises:
            ValueError: if the state's budget differs from this memory's or its lists disagree in length.
        """
        keys = ("budget", "labels", "sample_ids", "tasks", "splits")
        missing = [key for key in keys if key not in state]
        if missing:
            raise ValueError(f"exemplar memory state lacks keys {missing}; expected {list(keys)}")
        if int(state["budget"]) != self._budget:
            raise ValueError(
                f"the saved memory has budget {state['budget']} but this one has {self._budget}; "
                "configure the same budget to resume"
            )
        n = len(state["labels"])
        if not len(state["sample_ids"]) == len(state["tasks"]) == len(state["splits"]) == n:
            raise ValueError("exemplar memory state: labels, sample_ids, tasks and splits differ in length")
        self._ids, self._task, self._split = {}, {}, {}
        rows = zip(state["labels"], state["sample_ids"], state["tasks"], state["splits"], strict=True)
        for label, ids, task, split in rows:
            self._ids[int(label)] = [int(i) for i in ids]
            self._task[int(label)] = None if task is None else int(task)
            self._split[int(label)] = str(split)


__all__ = ["Exemplar", "ExemplarMemory"]
