"""iCaRL herding: hand-computed orders and a comparison with a direct loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithms.continual.herding import herding_selection


def _direct_herding(features: np.ndarray, m: int, max_iter: int = 1000) -> list[int]:
    """A literal transcription of the iCaRL loop, written independently for comparison."""
    normed = [row / (np.sqrt(np.sum(row**2)) + 1e-8) for row in features]
    mu = sum(normed) / len(normed)
    w = mu.copy()
    ranks: dict[int, int] = {}
    iterations = 0
    while len(ranks) < min(m, len(normed)) and iterations < max_iter:
        scores = [float(np.dot(w, f)) for f in normed]
        best = max(range(len(scores)), key=lambda j: (scores[j], -j))  # first index on ties
        iterations += 1
        if best not in ranks:
            ranks[best] = len(ranks)
        w = w + mu - normed[best]
    return sorted(ranks, key=ranks.get)


def test_hand_computed_order() -> None:
    # a = (1, 0), b = (0, 1), c = (1, 1)/sqrt2; mu = 0.569 (1, 1).
    # w = k mu - (k - 1) c stays along +(1, 1) for k <= 5, so c is picked 5 times; at k = 6 w points along
    # -(1, 1) and a (tie with b, first index) wins; then w = 7 mu - 5 c - a has y > 0 > x and b wins.
    features = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(herding_selection(features, 3), [2, 0, 1])
    np.testing.assert_array_equal(herding_selection(features, 1), [2])  # closest to the mean first


def test_duplicates_hit_the_iteration_limit_and_fill_in_index_order() -> None:
    # mu = (2/3, 1/3): pick 0 (ties with its duplicate 1, first index), then w = (1/3, 2/3) picks 2, then w cycles
    # between (1, 0) and (2/3, 1/3) and (1/3, 2/3): row 1 is never picked by argmax.
    features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(herding_selection(features, 2), [0, 2])
    np.testing.assert_array_equal(herding_selection(features, 3, max_iter=50), [0, 2, 1])


def test_matches_direct_loop_and_ignores_scale() -> None:
    rng = np.random.default_rng(0)
    for seed in range(4):
        feats = np.random.default_rng(seed).normal(size=(40, 6)) + 0.5
        m = 12
        ours = herding_selection(feats, m)
        assert ours.tolist() == _direct_herding(feats, m)
        assert len(set(ours.tolist())) == m
        scaled = feats * rng.uniform(0.1, 10.0, size=(40, 1))  # L2 normalisation removes per-row scale
        assert herding_selection(scaled, m).tolist() == ours.tolist()


def test_torch_input_sizes_and_no_mutation() -> None:
    feats = np.random.default_rng(1).normal(size=(10, 4))
    before = feats.copy()
    as_tensor = torch.from_numpy(feats.copy())
    assert herding_selection(as_tensor, 5).tolist() == herding_selection(feats, 5).tolist()
    np.testing.assert_array_equal(feats, before)
    assert len(herding_selection(feats, 25)) == 10  # m > N: every row once
    assert sorted(herding_selection(feats, 25).tolist()) == list(range(10))
    assert herding_selection(feats, 0).shape == (0,)
    assert herding_selection(feats, 3).dtype == np.int64
    with pytest.raises(ValueError, match="2-D"):
        herding_selection(feats[0], 3)
