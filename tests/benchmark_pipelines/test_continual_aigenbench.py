"""AI-GenBench windows as continual tasks: classes per window, and a tiny LoRAX run through the real CLI."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark_pipelines import ContinualAIGenBenchDataModule, SlidingWindowsDefinition
from lightning_main import cli_main

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "training_configurations"
MEMORY = 10  # 5 classes after window 0: 2 exemplars each


def test_window_classes_are_one_real_plus_one_per_generator(tiny_demo_path):
    dm = ContinualAIGenBenchDataModule(
        dataset_path=str(tiny_demo_path),
        sliding_windows_definition=SlidingWindowsDefinition(benchmark_type="continual_learning"),
    )
    steps = dm.steps
    assert dm.class_layout() == [(True, False, False, False, False)] * 2
    train = dm.table.split("train")
    for k, step in enumerate(steps):
        labels = dm.train_class_labels(step.train_rows)
        real = train.generator[step.train_rows] == ""
        assert (labels[real] == 5 * k).all()
        expected = [5 * k + 1 + list(step.generators).index(g) for g in train.generator[step.train_rows][~real]]
        assert labels[~real].tolist() == expected
    # the memory-free view of a window trains on exactly its rows
    assert set(dm.train_class_labels(steps[1].train_rows).tolist()) == set(range(5, 10))


@pytest.fixture(scope="module")
def lorax_demo_run(tmp_path_factory, tiny_demo_path):
    tmp = tmp_path_factory.mktemp("lorax_demo")
    args = [
        "--config", str(CONFIGS / "benchmark_pipelines" / "demo_continual_windows.yaml"),
        "--config", str(CONFIGS / "continual" / "demo_lorax_convit_tiny.yaml"),
        "--dataset_path", str(tiny_demo_path),
        "--experiment_info.experiments_data_folder", str(tmp / "experiments_data"),
        "--experiment_info.experiment_id", "lorax",
        "--trainer.logger.init_args.save_dir", str(tmp / "experiments_logs"),
        "--data.init_args.evaluation_cache.directory", str(tmp / "eval_cache"),
        "--data.init_args.train_batch_size", "8",
        "--data.init_args.eval_batch_size", "16",
        "--model.init_args.model_input_size", "32",
        "--model.init_args.lora_r", "4",
        "--model.init_args.memory_size", str(MEMORY),
        "--trainer.max_epochs", "1",
        "--trainer.check_val_every_n_epoch", "1",
        "--trainer.log_every_n_steps", "1",
    ]  # fmt: skip
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            result = cli_main(["fit", *args])
    finally:
        torch.set_num_threads(before)
    return tmp, result, out.getvalue()


def test_lorax_on_demo_windows_writes_npz_and_auroc_table(lorax_demo_run):
    tmp, result, stdout = lorax_demo_run
    assert result.completed == [0, 1]
    assert "validate AUROC per window" in stdout and "Mean Next Period AUROC, windows 0..W-2" in stdout
    assert "window_1: 48 window images + 10 exemplars" in stdout
    exp = tmp / "experiments_data" / "experiment_lorax"
    for k in (0, 1):
        with np.load(exp / f"window_{k}" / "predictions_validate_all.npz") as f:
            scores, labels = f["fused_scores"], f["fused_labels"]
            assert f["fused_scores"].dtype == np.float32 and f["pairing"].dtype == np.int64
        assert len(scores) == 64 and set(labels.tolist()) == {0, 1}
        assert ((scores >= 0) & (scores <= 1)).all()
    summary = json.loads((exp / "summary.json").read_text())
    assert [w["window"] for w in summary["windows"]] == [0, 1]
    assert all(0 <= w["immediate_future"] <= 1 for w in summary["windows"])
    assert summary["next_period_auroc_mean_excluding_last"] is not None


def test_window_checkpoints_carry_classes_and_memory(lorax_demo_run):
    tmp, _, _ = lorax_demo_run
    from benchmark_pipelines.runner import latest_checkpoint

    ckpt = torch.load(
        latest_checkpoint(tmp / "experiments_data" / "experiment_lorax" / "window_1"),
        map_location="cpu",
        weights_only=False,
    )
    state = ckpt["continual"]
    assert state["class_layout"] == [[True, False, False, False, False]] * 2
    assert state["memory"]["labels"] == [0, 1, 2, 3, 4]
    assert [len(ids) for ids in state["memory"]["sample_ids"]] == [MEMORY // 5] * 5
    assert ckpt["state_dict"]["network.head.weight"].shape == (10, 2 * 192)
