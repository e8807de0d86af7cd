"""Every YAML in training_configurations/ parses with the real CLI; cheap models also instantiate."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from benchmark_pipelines.cli import BenchmarkCLI

ROOT = Path(__file__).resolve().parents[1] / "training_configurations"
CONTINUAL_DATA = ("benchmark_pipelines.CDDBDataModule", "benchmark_pipelines.ContinualAIGenBenchDataModule")


def _data_class(pipeline: Path) -> str:
    return yaml.safe_load(pipeline.read_text())["data"]["class_path"]


ALL_PIPELINES = sorted((ROOT / "benchmark_pipelines").glob("*.yaml"))
# Binary detectors run on the sliding-window data module, continual methods on the class-incremental ones.
PIPELINES = [p for p in ALL_PIPELINES if _data_class(p) not in CONTINUAL_DATA]
CONTINUAL_PIPELINES = [p for p in ALL_PIPELINES if _data_class(p) in CONTINUAL_DATA]
MODELS = sorted(p for p in ROOT.glob("*/*.yaml") if p.parent.name not in ("benchmark_pipelines", "continual"))
CONTINUAL_MODELS = sorted((ROOT / "continual").glob("*.yaml"))
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


def test_continual_configs_are_there():
    assert {p.stem for p in CONTINUAL_PIPELINES} >= {"cddb_easy", "cddb_hard", "cddb_long", "demo_continual_windows"}
    names = {p.stem for p in CONTINUAL_MODELS}
    assert names >= {f"lorax_convit_{s}" for s in ("tiny", "small", "base")}
    assert names >= {"finetune_convit_base", "finetune_replay_convit_base"}


@pytest.mark.parametrize("pipeline", CONTINUAL_PIPELINES, ids=lambda p: p.stem)
@pytest.mark.parametrize("model", CONTINUAL_MODELS, ids=lambda p: p.stem)
def test_continual_config_parses(pipeline: Path, model: Path):
    cli = BenchmarkCLI(args=["--config", str(pipeline), "--config", str(model)], parse_only=True)
    cfg = cli.config
    init = cfg.model.init_args
    assert cfg.model.class_path in ("algorithms.LoRAXModel", "algorithms.FineTuneModel")
    assert cfg.trainer.max_epochs % cfg.trainer.check_val_every_n_epoch == 0  # a task's row is its last evaluation
    if pipeline.stem.startswith("cddb_"):
        assert cfg.experiment_info.window_name_prefix == "task_"
        assert cfg.data.init_args.scenario == pipeline.stem.removeprefix("cddb_")
        assert cfg.data.init_args.train_batch_size == 32 and cfg.trainer.devices == 1
    if model.stem.startswith(("lorax_", "finetune")):  # the paper's settings (spec continual.md 1.4)
        assert (init.memory_size, init.lr, init.incremental_lr, init.lr_reference_batch) == (
            0 if model.stem.startswith("finetune_convit") else 500,
            1e-4,
            5e-4,
            512,
        )
        assert (init.warmup_lr, init.warmup_epochs, init.min_lr, init.weight_decay) == (1e-4, 5, 1e-5, 1e-6)
        assert cfg.trainer.max_epochs == 50
    if model.stem.startswith("lorax_"):
        assert (init.lora_r, init.lora_alpha, init.lora_dropout, init.div_weight) == (64, 16, 0.1, 0.1)


def test_lorax_tiny_config_instantiates_with_the_papers_parameter_count(tmp_path):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cli = BenchmarkCLI(
            args=["--config", str(ROOT / "benchmark_pipelines" / "demo_continual_windows.yaml"),
                  "--config", str(ROOT / "continual" / "lorax_convit_tiny.yaml"),
                  "--model.init_args.pretrained", "false",
                  "--trainer.logger.init_args.save_dir", str(tmp_path)],
        )  # fmt: skip
    finally:
        torch.set_num_threads(before)
    assert cli.model.lora_parameter_count() == 614_400
    assert cli.model.data_config()["input_size"] == (224, 224)
