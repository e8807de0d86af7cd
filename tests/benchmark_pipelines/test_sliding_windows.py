"""Window formation, train views, real selection and balanced evaluation of the sliding-window protocol."""

from __future__ import annotations

import random

import numpy as np
import pytest

from benchmark_pipelines.generators import BENCHMARK_GENERATORS, make_generator_id_to_name
from benchmark_pipelines.protocols import SlidingWindowsProtocol, make_eval_view, make_windows, subset_generators
from benchmark_pipelines.sample_table import SampleTable, SplitTable


def _split(name: str, gens: list[str], per_gen: int, n_real: int, id_offset: int = 0) -> SplitTable:
    generator = [g for g in gens for _ in range(per_gen)] + [""] * n_real
    label = [1] * (len(gens) * per_gen) + [0] * n_real
    ids = np.arange(len(label), dtype=np.int64) * 3 + id_offset  # IDs differ from row positions on purpose
    return SplitTable(name, ids, np.array(label), np.array(generator, dtype=object), lambda r: b"", "synthetic")


def _table(timeline: dict[str, str], per_gen: int = 5, n_real: int | None = None, val_real: int | None = None):
    gens = list(timeline)
    train = _split("train", gens, per_gen, n_real if n_real is not None else per_gen * len(gens))
    val = _split("validation", gens, 2, val_real if val_real is not None else 2 * len(gens), id_offset=1)
    return SampleTable({"train": train, "validation": val, "test": val}, make_generator_id_to_name(gens), timeline)


def test_aigenbench_v1_windows_match_the_spec():
    windows = make_windows(BENCHMARK_GENERATORS, 4)
    assert len(windows) == 9 and all(len(w) == 4 for w in windows)
    assert windows[0] == ["CycleGAN", "Cascaded Refinement Networks", "ProGAN", "StarGAN"]
    assert windows[8] == ["Stable Diffusion XL 1.0", "DALL-E 3", "FLUX 1 Dev", "FLUX 1 Schnell"]


def test_generator_id_mapping_is_plain_string_sort():
    ids = make_generator_id_to_name(BENCHMARK_GENERATORS)
    assert len(ids) == 37 and ids[0] == ""
    assert ids[3] == "CIPS" and ids[4] == "Cascaded Refinement Networks" and ids[36] == "VQGAN"


def test_same_date_generators_join_the_same_window():
    timeline = {"a": "2020-01-01", "b": "2020-01-02", "c": "2020-01-03", "d": "2020-01-03", "e": "2020-01-04"}
    # window size 3: a, b, c is full, but d has c's date and joins it; e starts the next window.
    assert make_windows(timeline, 3) == [["a", "b", "c", "d"], ["e"]]
    # window size 2: a, b; then c with d (same date); then e.
    assert make_windows(timeline, 2) == [["a", "b"], ["c", "d"], ["e"]]


def test_bad_dates_and_window_sizes_are_rejected():
    with pytest.raises(ValueError, match="not YYYY-MM-DD"):
        make_windows({"a": "01/02/2020"}, 2)
    with pytest.raises(ValueError, match="n_generators_per_window"):
        SlidingWindowsProtocol(n_generators_per_window=0)
    with pytest.raises(ValueError, match="benchmark_type"):
        SlidingWindowsProtocol(benchmark_type="replay")  # type: ignore[arg-type]


TIMELINE = {f"g{i}": f"2020-01-{i + 1:02d}" for i in range(8)}


@pytest.mark.parametrize("benchmark_type", ["cumulative", "continual_learning"])
def test_no_train_view_contains_a_later_generator(benchmark_type):
    table = _table(TIMELINE)
    steps = SlidingWindowsProtocol(n_generators_per_window=3, benchmark_type=benchmark_type).build_steps(table)
    train = table.split("train")
    for k, step in enumerate(steps):
        later = {g for s in steps[k + 1 :] for g in s.generators}
        seen = set(train.generator[step.train_rows]) - {""}
        assert not seen & later
        expected = set(step.generators_so_far) if benchmark_type == "cumulative" else set(step.generators)
        assert seen == expected
        # balanced: as many reals as fakes in each train view
        assert (train.label[step.train_rows] == 0).sum() == (train.label[step.train_rows] == 1).sum()


def test_reals_are_never_reused_across_windows_and_follow_the_seed():
    table = _table(TIMELINE, per_gen=5, n_real=60)
    steps = SlidingWindowsProtocol(n_generators_per_window=3, benchmark_type="continual_learning").build_steps(table)
    train = table.split("train")
    chosen = [set(train.index[s.train_rows][train.label[s.train_rows] == 0]) for s in steps]
    for i in range(len(chosen)):
        for j in range(i + 1, len(chosen)):
            assert not chosen[i] & chosen[j]
    # window 0 uses random.seed(1337) over the sorted pool of real IDs
    pool = sorted(train.index[train.label == 0].tolist())
    assert chosen[0] == set(random.Random(1337).sample(pool, 15))
    cumulative = SlidingWindowsProtocol(n_generators_per_window=3).build_steps(table)
    assert set(cumulative[2].train_rows) == set().union(*(set(s.train_rows) for s in steps))


def test_not_enough_reals_is_a_clear_error():
    table = _table(TIMELINE, per_gen=5, n_real=20)
    with pytest.raises(ValueError, match="need as many unused real images"):
        SlidingWindowsProtocol(n_generators_per_window=3).build_steps(table)


def test_benchmark_type_none_is_one_step_over_everything():
    table = _table(TIMELINE)
    (step,) = SlidingWindowsProtocol(benchmark_type="none").build_steps(table)
    assert len(step.train_rows) == len(table.split("train"))


@pytest.mark.parametrize("val_real", [16, 40, 8])  # equal (the reference crashes), more reals, more fakes
def test_evaluation_view_is_balanced_shuffled_and_paired(val_real):
    table = _table(TIMELINE, val_real=val_real)
    view = make_eval_view(table, "validation")
    val = table.split("validation")
    labels = val.label[view.rows]
    n = min(val_real, 16)
    assert (labels == 0).sum() == (labels == 1).sum() == n
    assert len(set(view.rows.tolist())) == len(view.rows)
    assert not np.array_equal(view.rows, np.sort(view.rows))  # shuffled
    # every real in the view is paired to a generator id of a fake in the view
    real_ids = set(val.index[view.rows][labels == 0].tolist())
    assert set(view.pairing) == real_ids
    fake_gens = table.generator_ids("validation")[view.rows][labels == 1]
    assert sorted(view.pairing.values()) == sorted(fake_gens.tolist())
    if val_real < 16:  # more fakes: stratified, each generator keeps a share
        assert len(set(fake_gens.tolist())) == 8
    # deterministic, and test uses another pairing seed
    again = make_eval_view(table, "validation")
    assert np.array_equal(again.rows, view.rows) and dict(again.pairing) == dict(view.pairing)
    assert dict(make_eval_view(table, "test").pairing) != dict(view.pairing)


def test_metric_subsets():
    windows = [["a", "b"], ["c", "d"], ["e", "f"]]
    s0 = subset_generators(windows, 0)
    assert s0["immediate_future"] == {"c", "d"} and s0["growing"] == {"a", "b"}
    assert s0["growing_whole"] == {"a", "b", "c", "d"} and "past" not in s0
    s2 = subset_generators(windows, 2)
    assert s2["immediate_future"] == {"e", "f"}  # the last window falls back to itself
    assert s2["past"] == {"a", "b", "c", "d"} and s2["all"] == set("abcdef")
