"""Continual-learning report files from per-task evaluation rows (no Lightning; spec continual.md 2.2-2.4, 5).

After task ``t`` the evaluation of the test sets of tasks ``0..t`` gives one *row* (:func:`task_row`): per task
the multi-real, binary and exact accuracy, the multi-real correct/total counts, the average precision of the
CDDB fake score and the test loss. The rows of tasks ``0..T-1`` give everything else (:func:`build_report`):
the accuracy matrix ``R[i, j]`` (task ``i`` after training task ``j``, LoRAX orientation, zeros below the
diagonal), AAF, pooled accuracy, BWT, the two forgettings and mAP, written as LoRAX-style ``logs.json`` (JSON
lines), ``metrics.txt``, ``metrics.json`` and a plot.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score

from algorithms.continual.metrics import (
    accuracy_matrix_from_rows,
    average_accuracy,
    average_accuracy_curve,
    average_incremental_accuracy,
    backward_transfer,
    fake_score_from_probs,
    forgetting_lorax,
    forgetting_pycil,
    multi_real_correct,
    per_task_accuracy,
    pooled_accuracy,
)

LOG_KEYS = ("task", "epoch", "acc_per_task_remapped", "bacc_per_task", "acc_per_task", "train_lr", "train_loss")


def task_row(
    probs: np.ndarray, class_labels: np.ndarray, task_ids: np.ndarray, n_tasks: int
) -> dict[str, float | list[float] | list[int]]:
    """Evaluation of tasks ``0..n_tasks-1`` from class probabilities (CDDB classes: real ``2k``, fake ``2k + 1``).

    Args:
        probs: softmax probabilities (N, 2 n_tasks).
        class_labels: true class labels (N,).
        task_ids: task of each sample (N,).
        n_tasks: tasks evaluated.

    Returns:
        ``acc_per_task_remapped`` (multi-real), ``bacc_per_task`` (binary), ``acc_per_task`` (exact), in %;
        ``correct_per_task``/``total_per_task`` (multi-real counts, for the pooled accuracy); ``ap_per_task``
        (average precision of the fake score ``max fake / (max real + max fake)``, in %) and its mean ``mAP``;
        ``test_loss`` (mean cross-entropy of the class labels).
    """
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(class_labels, dtype=np.int64)
    tasks = np.asarray(task_ids, dtype=np.int64)
    pred = probs.argmax(axis=1)
    correct = multi_real_correct(pred, y)
    scores = fake_score_from_probs(probs)
    counts, totals, aps = [], [], []
    for k in range(n_tasks):
        mask = tasks == k
        counts.append(int(correct[mask].sum()))
        totals.append(int(mask.sum()))
        binary = y[mask] % 2
        aps.append(100.0 * float(average_precision_score(binary, scores[mask])) if len(set(binary)) == 2 else None)
    known = [ap for ap in aps if ap is not None]
    return {
        "acc_per_task_remapped": per_task_accuracy(pred, y, tasks, n_tasks, "multi_real"),
        "bacc_per_task": per_task_accuracy(pred, y, tasks, n_tasks, "binary"),
        "acc_per_task": per_task_accuracy(pred, y, tasks, n_tasks, "exact"),
        "correct_per_task": counts,
        "total_per_task": totals,
        "ap_per_task": aps,
        "mAP": float(np.mean(known)) if len(known) == n_tasks else None,
        "test_loss": float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None)).mean()) if len(y) else 0.0,
    }


def build_report(rows: Sequence[dict]) -> dict:
    """Summaries over the rows of tasks ``0..T-1`` (row ``t`` evaluates tasks ``0..t`` after training task ``t``).

    Returns:
        ``acc_matrix``/``bacc_matrix`` (T x T, multi-real/binary, zeros below the diagonal); ``avg_acc_final``
        (AAF = mean of the last column); ``pooled_acc_final`` (sample-weighted, final stage); ``bwt``;
        ``forgetting`` (LoRAX, ``-bwt``); ``forgetting_pycil``; ``mAP`` (final stage); ``avg_acc_curve``,
        ``pooled_acc_curve``, ``avg_incremental_acc`` and ``avg_bacc_final``.
    """
    if not rows:
        raise ValueError("no task rows to report on")
    acc = accuracy_matrix_from_rows([r["acc_per_task_remapped"] for r in rows])
    bacc = accuracy_matrix_from_rows([r["bacc_per_task"] for r in rows])
    pooled = [pooled_accuracy(r["correct_per_task"], r["total_per_task"]) for r in rows]
    last = rows[-1]
    return {
        "tasks": len(rows),
        "acc_matrix": acc.tolist(),
        "bacc_matrix": bacc.tolist(),
        "avg_acc_final": average_accuracy(acc),
        "pooled_acc_final": pooled[-1],
        "bwt": backward_transfer(acc),
        "forgetting": forgetting_lorax(acc),
        "forgetting_pycil": forgetting_pycil(acc),
        "mAP": last.get("mAP"),
        "avg_acc_curve": average_accuracy_curve(acc).tolist(),
        "pooled_acc_curve": pooled,
        "avg_incremental_acc": average_incremental_accuracy(pooled),
        "avg_bacc_final": average_accuracy(bacc),
    }


def log_lines(rows: Sequence[dict]) -> str:
    """LoRAX ``logs.json``: one JSON object per task (accuracies rounded to 2 decimals, losses to 5)."""
    lines = []
    for r in rows:
        entry = {key: r.get(key) for key in LOG_KEYS}
        for key in ("acc_per_task_remapped", "bacc_per_task", "acc_per_task"):
            entry[key] = [round(v, 2) for v in r[key]]
        for key, value in r.items():
            if key.endswith("_loss") and value is not None:
                entry[key] = round(float(value), 5)
        entry["task_name"] = r.get("task_name")
        lines.append(json.dumps(entry))
    return "\n".join(lines) + "\n"


def _matrix_text(matrix: Sequence[Sequence[float]], names: Sequence[str]) -> list[str]:
    width = max(10, *(len(n) + 2 for n in names))
    lines = [f"{'':>{width}}" + "".join(f"{n:>{width}}" for n in names)]
    for i, name in enumerate(names):
        cells = [f"{matrix[i][j]:>{width}.2f}" if j >= i else f"{'-':>{width}}" for j in range(len(names))]
        lines.append(f"{name:>{width}}" + "".join(cells))
    return lines


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def metrics_text(report: dict, task_names: Sequence[str], title: str = "") -> str:
    """``metrics.txt``: the matrices, then one ``name: value`` line per summary (4 decimals)."""
    names = list(task_names)[: report["tasks"]]
    head = f"{title}, " if title else ""
    lines = [
        f"{head}after task {report['tasks'] - 1} ({names[-1]}); accuracies in %",
        "acc_matrix: multi-real accuracy R[i, j] of the test set of task i (row) after training task j (column)",
        *_matrix_text(report["acc_matrix"], names),
        "bacc_matrix: binary (real/fake) accuracy, same layout",
        *_matrix_text(report["bacc_matrix"], names),
        f"avg_acc_final: {_fmt(report['avg_acc_final'])}  (AAF: mean over tasks of the last column, LoRAX avg_acc_final)",
        f"pooled_acc_final: {_fmt(report['pooled_acc_final'])}  (multi-real accuracy over all test images pooled)",
        f"bwt: {_fmt(report['bwt'])}  (mean over i < T-1 of R[i, T-1] - R[i, i])",
        f"forgetting: {_fmt(report['forgetting'])}  (LoRAX forgetting = -bwt)",
        f"forgetting_pycil: {_fmt(report['forgetting_pycil'])}  (mean over i < T-1 of max_j R[i, j] - R[i, T-1])",
        f"mAP: {_fmt(report['mAP'])}  (CDDB: mean over tasks of the fake-score average precision, final stage)",
        f"avg_bacc_final: {_fmt(report['avg_bacc_final'])}  (mean over tasks of the last binary column)",
        f"avg_incremental_acc: {_fmt(report['avg_incremental_acc'])}  (mean of the pooled accuracy after each task)",
        "avg_acc_curve: " + ", ".join(f"{v:.4f}" for v in report["avg_acc_curve"]),
        "pooled_acc_curve: " + ", ".join(f"{v:.4f}" for v in report["pooled_acc_curve"]),
    ]
    return "\n".join(lines) + "\n"


def plot_png(report: dict, task_names: Sequence[str], title: str = "") -> bytes:
    """LoRAX-style plot: per task ``i`` the line ``R[i, j] / 100`` over stages ``j >= i``, plus the average."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    acc = np.asarray(report["acc_matrix"], dtype=np.float64) / 100.0
    n = acc.shape[0]
    names = list(task_names)[:n]
    with plt.style.context("bmh"):
        fig, ax = plt.subplots(figsize=(max(6.0, 1.0 + 0.8 * n), 4.5))
        x = np.arange(n)
        for i in range(n):
            ax.plot(x[i:], acc[i, i:], marker="o", label=names[i])
        ax.plot(x, np.asarray(report["avg_acc_curve"]) / 100.0, "k--", marker="s", label="average accuracy")
        ax.set_xticks(x, [f"{j}: {name}" for j, name in enumerate(names)], rotation=30, ha="right")
        ax.set_xlabel("after training task")
        ax.set_ylabel("multi-real accuracy")
        ax.set_ylim(0.0, 1.05)
        ax.set_title(f"Task accuracy {title}\naaf: {report['avg_acc_final']:.2f}  bwt: {report['bwt']:.2f}")
        ax.legend(fontsize="small", loc="lower left")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
    return buf.getvalue()


__all__ = ["LOG_KEYS", "build_report", "log_lines", "metrics_text", "plot_png", "task_row"]
