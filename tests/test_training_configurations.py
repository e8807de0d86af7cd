"""Every YAML in training_configurations/ parses with the real CLI; cheap models also instantiate."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from benchmark_pipelines.cli import BenchmarkCLI

ROOT = Path(__file__).resolve().parents[1] / "training_configurations"
PIPELINES = sorted((ROOT / "benchmark_pipelines").glob("*.yaml"))
MODELS = sorted(p for p in ROOT.glob("*/*.yaml") if p.parent.name != "benchmark_pipelines")
CHEAP = ("efficientnet_lite0",)


def test_the_twelve_baselines_are_there():
    names = {p.stem for p in MODELS}
    for fam in ("RN50_clip", "ViTL14_openclip", "dinov2"):
        for mode in ("probe", "tune"):
            for crop in ("crop", "resize"):
                assert f"{fam}_{mode}_{crop}" in names


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.stem)
@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_config_parses(pipeline: Path, model: Path):
    cli = BenchmarkCLI(args=["--config", str(pipeline), "--config", str(model)], parse_only=True)
    cfg = cli.config
    assert cfg.model.class_path == "algorithms.BaseDeepfakeDetectionModel"
    name = cfg.model.init_args.model_name
    assert name.endswith(("_probe", "_tune"))
    if model.stem.endswith("_crop") and model.parent.name != "efficientnet_lite0":
        # the *_crop configs really crop (the reference's silently resized)
        assert cfg.model.init_args.training_cropping_strategy == "random_crop"
        assert cfg.model.init_args.evaluation_cropping_strategy == "multicrop"
    if model.parent.name != "efficientnet_lite0":
        eff = cfg.trainer.accumulate_grad_batches * cfg.data.init_args.train_batch_size
        assert eff in (64, 512)


@pytest.mark.parametrize("model", [m for m in MODELS if m.parent.name in CHEAP], ids=lambda p: p.stem)
def test_cheap_configs_instantiate(model: Path, tmp_path):
    pipeline = ROOT / "benchmark_pipelines" / "demo_sliding_windows.yaml"
    cli = BenchmarkCLI(
        args=["--config", str(pipeline), "--config", str(model), "--model.init_args.pretrained", "false",
              "--trainer.logger.init_args.save_dir", str(tmp_path)],
    )  # fmt: skip
    assert cli.model.data_config()["input_size"] == (128, 128)
    assert list(cli.model.state_dict()) == ["model.head.weight", "model.head.bias"]


def test_malformed_config_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "model:\n  class_path: algorithms.BaseDeepfakeDetectionModel\n  init_args:\n    evaluation_cropping_strategy: fivecrop\n"
    )
    pipeline = ROOT / "benchmark_pipelines" / "demo_sliding_windows.yaml"
    with pytest.raises(argparse.ArgumentError, match=r"(?s)evaluation_cropping_strategy.*Got value: fivecrop"):
        BenchmarkCLI(args=["--config", str(pipeline), "--config", str(bad), "--model.init_args.model_name", "x_probe"])
