"""ExemplarMemory: floor(M / classes) per class, herding-order reduction, checkpoint round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from algorithms.continual.exemplar_memory import Exemplar, ExemplarMemory
from algorithms.continual.herding import herding_selection


def _candidates(task: int, n: int = 15, dim: int = 5) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(task)
    out = {}
    for label in (2 * task, 2 * task + 1):
        ids = 1000 * label + np.arange(n)[::-1]  # ids unrelated to row positions
        out[label] = (ids, rng.normal(size=(n, dim)) + label)
    return out


def test_sizes_follow_floor_budget_over_classes_and_keep_herding_prefix() -> None:
    memory = ExemplarMemory(budget=20)
    expected_m = {0: 20 // 2, 1: 20 // 4, 2: 20 // 6}  # 10, 5, 3
    history: dict[int, list[int]] = {}
    for task in range(3):
        cands = _candidates(task)
        memory.update(cands, task=task)
        m = expected_m[task]
        assert memory.per_class(2 * (task + 1)) == m
        assert memory.class_sizes() == {label: m for label in range(2 * (task + 1))}
        assert len(memory) == 2 * (task + 1) * m <= memory.budget
        by_class: dict[int, list[int]] = {}
        for sample_id, label in memory.items():
            by_class.setdefault(label, []).append(sample_id)
        for label, (ids, feats) in cands.items():  # new classes: herding order on their candidates
            assert by_class[label] == ids[herding_selection(feats, m)].tolist()
        for label, old in history.items():  # old classes: the top of their previous order
            assert by_class[label] == old[:m]
        history = by_class


def test_items_order_entries_and_tags() -> None:
    memory = ExemplarMemory(budget=8)
    memory.update(_candidates(1), task=1, split="train")
    memory.update(_candidates(0), task=0)
    labels = [label for _, label in memory.items()]
    assert labels == sorted(labels) == [0, 0, 1, 1, 2, 2, 3, 3]
    entries = memory.entries()
    assert all(isinstance(e, Exemplar) for e in entries)
    assert [(e.sample_id, e.label) for e in entries] == memory.items()
    assert {e.label: e.task for e in entries} == {0: 0, 1: 0, 2: 1, 3: 1}
    assert {e.split for e in entries} == {"train"}


def test_state_dict_round_trip_is_plain_python() -> None:
    memory = ExemplarMemory(budget=12)
    memory.update(_candidates(0), task=0)
    memory.update({k: (ids, torch.from_numpy(f)) for k, (ids, f) in _candidates(1).items()}, task=1)
    state = memory.state_dict()
    assert json.loads(json.dumps(state)) == state  # ints, strings, lists, None only
    restored = ExemplarMemory(budget=12)
    restored.load_state_dict(state)
    assert restored.items() == memory.items()
    assert restored.entries() == memory.entries()
    assert restored.class_sizes() == memory.class_sizes()
    restored.update(_candidates(2), task=2)  # keeps working after a restore
    assert restored.class_sizes() == {label: 2 for label in range(6)}
    with pytest.raises(ValueError, match="budget 12 but this one has 30"):
        ExemplarMemory(budget=30).load_state_dict(state)


def test_errors() -> None:
    memory = ExemplarMemory(budget=3)
    memory.update(_candidates(0))
    with pytest.raises(ValueError, match=r"classes \[0, 1\] are already in memory"):
        memory.update(_candidates(0))
    with pytest.raises(ValueError, match="cannot hold one per class for 4 classes"):
        memory.update(_candidates(1))
    with pytest.raises(ValueError, match="features must be"):
        ExemplarMemory().update({0: (np.arange(3), np.zeros((4, 2)))})
    with pytest.raises(ValueError, match="budget must be an integer >= 0"):
        ExemplarMemory(budget=-1)


def test_budget_zero_disables_rehearsal() -> None:
    memory = ExemplarMemory(budget=0)
    memory.update(_candidates(0))
    assert len(memory) == 0
    assert memory.items() == []


def test_fewer_candidates_than_quota() -> None:
    memory = ExemplarMemory(budget=100)
    memory.update(
        {0: (np.array([7, 8, 9]), np.eye(3)), 1: (np.arange(60), np.random.default_rng(0).normal(size=(60, 3)))}
    )
    assert memory.class_sizes() == {0: 3, 1: 50}
