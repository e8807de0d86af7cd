"""The AI-GenBench sliding-window protocol (spec aigenbench.md 2.2 and 2.6), as pure functions."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Literal

import numpy as np

from benchmark_pipelines.generators import REAL_GENERATOR
from benchmark_pipelines.protocols.step import EvalView, Step
from benchmark_pipelines.sample_table import SampleTable, SplitTable

BenchmarkType = Literal["cumulative", "continual_learning", "none"]
BENCHMARK_TYPES = ("cumulative", "continual_learning", "none")
SUBSET_MECHANISMS = ("immediate_future", "growing", "growing_whole", "past")

REALS_SEED = 1337  # + window index
BALANCE_SEED = 1338
SHUFFLE_SEED = 1340
PAIRING_SEED = {"validation": 1341, "test": 1340}


def make_windows(timeline: Mapping[str, str], n_per_window: int) -> list[list[str]]:
    """Group generators into windows of ``n_per_window`` by release date.

    Generators are sorted by date (then name, for a deterministic order among equal dates). After a generator
    is placed, every following generator with the same date joins the same window, so a window can exceed
    ``n_per_window`` (the same-date rule). The last window may be smaller.
    """
    if n_per_window < 1:
        raise ValueError(f"n_generators_per_window must be >= 1, got {n_per_window}")
    dated = []
    for name, date in timeline.items():
        try:
            dated.append((datetime.strptime(date, "%Y-%m-%d"), name))
        except ValueError:
            raise ValueError(f"generator {name!r}: release date {date!r} is not YYYY-MM-DD") from None
    remaining = [name for _, name in sorted(dated)]
    dates = {name: datetime.strptime(timeline[name], "%Y-%m-%d") for name in remaining}
    windows: list[list[str]] = []
    while remaining:
        window: list[str] = []
        while remaining and len(window) < n_per_window:
            g = remaining.pop(0)
            window.append(g)
            while remaining and dates[remaining[0]] == dates[g]:
                window.append(remaining.pop(0))
        windows.append(window)
    return windows


def subset_generators(windows: Sequence[Sequence[str]], k: int) -> dict[str, frozenset[str]]:
    """Generator sets of the metric subsets after training window ``k`` (spec 6, sliding managers).

    ``immediate_future`` is window k+1, falling back to the last window itself at the end (as the reference
    logs it); ``growing`` windows 0..k; ``growing_whole`` windows 0..min(k+1, last); ``past`` windows 0..k-1
    (absent at k = 0); ``all`` every generator.
    """
    last = len(windows) - 1
    flat = lambda ws: frozenset(g for w in ws for g in w)  # noqa: E731
    out = {
        "all": flat(windows),
        "immediate_future": frozenset(windows[min(k + 1, last)]),
        "growing": flat(windows[: k + 1]),
        "growing_whole": flat(windows[: min(k + 1, last) + 1]),
    }
    if k > 0:
        out["past"] = flat(windows[:k])
    return out


def select_window_reals(train: SplitTable, windows: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """Per window, the train rows of its fakes plus as many reals, never reusing a real across windows.

    For window w: ``random.seed(1337 + w)`` then ``random.sample(sorted(pool), n_fakes)`` over the real IDs,
    and the chosen reals leave the pool (spec 2.2).
    """
    real_rows = np.nonzero(train.generator == REAL_GENERATOR)[0]
    id_to_row = {int(train.index[r]): int(r) for r in real_rows}
    pool = set(id_to_row)
    per_window = []
    for w, window in enumerate(windows):
        fake_rows = np.nonzero(np.isin(train.generator, list(window)))[0]
        n = len(fake_rows)
        if n > len(pool):
            raise ValueError(
                f"window {w}: {n} fake training images need as many unused real images, only {len(pool)} left "
                f"(train split has {len(real_rows)} reals in all)"
            )
        chosen = random.Random(REALS_SEED + w).sample(sorted(pool), n)
        pool.difference_update(chosen)
        rows = np.concatenate([fake_rows, np.array([id_to_row[i] for i in chosen], dtype=np.int64)])
        per_window.append(np.sort(rows))
    return per_window


def make_eval_view(table: SampleTable, split: str) -> EvalView:
    """Balanced, shuffled evaluation rows of ``split`` and the real-to-generator pairing (spec 2.6).

    1. Balance: more reals -> ``random.seed(1338); random.sample(reals, n_fake)``; more fakes -> stratified
       (by generator) ``train_test_split(fakes, train_size=n_real, random_state=1338)``; equal -> all rows
       (the reference crashes there).
    2. Shuffle with ``numpy.random.default_rng(1340).permutation`` (what ``Dataset.shuffle(seed=1340)`` does).
    3. Pair: ``random.seed(1341)`` (test: 1340), shuffle the real rows, zip with the fakes in order; each real
       is assigned the generator id of its fake.
    """
    data = table.split(split)
    gen_ids = table.generator_ids(split)
    reals = np.nonzero(gen_ids == 0)[0]
    fakes = np.nonzero(gen_ids != 0)[0]
    if len(reals) == 0 or len(fakes) == 0:
        raise ValueError(f"split {split!r} needs both real and fake images ({len(reals)} real, {len(fakes)} fake)")
    if len(reals) > len(fakes):
        reals = np.array(sorted(random.Random(BALANCE_SEED).sample(reals.tolist(), len(fakes))), dtype=np.int64)
    elif len(fakes) > len(reals):
        from sklearn.model_selection import train_test_split

        fakes, _ = train_test_split(fakes, train_size=len(reals), stratify=gen_ids[fakes], random_state=BALANCE_SEED)
        fakes = np.sort(fakes)
    rows = np.sort(np.concatenate([reals, fakes]))
    rows = rows[np.random.default_rng(SHUFFLE_SEED).permutation(len(rows))]
    ordered_fakes = [r for r in rows if gen_ids[r] != 0]
    ordered_reals = [r for r in rows if gen_ids[r] == 0]
    random.Random(PAIRING_SEED.get(split, PAIRING_SEED["validation"])).shuffle(ordered_reals)
    pairing = {int(data.index[r]): int(gen_ids[f]) for f, r in zip(ordered_fakes, ordered_reals, strict=True)}
    return EvalView(split=split, rows=rows, pairing=MappingProxyType(pairing))


class SlidingWindowsProtocol:
    """Chronological sliding windows of generators (AI-GenBench).

    Args:
        n_generators_per_window: window size N (AI-GenBench: 4).
        benchmark_type: ``cumulative`` (window k trains on windows 0..k, the default), ``continual_learning``
            (window k only) or ``none`` (one step over the whole train split).
    """

    def __init__(self, *, n_generators_per_window: int = 4, benchmark_type: BenchmarkType = "cumulative") -> None:
        if benchmark_type not in BENCHMARK_TYPES:
            raise ValueError(f"benchmark_type must be one of {BENCHMARK_TYPES}, got {benchmark_type!r}")
        if n_generators_per_window < 1:
            raise ValueError(f"n_generators_per_window must be >= 1, got {n_generators_per_window}")
        self.n_generators_per_window = n_generators_per_window
        self.benchmark_type = benchmark_type

    def windows(self, table: SampleTable) -> list[list[str]]:
        if self.benchmark_type == "none":
            return [sorted(table.timeline, key=lambda g: (table.timeline[g], g))]
        return make_windows(table.timeline, self.n_generators_per_window)

    def build_steps(self, table: SampleTable) -> list[Step]:
        windows = self.windows(table)
        train = table.split("train")
        timeline = tuple(tuple(w) for w in windows)
        if self.benchmark_type == "none":
            per_window = [np.arange(len(train), dtype=np.int64)]
        else:
            per_window = select_window_reals(train, windows)
        steps = []
        for k, window in enumerate(windows):
            rows = (
                np.sort(np.concatenate(per_window[: k + 1])) if self.benchmark_type == "cumulative" else per_window[k]
            )
            rows.setflags(write=False)
            steps.append(
                Step(
                    index=k,
                    name=f"window_{k}",
                    train_rows=rows,
                    generators=tuple(window),
                    generators_so_far=tuple(g for w in windows[: k + 1] for g in w),
                    subsets=MappingProxyType(subset_generators(windows, k)),
                    timeline=timeline,
                )
            )
        return steps


__all__ = [
    "BENCHMARK_TYPES",
    "SUBSET_MECHANISMS",
    "BenchmarkType",
    "SlidingWindowsProtocol",
    "make_eval_view",
    "make_windows",
    "select_window_reals",
    "subset_generators",
]
