"""The frozen step record a protocol yields (DESIGN.md contract 2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np


@dataclass(frozen=True, eq=False)
class EvalView:
    """The evaluation set of a step: rows of the evaluated split plus the real-to-generator pairing.

    Attributes:
        split: evaluated split name ("validation" or "test").
        rows: row positions in that split, in evaluation order (balanced and shuffled).
        pairing: real image ID -> generator id of the fake it is paired with (reals only).
    """

    split: str
    rows: np.ndarray
    pairing: Mapping[int, int]


@dataclass(frozen=True, eq=False)
class Step:
    """One window (AI-GenBench) or task (continual).

    Attributes:
        index: 0-based position in the protocol.
        name: ``window_<N>`` or ``task_<N>``.
        train_rows: row positions in the train split this step trains on.
        generators: generator names introduced by this step (its window).
        generators_so_far: all generator names of steps 0..index.
        subsets: metric subset name -> generator names it evaluates (fakes of those generators plus the
            reals paired with them). ``all`` is every generator.
        timeline: the windows, as lists of generator names, for all steps.
    """

    index: int
    name: str
    train_rows: np.ndarray
    generators: tuple[str, ...]
    generators_so_far: tuple[str, ...]
    subsets: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    timeline: tuple[tuple[str, ...], ...] = ()


__all__ = ["EvalView", "Step"]
