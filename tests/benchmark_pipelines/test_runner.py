"""Experiment identity and checkpoint choice on resume."""

from __future__ import annotations

import os
import time

import pytest
import torch

from benchmark_pipelines.cli import ExperimentInfo, slurm_experiment_id
from benchmark_pipelines.runner import latest_checkpoint, resolve_experiment_id


def test_experiment_id_explicit_slurm_or_next_free(tmp_path, monkeypatch):
    for var in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NAME"):
        monkeypatch.delenv(var, raising=False)
    info = ExperimentInfo(experiments_data_folder=str(tmp_path))
    assert resolve_experiment_id(info) == "0"
    (tmp_path / "experiment_0").mkdir()
    (tmp_path / "experiment_7").mkdir()
    (tmp_path / "experiment_abc").mkdir()
    assert resolve_experiment_id(info) == "8"
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    assert resolve_experiment_id(info) == "4242"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "100")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert resolve_experiment_id(info) == "100_3"
    assert resolve_experiment_id(ExperimentInfo(experiment_id="mine", experiments_data_folder=str(tmp_path))) == "mine"
    assert slurm_experiment_id({"SLURM_JOB_ID": "5", "SLURM_JOB_NAME": "bash"}) is None  # interactive shell


def test_truncated_newest_checkpoint_falls_back_to_previous_complete_one(tmp_path):
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    good = ckpts / "epoch=0-step=10.ckpt"
    torch.save({"state_dict": {"w": torch.ones(100)}, "global_step": 10}, good)
    newer = ckpts / "epoch=1-step=20.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(100)}, "global_step": 20}, newer)
    later = time.time() + 5
    os.utime(newer, (later, later))
    assert latest_checkpoint(tmp_path) == newer
    data = newer.read_bytes()
    newer.write_bytes(data[: len(data) // 2])  # a half-written file
    with pytest.warns(UserWarning, match=r"ignoring unreadable checkpoint .*epoch=1-step=20\.ckpt"):
        assert latest_checkpoint(tmp_path) == good
    (ckpts / ".epoch=2-step=30.ckpt.tmp").write_bytes(b"partial")  # temporary files are never candidates
    hpc = tmp_path / "hpc_ckpt_1.ckpt"  # Lightning's SLURM requeue checkpoint in the window folder
    torch.save({"state_dict": {}, "global_step": 25}, hpc)
    later += 5
    os.utime(hpc, (later, later))
    assert latest_checkpoint(tmp_path) == hpc


def test_atomic_checkpoint_io_leaves_only_the_final_name(tmp_path):
    from benchmark_pipelines.cli import AtomicCheckpointIO

    target = tmp_path / "checkpoints" / "epoch=0-step=1.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}}, target)
    assert [p.name for p in target.parent.iterdir()] == [target.name]
    assert torch.equal(torch.load(target, weights_only=True)["state_dict"]["w"], torch.ones(3))


def test_wandb_offline_restart_uses_the_same_run_id(tmp_path, tiny_demo_path, monkeypatch):
    """A restarted step logs into the same W&B run (id from experiment and step), offline, with no network."""
    import wandb
    import yaml

    from benchmark_pipelines.cli import BenchmarkCLI, StepContext
    from tests.conftest import tiny_fit_args

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    layer = tmp_path / "wandb.yaml"
    logger = {"class_path": "lightning.pytorch.loggers.WandbLogger", "init_args": {"save_dir": str(tmp_path)}}
    layer.write_text(yaml.safe_dump({"trainer": {"logger": [logger]}}))
    args = tiny_fit_args(tmp_path, tiny_demo_path, "--config", str(layer))
    ids = []
    for _ in range(2):  # the first start and the restart after an interruption
        ctx = StepContext(1, tmp_path / "experiment_7" / "window_1", "experiment_7", resume_log_step=12)
        cli = BenchmarkCLI(args=args, step=ctx)
        run = cli.trainer.logger.experiment
        ids.append(run.id)
        run.log({"x": 1.0})
        wandb.finish()
    assert ids == ["experiment_7-window_1"] * 2
    runs = sorted(p.name for p in (tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(name.endswith("-experiment_7-window_1") for name in runs)


def test_sbatch_example_requeues_on_sigusr1_and_runs_the_training_script():
    import subprocess

    from tests.conftest import REPO

    script = REPO / "slurm" / "train.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    directives = [line.split()[1] for line in script.read_text().splitlines() if line.startswith("#SBATCH")]
    assert "--signal=SIGUSR1@90" in directives and "--requeue" in directives
    assert "srun ./run_training.sh" in script.read_text()
