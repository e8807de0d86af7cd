"""Continual metrics on hand-written matrices (formulas worked out by hand in the comments)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from algorithms.continual import metrics as M

# R[i, j]: accuracy on task i after training task j (LoRAX orientation, zeros below the diagonal).
R_FORGET = np.array(
    [
        [90.0, 80.0, 70.0],
        [0.0, 95.0, 85.0],
        [0.0, 0.0, 99.0],
    ]
)
# A task that improves after it was learnt: PyCIL forgetting and -BWT disagree here.
R_MIXED = np.array(
    [
        [80.0, 90.0, 85.0],
        [0.0, 70.0, 75.0],
        [0.0, 0.0, 60.0],
    ]
)


def _read_only(*arrays: np.ndarray) -> list[np.ndarray]:
    out = []
    for a in arrays:
        b = np.array(a)
        b.setflags(write=False)  # any in-place write inside a metric would raise
        out.append(b)
    return out


def test_average_accuracy_by_hand() -> None:
    # A_0 = 90; A_1 = (80 + 95) / 2 = 87.5; A_2 = (70 + 85 + 99) / 3 = 84.666...
    assert M.average_accuracy(R_FORGET, stage=0) == pytest.approx(90.0)
    assert M.average_accuracy(R_FORGET, stage=1) == pytest.approx(87.5)
    assert M.average_accuracy(R_FORGET) == pytest.approx(254.0 / 3.0)
    np.testing.assert_allclose(M.average_accuracy_curve(R_FORGET), [90.0, 87.5, 254.0 / 3.0])
    with pytest.raises(ValueError, match="stage 3 is outside 0..2"):
        M.average_accuracy(R_FORGET, stage=3)


def test_bwt_and_forgetting_by_hand() -> None:
    # BWT = ((70 - 90) + (85 - 95)) / 2 = -15; LoRAX forgetting = 15
    assert M.backward_transfer(R_FORGET) == pytest.approx(-15.0)
    assert M.forgetting_lorax(R_FORGET) == pytest.approx(15.0)
    # PyCIL: (max(90, 80, 70) - 70 + max(95, 85) - 85) / 2 = (20 + 10) / 2 = 15
    assert M.forgetting_pycil(R_FORGET) == pytest.approx(15.0)

    # BWT = ((85 - 80) + (75 - 70)) / 2 = 5 -> LoRAX forgetting -5
    assert M.backward_transfer(R_MIXED) == pytest.approx(5.0)
    assert M.forgetting_lorax(R_MIXED) == pytest.approx(-5.0)
    # PyCIL: (max(80, 90, 85) - 85 + max(70, 75) - 75) / 2 = (5 + 0) / 2 = 2.5
    assert M.forgetting_pycil(R_MIXED) == pytest.approx(2.5)


def test_single_task_is_zero() -> None:
    r = np.array([[93.0]])
    assert M.backward_transfer(r) == 0.0
    assert M.forgetting_lorax(r) == 0.0
    assert str(M.forgetting_lorax(r)) == "0.0"  # not -0.0
    assert M.forgetting_pycil(r) == 0.0
    assert M.average_accuracy(r) == 93.0


def test_below_diagonal_is_ignored() -> None:
    noisy = R_MIXED.copy()
    noisy[np.tril_indices(3, k=-1)] = [11.0, 22.0, 33.0]
    for fn in (M.average_accuracy, M.backward_transfer, M.forgetting_lorax, M.forgetting_pycil):
        assert fn(noisy) == pytest.approx(fn(R_MIXED))
    np.testing.assert_allclose(M.average_accuracy_curve(noisy), M.average_accuracy_curve(R_MIXED))


def test_matrix_from_rows() -> None:
    rows = [[90.0], [80.0, 95.0], [70.0, 85.0, 99.0]]
    np.testing.assert_array_equal(M.accuracy_matrix_from_rows(rows), R_FORGET)
    with pytest.raises(ValueError, match="row 1 .* must have 2 values, got 3"):
        M.accuracy_matrix_from_rows([[90.0], [1.0, 2.0, 3.0]])


def test_pooled_differs_from_aaf_when_test_sets_differ_in_size() -> None:
    # Final stage: task sizes 10, 100, 100 with 7, 85, 99 correct -> per task 70, 85, 99 %.
    correct, totals = [7, 85, 99], [10, 100, 100]
    r = M.accuracy_matrix_from_rows([[80.0], [75.0, 90.0], [70.0, 85.0, 99.0]])
    aaf = M.average_accuracy(r)
    pooled = M.pooled_accuracy(correct, totals)
    assert aaf == pytest.approx((70 + 85 + 99) / 3)  # 84.67
    assert pooled == pytest.approx(100 * 191 / 210)  # 90.95
    assert pooled != pytest.approx(aaf)
    # Equal sizes: both agree.
    assert M.pooled_accuracy([7, 8], [10, 10]) == pytest.approx(M.average_accuracy(np.array([[70.0, 70.0], [0, 80.0]])))
    with pytest.raises(ValueError, match="correct count must be in 0..total"):
        M.pooled_accuracy([11], [10])
    with pytest.raises(ValueError, match="2 entries but totals has 1"):
        M.pooled_accuracy([1, 2], [10])


def test_average_incremental_accuracy() -> None:
    assert M.average_incremental_accuracy([90.0, 80.0, 70.0]) == pytest.approx(80.0)
    with pytest.raises(ValueError, match="empty"):
        M.average_incremental_accuracy([])


def test_multi_real_and_binary_correct_by_hand() -> None:
    pred = np.array([0, 5, 5, 4, 1, 2])
    target = np.array([4, 5, 3, 3, 0, 2])
    # real/real (other task) ok; same fake ok; other fake wrong; real for fake wrong; fake for real wrong; same real
    np.testing.assert_array_equal(M.multi_real_correct(pred, target), [True, True, False, False, False, True])
    np.testing.assert_array_equal(M.binary_correct(pred, target), [True, True, True, False, False, True])


def test_per_task_accuracy_by_hand() -> None:
    target = np.array([0, 0, 1, 1, 2, 3, 3, 2])
    pred = np.array([2, 1, 1, 3, 0, 3, 2, 2])
    tasks = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    # multi-real: [T, F, T, F | T, T, F, T]
    assert M.per_task_accuracy(pred, target, tasks, 2) == pytest.approx([50.0, 75.0])
    # binary: [T, F, T, T | T, T, F, T]
    assert M.per_task_accuracy(pred, target, tasks, 2, kind="binary") == pytest.approx([75.0, 75.0])
    # exact: [F, F, T, F | F, T, F, T]
    assert M.per_task_accuracy(pred, target, tasks, 2, kind="exact") == pytest.approx([25.0, 50.0])
    with pytest.raises(ValueError, match="unknown accuracy kind 'top5'"):
        M.per_task_accuracy(pred, target, tasks, 2, kind="top5")
    with pytest.raises(ValueError, match="task 2 has no test samples"):
        M.per_task_accuracy(pred, target, tasks, 3)


def test_fake_score_by_hand() -> None:
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]])
    # row 0: max real 0.3, max fake 0.4 -> 0.4 / 0.7; row 1: 0.1 / 0.8
    np.testing.assert_allclose(M.fake_score_from_probs(probs), [0.4 / 0.7, 0.1 / 0.8])
    with pytest.raises(ValueError, match="even"):
        M.fake_score_from_probs(np.ones((2, 3)))


def test_map_matches_sklearn_per_task() -> None:
    rng = np.random.default_rng(0)
    tasks = np.repeat([0, 1, 2], 20)
    targets = 2 * tasks + rng.integers(0, 2, len(tasks))
    targets[::20] = 2 * tasks[::20]  # both classes present in every task
    targets[1::20] = 2 * tasks[1::20] + 1
    scores = rng.uniform(size=len(tasks))
    expected = np.mean([average_precision_score(targets[tasks == k] % 2, scores[tasks == k]) for k in range(3)])
    assert M.mean_average_precision(scores, targets, tasks, 3) == pytest.approx(100 * expected)
    perfect = (targets % 2).astype(float)
    assert M.mean_average_precision(perfect, targets, tasks, 3) == pytest.approx(100.0)


def test_inputs_are_not_mutated() -> None:
    (r,) = _read_only(R_MIXED)
    before = r.copy()
    M.average_accuracy(r)
    M.average_accuracy_curve(r)
    M.backward_transfer(r)
    M.forgetting_lorax(r)
    M.forgetting_pycil(r)
    np.testing.assert_array_equal(r, before)

    pred, target, tasks = _read_only(np.array([0, 3, 2, 1]), np.array([0, 3, 2, 1]), np.array([0, 1, 1, 0]))
    copies = [pred.copy(), target.copy(), tasks.copy()]
    M.multi_real_correct(pred, target)
    M.binary_correct(pred, target)
    for kind in M.ACCURACY_KINDS:
        M.per_task_accuracy(pred, target, tasks, 2, kind=kind)
    for a, b in zip([pred, target, tasks], copies, strict=True):
        np.testing.assert_array_equal(a, b)

    probs, scores = _read_only(np.full((4, 4), 0.25), np.array([0.2, 0.9, 0.4, 0.6]))
    M.fake_score_from_probs(probs)
    M.mean_average_precision(scores, target, tasks, 2)
    correct, totals, curve = _read_only(np.array([1, 2]), np.array([3, 4]), np.array([50.0, 60.0]))
    M.pooled_accuracy(correct, totals)
    M.average_incremental_accuracy(curve)
    np.testing.assert_array_equal(scores, [0.2, 0.9, 0.4, 0.6])
    np.testing.assert_array_equal(correct, [1, 2])
