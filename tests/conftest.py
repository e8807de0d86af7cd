"""Shared fixtures: a tiny demo dataset in the real AI-GenBench format, and CLI arguments for tiny runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DEMO_PIPELINE = REPO / "training_configurations" / "benchmark_pipelines" / "demo_sliding_windows.yaml"
DEMO_MODEL = REPO / "training_configurations" / "efficientnet_lite0" / "demo_probe_resize.yaml"

TINY_DEMO = {"n_generators": 8, "train_per_generator": 6, "val_per_generator": 4, "min_side": 40, "max_side": 64}


@pytest.fixture(scope="session")
def tiny_demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from benchmark_pipelines.demo_dataset import build_demo_dataset

    d = TINY_DEMO
    return build_demo_dataset(
        tmp_path_factory.mktemp("demo") / "tiny_demo",
        n_generators=d["n_generators"],
        train_per_generator=d["train_per_generator"],
        val_per_generator=d["val_per_generator"],
        image_size=(d["min_side"], d["max_side"]),
    )


def tiny_fit_args(tmp_path: Path, dataset_path: Path, *extra: str) -> list[str]:
    """Arguments of a tiny CPU run of the demo configs writing everything under ``tmp_path``."""
    return [
        "--config", str(DEMO_PIPELINE),
        "--config", str(DEMO_MODEL),
        "--dataset_path", str(dataset_path),
        "--experiment_info.experiments_data_folder", str(tmp_path / "experiments_data"),
        "--trainer.logger.init_args.save_dir", str(tmp_path / "experiments_logs"),
        "--data.init_args.evaluation_cache.directory", str(tmp_path / "eval_cache"),
        "--data.init_args.train_batch_size", "8",
        "--data.init_args.eval_batch_size", "16",
        "--model.init_args.model_input_size", "48",
        "--trainer.max_epochs", "1",
        "--trainer.check_val_every_n_epoch", "1",
        "--trainer.log_every_n_steps", "1",
        *extra,
    ]  # fmt: skip
