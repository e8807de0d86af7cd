"""SampleTable: what every dataset loader produces (DESIGN.md contract 1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from benchmark_pipelines.generators import REAL_GENERATOR

ImageReader = Callable[[int], bytes]
"""Given a row position in the split, returns the encoded image bytes (PNG, JPEG, ...)."""


@dataclass(frozen=True)
class SplitTable:
    """One split of a dataset as flat columns.

    Attributes:
        name: split name ("train", "validation", "test").
        index: int64 (N,), the stable sample ``ID`` (AI-GenBench: row position before filtering).
        label: int64 (N,), 0 real / 1 fake.
        generator: object array (N,) of generator names, ``""`` for real images.
        read_bytes: reads the encoded image of a row position (0..N-1), not of an ``ID``.
        source: a short description of where the rows come from (for error messages).
    """

    name: str
    index: np.ndarray
    label: np.ndarray
    generator: np.ndarray
    read_bytes: ImageReader = field(repr=False, compare=False)
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.index)
        if len(self.label) != n or len(self.generator) != n:
            raise ValueError(f"split {self.name!r}: columns have different lengths")
        real = self.generator == REAL_GENERATOR
        bad = np.nonzero(real != (self.label == 0))[0]
        if len(bad):
            row = int(bad[0])
            raise ValueError(
                f"split {self.name!r} of {self.source}: row with ID {int(self.index[row])} has label "
                f"{int(self.label[row])} and generator {self.generator[row]!r}; label 0 must go with generator ''"
            )
        if len(np.unique(self.index)) != n:
            raise ValueError(f"split {self.name!r} of {self.source}: the ID column is not unique")

    def __len__(self) -> int:
        return len(self.index)

    def rows_of_ids(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Row positions of the given ``ID`` values (raises on an unknown ID)."""
        order = np.argsort(self.index)
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self.index, ids, sorter=order)
        pos = np.clip(pos, 0, len(order) - 1)
        rows = order[pos]
        if len(ids) and not np.array_equal(self.index[rows], ids):
            missing = ids[self.index[rows] != ids][:5].tolist()
            raise KeyError(f"split {self.name!r}: unknown IDs {missing}")
        return rows


@dataclass(frozen=True)
class SampleTable:
    """All splits of a dataset plus its generator metadata.

    Attributes:
        splits: split name -> SplitTable. ``test`` may be an alias of ``validation``.
        generator_id_to_name: id -> name, id 0 = real (``""``), then sorted names.
        timeline: generator name -> release date ("YYYY-MM-DD").
    """

    splits: dict[str, SplitTable]
    generator_id_to_name: list[str]
    timeline: dict[str, str]

    def split(self, name: str) -> SplitTable:
        try:
            return self.splits[name]
        except KeyError:
            raise KeyError(f"split {name!r} not found; available: {sorted(self.splits)}") from None

    @property
    def generator_name_to_id(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.generator_id_to_name)}

    def generator_ids(self, split: str) -> np.ndarray:
        mapping = self.generator_name_to_id
        return np.array([mapping[g] for g in self.split(split).generator], dtype=np.int64)


__all__ = ["ImageReader", "SampleTable", "SplitTable"]
