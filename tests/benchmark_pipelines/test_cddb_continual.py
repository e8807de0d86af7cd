"""End to end on a tiny CDDB-format fixture: LoRAX over 3 tasks through the real CLI, its report files, and resume.

The model is a randomly initialised ConViT-Tiny at 32 px with a small LoRA rank; every run is single-threaded
(faster on a shared 2-core machine, and the same float results in- and out-of-process).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from benchmark_pipelines.cddb import load_cddb, write_cddb_fixture
from lightning_main import cli_main

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "training_configurations"
TASKS = [("gaugan", 0), ("cyclegan", 1), ("wild", 0)]
NAMES = [name for name, _ in TASKS]
MEMORY = 6  # 6 // 2 = 3 per class after task 0, 6 // 4 = 1 after task 1


def cddb_args(tmp: Path, root: Path, experiment_id: str, *extra: str) -> list[str]:
    return [
        "--config", str(CONFIGS / "benchmark_pipelines" / "cddb_easy.yaml"),
        "--config", str(CONFIGS / "continual" / "lorax_convit_tiny.yaml"),
        "--dataset_path", str(root),
        "--data.init_args.scenario", json.dumps(TASKS),
        "--experiment_info.experiments_data_folder", str(tmp / "experiments_data"),
        "--experiment_info.experiment_id", experiment_id,
        "--trainer.logger.init_args.save_dir", str(tmp / "experiments_logs"),
        "--trainer.accelerator", "cpu",
        "--trainer.max_epochs", "1",
        "--trainer.check_val_every_n_epoch", "1",
        "--trainer.log_every_n_steps", "1",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--model.init_args.pretrained", "false",
        "--model.init_args.model_input_size", "32",
        "--model.init_args.lora_r", "4",
        "--model.init_args.memory_size", str(MEMORY),
        "--data.init_args.train_batch_size", "4",
        "--data.init_args.eval_batch_size", "16",
        "--data.init_args.num_workers", "0",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cddb_run(tmp_path_factory, single_thread):
    tmp = tmp_path_factory.mktemp("cddb")
    root = write_cddb_fixture(tmp / "CDDB", TASKS, n_per_class=3, size=40)
    result = cli_main(["fit", *cddb_args(tmp, root, "full")])
    return tmp, root, result


def _exp(tmp: Path, experiment_id: str) -> Path:
    return tmp / "experiments_data" / f"experiment_{experiment_id}"


def _checkpoint(task_dir: Path) -> dict:
    from benchmark_pipelines.runner import latest_checkpoint

    path = latest_checkpoint(task_dir)
    assert path is not None, f"no checkpoint in {task_dir}"
    return torch.load(path, map_location="cpu", weights_only=False)


def _metric_lines(text: str) -> dict[str, float]:
    return {m[1]: float(m[2]) for m in re.finditer(r"^(\w+): (-?[0-9.]+)\b", text, flags=re.MULTILINE)}


def _matrix(text: str, name: str) -> np.ndarray:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:")) + 2
    rows = [line.split()[1:] for line in lines[start : start + len(NAMES)]]
    return np.array([[np.nan if cell == "-" else float(cell) for cell in row] for row in rows])


def test_tasks_run_in_order_with_task_folders(cddb_run):
    tmp, _, result = cddb_run
    assert result.completed == [0, 1, 2] and not result.interrupted
    exp = _exp(tmp, "full")
    for k in range(3):
        d = exp / f"task_{k}"
        assert (d / "done").is_file() and (d / "continual_validate.json").is_file()
        assert (d / "continual_predictions_validate.npz").is_file()
        # CDDB's step callbacks replace the AUROC metrics and their .npz dumps
        assert not list(d.glob("predictions_validate*.npz"))
    assert not (exp / "window_0").exists()


def test_report_files_have_the_right_shapes(cddb_run):
    tmp, _, _ = cddb_run
    exp = _exp(tmp, "full")
    lines = (exp / "logs.json").read_text().splitlines()
    assert len(lines) == 3
    for t, line in enumerate(lines):
        entry = json.loads(line)
        assert entry["task"] == t and entry["task_name"] == NAMES[t]
        assert len(entry["acc_per_task_remapped"]) == len(entry["bacc_per_task"]) == t + 1
        assert {"train_loss", "train_lr", "test_loss", "epoch"} <= entry.keys()
        assert entry["train_loss"] > 0 and entry["train_lr"] > 0
    report = json.loads((exp / "metrics.json").read_text())
    acc = np.array(report["acc_matrix"])
    assert acc.shape == (3, 3) and report["task_names"] == NAMES
    assert np.all(acc[np.tril_indices(3, -1)] == 0)  # R[i, j] is defined for j >= i only
    text = (exp / "metrics.txt").read_text()
    printed = _matrix(text, "acc_matrix")
    assert np.array_equal(np.isnan(printed), np.tril(np.ones((3, 3), dtype=bool), -1))  # "-" below the diagonal
    np.testing.assert_allclose(np.nan_to_num(printed), acc, atol=0.005)
    values = _metric_lines(text)
    for key in ("avg_acc_final", "pooled_acc_final", "bwt", "forgetting", "forgetting_pycil", "mAP"):
        assert key in values, key
    assert values["forgetting"] == pytest.approx(-values["bwt"], abs=1e-4)
    import matplotlib.image

    image = matplotlib.image.imread(exp / "metrics_plot.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_tensorboard_has_continual_scalars(cddb_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tmp, _, _ = cddb_run
    tags: dict[str, int] = {}
    for events in (tmp / "experiments_logs").rglob("events.out.tfevents*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            tags[tag] = tags.get(tag, 0) + len(acc.Scalars(tag))
    assert tags.get("continual_validate/avg_acc_final") == 3
    assert tags.get("continual_validate/acc_multi_real/gaugan") == 3
    assert tags.get("continual_validate/acc_multi_real/wild") == 1
    assert "train_loss_step" in tags and "train_lr" in tags


def test_metrics_equal_an_independent_computation_from_the_saved_predictions(cddb_run):
    tmp, root, _ = cddb_run
    exp = _exp(tmp, "full")
    r = np.zeros((3, 3))
    for j in range(3):
        with np.load(exp / f"task_{j}" / "continual_predictions_validate.npz") as f:
            probs, y, tasks, ids = f["class_probs"], f["class_labels"], f["task_ids"], f["identifiers"]
        assert probs.shape == (len(y), 2 * (j + 1))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        # the class labels and tasks are those of the fixture's folders: <task>/val/[<sub>/]{0_real,1_fake}
        paths = load_cddb(root, TASKS).info["test"].paths
        for ident, label, task in zip(ids.tolist(), y.tolist(), tasks.tolist(), strict=True):
            rel = Path(paths[ident]).relative_to(root)
            assert task == NAMES.index(rel.parts[0]) and label == 2 * task + (rel.parent.name == "1_fake")
        assert (
            len(set(ids.tolist())) == len(ids) == sum(len(list(root.glob(f"{n}/val/**/*.png"))) for n in NAMES[: j + 1])
        )
        pred = probs.argmax(axis=1)
        correct = ((pred % 2 == 0) & (y % 2 == 0)) | (pred == y)
        for i in range(j + 1):
            r[i, j] = 100.0 * correct[tasks == i].mean()
    last_correct = correct
    expected = {
        "avg_acc_final": r[:, 2].mean(),
        "pooled_acc_final": 100.0 * last_correct.mean(),
        "bwt": np.mean([r[i, 2] - r[i, i] for i in range(2)]),
        "forgetting_pycil": np.mean([r[i, i:].max() - r[i, 2] for i in range(2)]),
    }
    expected["forgetting"] = -expected["bwt"]
    fake, real = probs[:, 1::2].max(axis=1), probs[:, 0::2].max(axis=1)
    score = fake / (fake + real)
    expected["mAP"] = 100.0 * np.mean([average_precision_score(y[tasks == k] % 2, score[tasks == k]) for k in range(3)])

    text = (exp / "metrics.txt").read_text()
    np.testing.assert_allclose(np.nan_to_num(_matrix(text, "acc_matrix")), r, atol=0.005)
    values = _metric_lines(text)
    report = json.loads((exp / "metrics.json").read_text())
    for key, value in expected.items():
        assert values[key] == pytest.approx(value, abs=5e-5), key
        assert report[key] == pytest.approx(value, abs=1e-9), key


def test_memory_sizes_follow_the_budget_and_replay_merges_it(cddb_run):
    tmp, _, _ = cddb_run
    exp = _exp(tmp, "full")
    assert _checkpoint(exp / "task_0")["continual"]["memory"]["labels"] == []
    m1 = _checkpoint(exp / "task_1")["continual"]["memory"]
    assert m1["labels"] == [0, 1] and [len(ids) for ids in m1["sample_ids"]] == [MEMORY // 2] * 2
    m2 = _checkpoint(exp / "task_2")["continual"]["memory"]
    assert m2["labels"] == [0, 1, 2, 3] and [len(ids) for ids in m2["sample_ids"]] == [MEMORY // 4] * 4
    # reduction keeps the top of each old class's herding order
    assert [ids[:1] for ids in m1["sample_ids"]] == m2["sample_ids"][:2]
    assert _checkpoint(exp / "task_2")["continual"]["class_layout"] == [[True, False]] * 3


def _run_until(args: list[str], marker: Path, signum: int = signal.SIGKILL, timeout: float = 240.0) -> None:
    """Run the CLI in a subprocess and send it ``signum`` as soon as ``marker`` exists; wait for it to end."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "lightning_main.py", "fit", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    start = time.monotonic()
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before {marker} appeared:\n{proc.stderr.read().decode()[-3000:]}")
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{marker} did not appear within {timeout} s")
            time.sleep(0.02)
        proc.send_signal(signum)
        proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_run_killed_after_task_1_resumes_at_task_2_with_the_same_memory(cddb_run):
    tmp, root, _ = cddb_run
    args = cddb_args(tmp, root, "killed")
    exp = _exp(tmp, "killed")
    _run_until(args, exp / "task_1" / "done")
    assert not (exp / "task_2" / "done").exists()

    result = cli_main(["fit", *args])
    assert result.skipped == [0, 1] and result.completed == [2]
    resumed = _checkpoint(exp / "task_2")["continual"]["memory"]
    uninterrupted = _checkpoint(_exp(tmp, "full") / "task_2")["continual"]["memory"]
    assert resumed == uninterrupted
    assert len((exp / "logs.json").read_text().splitlines()) == 3


def test_a_run_stopped_inside_task_2_resumes_there_and_ends_as_the_uninterrupted_run(cddb_run):
    tmp, root, _ = cddb_run
    args = cddb_args(tmp, root, "stopped")
    exp = _exp(tmp, "stopped")
    # Ctrl-C once task 2 has started: the run checkpoints at the next batch boundary and stops.
    _run_until(args, exp / "task_2" / "fit_config.yaml", signum=signal.SIGINT)
    assert (exp / "task_1" / "done").is_file() and not (exp / "task_2" / "done").exists()
    assert list((exp / "task_2" / "checkpoints").glob("*.ckpt"))

    result = cli_main(["fit", *args])
    assert result.skipped == [0, 1] and result.completed == [2]
    full = _exp(tmp, "full")
    resumed, uninterrupted = _checkpoint(exp / "task_2"), _checkpoint(full / "task_2")
    assert resumed["continual"] == uninterrupted["continual"]
    assert resumed["state_dict"].keys() == uninterrupted["state_dict"].keys()
    for name, value in uninterrupted["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], value), name
    with (
        np.load(exp / "task_2" / "continual_predictions_validate.npz") as a,
        np.load(full / "task_2" / "continual_predictions_validate.npz") as b,
    ):
        assert np.array_equal(a["class_probs"], b["class_probs"]) and np.array_equal(a["identifiers"], b["identifiers"])
    assert (exp / "metrics.json").read_text() == (full / "metrics.json").read_text()
    # the training figures of the interrupted epoch are those of the uninterrupted one (they live in the checkpoint)
    assert (exp / "logs.json").read_text() == (full / "logs.json").read_text()


@pytest.mark.filterwarnings("ignore:.*callbacks used to create the checkpoint.*", "ignore:.*dirpath has changed.*")
def test_a_task_restored_from_its_checkpoint_keeps_the_saved_memory(cddb_run, monkeypatch):
    from benchmark_pipelines.cli import BenchmarkCLI, StepContext
    from benchmark_pipelines.runner import latest_checkpoint

    tmp, root, _ = cddb_run
    full = _exp(tmp, "full")
    args = cddb_args(tmp, root, "restore", "--trainer.logger", "false")

    def build(step_dir: Path) -> BenchmarkCLI:
        ctx = StepContext(2, step_dir, "experiment_restore", base_weights=str(latest_checkpoint(full / "task_1")))
        cli = BenchmarkCLI(args=args, step=ctx)
        cli.datamodule.set_step(2)
        return cli

    saved = _checkpoint(full / "task_2")["continual"]["memory"]
    # Started from the previous task's weights, the memory is herded at fit start: the uninterrupted run's one.
    cli = build(tmp / "restore_a" / "task_2")
    cli.trainer.fit_loop.max_epochs = 0
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.model.exemplar_memory.state_dict() == saved
    # Restored from a checkpoint of the task itself (mid-task resume), the saved memory is kept, never re-herded.
    cli = build(tmp / "restore_b" / "task_2")
    monkeypatch.setattr(cli.model, "update_memory", lambda task: pytest.fail("re-herded after a restore"))
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=str(latest_checkpoint(full / "task_2")))
    assert cli.model.exemplar_memory.state_dict() == saved
