"""Continual-learning metrics as pure functions (spec continual.md sections 2.2, 2.3 and 5).

Every summary takes an accuracy matrix ``R`` in the LoRAX orientation: ``R[i, j]`` is the accuracy (in %)
on the test set of task ``i`` after training through task ``j``. Only the upper triangle (``j >= i``) is
meaningful; entries below the diagonal are ignored (LoRAX stores zeros there). continuum, GEM and PyCIL
use the transpose internally, so check the orientation before comparing numbers.

The functions never modify their inputs. Accuracies are in percent, as in LoRAX's ``metrics_1.txt``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score

ACCURACY_KINDS = ("multi_real", "binary", "exact")


def multi_real_correct(pred: np.ndarray | Sequence[int], target: np.ndarray | Sequence[int]) -> np.ndarray:
    """Multi-real correctness of class predictions (LoRAX ``acc_per_task_remapped``).

    With classes ``2k`` = real images of task ``k`` and ``2k + 1`` = fakes of task ``k``, a prediction ``p``
    for target ``y`` is correct iff ``p * (p mod 2) == y * (y mod 2)``: both are real (of any task), or
    ``p == y`` for a fake. Confusion among real classes is not penalised.

    Args:
        pred: predicted class labels, shape (N,).
        target: true class labels, shape (N,).

    Returns:
        Boolean array (N,).
    """
    p, y = _int_pair(pred, target)
    return p * (p % 2) == y * (y % 2)


def binary_correct(pred: np.ndarray | Sequence[int], target: np.ndarray | Sequence[int]) -> np.ndarray:
    """Binary (real/fake) correctness of class predictions (LoRAX ``bacc_per_task``): ``p mod 2 == y mod 2``.

    Args:
        pred: predicted class labels, shape (N,).
        target: true class labels, shape (N,).

    Returns:
        Boolean array (N,).
    """
    p, y = _int_pair(pred, target)
    return p % 2 == y % 2


def per_task_accuracy(
    pred: np.ndarray | Sequence[int],
    target: np.ndarray | Sequence[int],
    task_ids: np.ndarray | Sequence[int],
    n_tasks: int,
    kind: str = "multi_real",
) -> list[float]:
    """Accuracy (in %) on each task's test samples, one value per task ``0..n_tasks-1``.

    ``acc_k = 100 * mean_{n : task_n = k} correct_n`` where ``correct`` is :func:`multi_real_correct`
    (``kind="multi_real"``), :func:`binary_correct` (``"binary"``) or ``p == y`` (``"exact"``). Values are not
    rounded (LoRAX rounds to 2 decimals in its logs).

    Args:
        pred: predicted class labels, shape (N,).
        target: true class labels, shape (N,).
        task_ids: task of each sample, shape (N,).
        n_tasks: number of tasks to report (the tasks seen so far).
        kind: "multi_real", "binary" or "exact".

    Returns:
        List of ``n_tasks`` percentages.

    Raises:
        ValueError: on an unknown ``kind``, mismatched lengths, or a task in ``0..n_tasks-1`` without samples.
    """
    if kind == "multi_real":
        correct = multi_real_correct(pred, target)
    elif kind == "binary":
        correct = binary_correct(pred, target)
    elif kind == "exact":
        p, y = _int_pair(pred, target)
        correct = p == y
    else:
        raise ValueError(f"unknown accuracy kind {kind!r}; expected one of {list(ACCURACY_KINDS)}")
    tasks = np.asarray(task_ids).reshape(-1)
    if len(tasks) != len(correct):
        raise ValueError(f"task_ids has {len(tasks)} entries but there are {len(correct)} predictions")
    accuracies = []
    for k in range(n_tasks):
        mask = tasks == k
        if not mask.any():
            raise ValueError(f"task {k} has no test samples; pass n_tasks = number of tasks evaluated")
        accuracies.append(100.0 * float(correct[mask].mean()))
    return accuracies


def accuracy_matrix_from_rows(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """Build ``R`` from the per-stage rows logged after each task (LoRAX ``acc_per_task_remapped`` lines).

    Row ``t`` holds the accuracies on tasks ``0..t`` after training task ``t`` (length ``t + 1``); it becomes
    column ``t`` of ``R``: ``R[i, t] = rows[t][i]``, zeros below the diagonal.

    Args:
        rows: ``T`` rows, row ``t`` of length ``t + 1``.

    Returns:
        float64 array (T, T).

    Raises:
        ValueError: if a row has the wrong length.
    """
    n = len(rows)
    matrix = np.zeros((n, n), dtype=np.float64)
    for t, row in enumerate(rows):
        if len(row) != t + 1:
            raise ValueError(f"row {t} (after training task {t}) must have {t + 1} values, got {len(row)}")
        matrix[: t + 1, t] = np.asarray(row, dtype=np.float64)
    return matrix


def average_accuracy(matrix: np.ndarray | Sequence[Sequence[float]], stage: int | None = None) -> float:
    """Task-averaged accuracy after a stage: ``A_j = (1 / (j + 1)) * sum_{i <= j} R[i, j]``.

    With the default ``stage=None`` this is ``A_{T-1}``, the final average accuracy AAF (LoRAX
    ``avg_acc_final``, CDDB ``eval_bwt.py`` "avg acc").

    Args:
        matrix: accuracy matrix ``R`` (T, T).
        stage: training stage ``j`` in ``0..T-1``; ``None`` for the last one.

    Returns:
        The average accuracy in %.
    """
    r = _square(matrix)
    n = r.shape[0]
    j = n - 1 if stage is None else stage
    if not 0 <= j < n:
        raise ValueError(f"stage {stage} is outside 0..{n - 1}")
    return float(r[: j + 1, j].mean())


def average_accuracy_curve(matrix: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """All task-averaged accuracies ``[A_0, ..., A_{T-1}]`` with ``A_j = mean_{i <= j} R[i, j]``.

    Args:
        matrix: accuracy matrix ``R`` (T, T).

    Returns:
        float64 array (T,).
    """
    r = _square(matrix)
    return np.array([r[: j + 1, j].mean() for j in range(r.shape[0])], dtype=np.float64)


def pooled_accuracy(correct: Sequence[int] | np.ndarray, totals: Sequence[int] | np.ndarray) -> float:
    """Sample-weighted accuracy over the union of the tasks' test sets.

    ``Acc = 100 * sum_k correct_k / sum_k total_k``. This is the PyCIL/DyTox/InfLoRA "top-1" and our reading
    of the LoRAX table's AA when applied after the final task; it differs from :func:`average_accuracy`
    when the task test sets differ in size.

    Args:
        correct: number of correctly classified test samples per task.
        totals: number of test samples per task.

    Returns:
        The pooled accuracy in %.

    Raises:
        ValueError: on mismatched lengths, an empty total, negative counts or ``correct > total``.
    """
    c = np.asarray(correct, dtype=np.int64).reshape(-1)
    n = np.asarray(totals, dtype=np.int64).reshape(-1)
    if len(c) != len(n):
        raise ValueError(f"correct has {len(c)} entries but totals has {len(n)}")
    if (c < 0).any() or (c > n).any():
        raise ValueError(f"each correct count must be in 0..total; got correct={c.tolist()}, totals={n.tolist()}")
    if n.sum() == 0:
        raise ValueError("totals sum to 0: there are no test samples")
    return 100.0 * float(c.sum()) / float(n.sum())


def backward_transfer(matrix: np.ndarray | Sequence[Sequence[float]]) -> float:
    """Backward transfer (GEM; LoRAX ``calc_bwt``; CDDB ``eval_bwt.py``).

    ``BWT = (1 / (T - 1)) * sum_{i=0}^{T-2} (R[i, T-1] - R[i, i])``; negative when the model forgets.
    Defined as ``0.0`` for a single task.

    Args:
        matrix: accuracy matrix ``R`` (T, T).

    Returns:
        BWT in percentage points.
    """
    r = _square(matrix)
    n = r.shape[0]
    if n < 2:
        return 0.0
    idx = np.arange(n - 1)
    return float((r[idx, n - 1] - r[idx, idx]).mean())


def forgetting_lorax(matrix: np.ndarray | Sequence[Sequence[float]]) -> float:
    """Forgetting as LoRAX reports it (``plot_metrics.py::calc_forgetting``): ``F = -BWT``.

    Args:
        matrix: accuracy matrix ``R`` (T, T).

    Returns:
        ``-backward_transfer(R)``; ``0.0`` for a single task.
    """
    return 0.0 - backward_transfer(matrix)


def forgetting_pycil(matrix: np.ndarray | Sequence[Sequence[float]]) -> float:
    """Forgetting as PyCIL computes it (``trainer.py``).

    ``F = (1 / (T - 1)) * sum_{i=0}^{T-2} (max_{j >= i} R[i, j] - R[i, T-1])``, the max running over every
    stage where task ``i`` was seen, the last one included (so each term is >= 0). Chaudhry et al. stop the
    max at ``T - 2`` instead. Defined as ``0.0`` for a single task.

    Args:
        matrix: accuracy matrix ``R`` (T, T).

    Returns:
        Forgetting in percentage points.
    """
    r = _square(matrix)
    n = r.shape[0]
    if n < 2:
        return 0.0
    terms = [r[i, i:].max() - r[i, n - 1] for i in range(n - 1)]
    return float(np.mean(terms))


def average_incremental_accuracy(pooled_curve: Sequence[float] | np.ndarray) -> float:
    """Average incremental accuracy (iCaRL; DyTox ``avg_acc``; InfLoRA ``Ā``): ``(1 / T) * sum_j Acc_j``.

    Args:
        pooled_curve: the pooled accuracy ``Acc_j`` after each stage ``j = 0..T-1``.

    Returns:
        The mean of the curve.
    """
    curve = np.asarray(pooled_curve, dtype=np.float64).reshape(-1)
    if len(curve) == 0:
        raise ValueError("pooled_curve is empty")
    return float(curve.mean())


def fake_score_from_probs(probs: np.ndarray) -> np.ndarray:
    """Fake score of CDDB ``LUCIR/mAP_eval.py`` from class probabilities over ``2T`` classes.

    ``s = max_k p_{2k+1} / (max_k p_{2k} + max_k p_{2k+1})``: the best fake class against the best real one.

    Args:
        probs: softmax probabilities (N, 2T), even columns real classes, odd columns fakes.

    Returns:
        float64 array (N,) in [0, 1].
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] % 2 or p.shape[1] == 0:
        raise ValueError(f"probs must have shape (N, 2T) with an even, non-zero number of columns; got {p.shape}")
    real = p[:, 0::2].max(axis=1)
    fake = p[:, 1::2].max(axis=1)
    return fake / (real + fake)


def mean_average_precision(
    scores: np.ndarray | Sequence[float],
    targets: np.ndarray | Sequence[int],
    task_ids: np.ndarray | Sequence[int],
    n_tasks: int,
) -> float:
    """CDDB mAP: per-task average precision of the fake score, averaged over tasks.

    ``mAP = 100 * (1 / T) * sum_k AP({(s_n, y_n mod 2) : task_n = k})`` with sklearn
    ``average_precision_score`` (fakes are the positive class), in percent like the other metrics here.

    Args:
        scores: fake scores (N,), e.g. from :func:`fake_score_from_probs`.
        targets: class labels (N,) (``2k`` real, ``2k + 1`` fake) or binary labels.
        task_ids: task of each sample (N,).
        n_tasks: number of tasks to average over (``0..n_tasks-1``).

    Returns:
        mAP in %.

    Raises:
        ValueError: on mismatched lengths, or a task without samples or without both reals and fakes.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(targets).astype(np.int64).reshape(-1) % 2
    tasks = np.asarray(task_ids).reshape(-1)
    if not len(s) == len(y) == len(tasks):
        raise ValueError(f"scores, targets and task_ids differ in length: {len(s)}, {len(y)}, {len(tasks)}")
    aps = []
    for k in range(n_tasks):
        mask = tasks == k
        if len(np.unique(y[mask])) != 2:
            raise ValueError(f"task {k} needs both real and fake test samples for average precision")
        aps.append(average_precision_score(y[mask], s[mask]))
    return 100.0 * float(np.mean(aps))


def _int_pair(pred: np.ndarray | Sequence[int], target: np.ndarray | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred).astype(np.int64).reshape(-1)
    y = np.asarray(target).astype(np.int64).reshape(-1)
    if p.shape != y.shape:
        raise ValueError(f"pred has {len(p)} entries but target has {len(y)}")
    return p, y


def _square(matrix: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    r = np.asarray(matrix, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] == 0:
        raise ValueError(f"the accuracy matrix must be square (T, T) with T >= 1; got shape {r.shape}")
    return r


__all__ = [
    "ACCURACY_KINDS",
    "accuracy_matrix_from_rows",
    "average_accuracy",
    "average_accuracy_curve",
    "average_incremental_accuracy",
    "backward_transfer",
    "binary_correct",
    "fake_score_from_probs",
    "forgetting_lorax",
    "forgetting_pycil",
    "mean_average_precision",
    "multi_real_correct",
    "per_task_accuracy",
    "pooled_accuracy",
]
