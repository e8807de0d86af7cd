"""The outer loop: one fresh Trainer per step, progress kept on disk (done, step_tracker, checkpoints)."""

from __future__ import annotations

import json
import logging
import pickle
import shlex
import signal
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lightning.pytorch.trainer.states import TrainerStatus
from lightning.pytorch.utilities.exceptions import SIGTERMException

from benchmark_pipelines.atomic import atomic_write_text
from benchmark_pipelines.callbacks.resume import RESUME_CHECKPOINT, ResumeCheckpointing, RunInterrupted, StopRequest
from benchmark_pipelines.cli import (
    BenchmarkCLI,
    CheckpointingConfig,
    ExperimentInfo,
    StepContext,
    slurm_experiment_id,
)
from benchmark_pipelines.protocols import subset_generators

log = logging.getLogger(__name__)

DONE = "done"
STEP_TRACKER = "step_tracker"
SUMMARY_FILE = "summary.json"


# ---------------------------------------------------------------------------- experiment folders
def resolve_experiment_id(info: ExperimentInfo) -> str:
    """``--experiment_info.experiment_id`` if given; else the SLURM job id; else the next free integer."""
    if info.experiment_id is not None:
        return str(info.experiment_id)
    slurm = slurm_experiment_id()
    if slurm is not None:
        return slurm
    root = Path(info.experiments_data_folder)
    taken = [
        int(p.name[len(info.experiment_name_prefix) :])
        for p in root.glob(f"{info.experiment_name_prefix}*")
        if p.name[len(info.experiment_name_prefix) :].isdigit()
    ]
    return str(max(taken, default=-1) + 1)


def step_dir(info: ExperimentInfo, experiment_id: str, index: int) -> Path:
    return (
        Path(info.experiments_data_folder)
        / f"{info.experiment_name_prefix}{experiment_id}"
        / f"{info.window_name_prefix}{index}"
    )


def checkpoints(directory: Path) -> list[Path]:
    """Checkpoints of a step folder, newest first: ``checkpoints/*.ckpt`` and Lightning's SLURM ``hpc_ckpt_*.ckpt``
    (written into the step folder, which is the Trainer's ``default_root_dir``). Temporary files never count."""
    found = [p for p in (directory / "checkpoints").glob("*.ckpt") if not p.name.startswith(".")]
    found += list(directory.glob("hpc_ckpt_*.ckpt"))
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)


def is_loadable(path: Path) -> bool:
    """True when ``path`` is a complete checkpoint (a truncated or corrupt file fails to unpickle)."""
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as err:
        warnings.warn(f"ignoring unreadable checkpoint {path} ({type(err).__name__}: {err})", stacklevel=2)
        return False
    return True


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest complete checkpoint; a corrupt newer one is skipped with a warning naming it."""
    return next((p for p in checkpoints(directory) if is_loadable(p)), None)


def is_done(directory: Path) -> bool:
    return (directory / DONE).is_file()


def mark_done(directory: Path, final_step: int) -> None:
    atomic_write_text(directory / STEP_TRACKER, f"{final_step}\n")
    atomic_write_text(directory / DONE, "")


def read_step_tracker(directory: Path) -> int:
    path = directory / STEP_TRACKER
    return int(path.read_text().strip()) if path.is_file() else 0


# ---------------------------------------------------------------------------- fit
@dataclass
class RunResult:
    experiment_dir: Path
    completed: list[int]
    skipped: list[int]
    interrupted: bool = False
    signal: str | None = None
    requeued: bool = False


def run_fit(args: list[str]) -> RunResult:
    """Train every step not yet done, in order; each with a fresh CLI, Trainer and data module.

    A step resumes from its newest complete checkpoint (mid-step or after training, in which case only the
    evaluation is run again); otherwise it starts from the previous step's final weights. Ctrl-C, SIGTERM and the
    SLURM requeue signal stop the run at the next batch boundary after a checkpoint (see ``callbacks.resume``).
    """
    probe = BenchmarkCLI(args=args, parse_only=True)
    info = ExperimentInfo(**probe.config.experiment_info.as_dict())
    ckpt_cfg = CheckpointingConfig(**probe.config.checkpointing.as_dict())
    experiment_id = resolve_experiment_id(info)
    experiment_name = f"{info.experiment_name_prefix}{experiment_id}"
    exp_dir = Path(info.experiments_data_folder) / experiment_name
    steps = probe.instantiate_data().steps
    seed = probe.config.get("seed_everything")
    run_seed = int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else 0
    print(
        f"Experiment {experiment_name}: {len(steps)} steps. To resume, re-run the same command with "
        f"--experiment_info.experiment_id {shlex.quote(experiment_id)}",
        flush=True,
    )

    result = RunResult(exp_dir, [], [])
    with StopRequest(ckpt_cfg.requeue_signal) as stop:
        try:
            for k, step in enumerate(steps):
                stop.check()  # a signal between steps stops here
                sdir = step_dir(info, experiment_id, k)
                if is_done(sdir):
                    result.skipped.append(k)
                    print(f"{step.name}: done, skipped", flush=True)
                    continue
                _run_step(args, k, step.name, info, experiment_id, experiment_name, run_seed, ckpt_cfg, stop)
                result.completed.append(k)
        except (RunInterrupted, SIGTERMException) as stopped:
            # Lightning raises SIGTERMException itself right after the batch end where we checkpointed.
            signum = stopped.signum if isinstance(stopped, RunInterrupted) else stop.signum or signal.SIGTERM
            result.interrupted, result.signal = True, signal.Signals(signum).name
            if stop.requeue_requested and ckpt_cfg.requeue:
                result.requeued = requeue_slurm_job()
            how = "requeued" if result.requeued else "re-run the same command to resume"
            print(f"Stopped by {result.signal} after saving; {how}", flush=True)
    return result


def _run_step(
    args: list[str],
    k: int,
    name: str,
    info: ExperimentInfo,
    experiment_id: str,
    experiment_name: str,
    run_seed: int,
    ckpt_cfg: CheckpointingConfig,
    stop: StopRequest,
) -> None:
    sdir = step_dir(info, experiment_id, k)
    previous = step_dir(info, experiment_id, k - 1) if k > 0 else None
    base_weights = None
    if previous is not None:
        prev_ckpt = latest_checkpoint(previous)
        if prev_ckpt is None:
            raise FileNotFoundError(f"{previous} is marked done but has no checkpoint to start {name} from")
        base_weights = str(prev_ckpt)
    initial_step = read_step_tracker(previous) if previous is not None else 0
    resume = latest_checkpoint(sdir) if sdir.is_dir() else None
    resume_step = checkpoint_global_step(resume) if resume is not None else None
    resumer = ResumeCheckpointing(
        sdir / "checkpoints",
        every_n_train_steps=ckpt_cfg.every_n_train_steps,
        every_n_minutes=ckpt_cfg.every_n_minutes,
        stop=stop,
    )
    ctx = StepContext(
        k,
        sdir,
        experiment_name,
        base_weights=base_weights,
        logging_initial_step=initial_step,
        extra_callbacks=[resumer],
        resume_log_step=None if resume_step is None else initial_step + resume_step,
    )
    cli = BenchmarkCLI(args=[*args, "--experiment_info.experiment_id", experiment_id], step=ctx)
    # Created only once model and trainer exist: a failed start (e.g. weights offline) leaves no folder.
    sdir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(sdir / "fit_config.yaml", cli.dump_config())
    cli.datamodule.set_step(k, run_seed=run_seed)
    trainer = cli.trainer
    _print_batch_info(cli)
    if resume is not None:
        print(f"{name}: resuming from {resume} (step {resume_step})", flush=True)
    # Callbacks that write a step's evaluation outputs expose ``last_validation_step`` (PredictionsDump does).
    writers = [cb for cb in trainer.callbacks if hasattr(cb, "last_validation_step")]
    trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=str(resume) if resume else None)
    if trainer.state.status != TrainerStatus.FINISHED:
        raise RuntimeError(f"{name}: training stopped with status {trainer.state.status}")
    if any(cb.last_validation_step != trainer.global_step for cb in writers):
        # The final evaluation did not run in this fit: it was interrupted before, or resumed after training ended,
        # or the validation schedule skips the last epoch. Evaluate the trained weights now.
        stop.check()
        trainer.validate(cli.model, datamodule=cli.datamodule)
    mark_done(sdir, initial_step + trainer.global_step)
    _drop_superseded_checkpoints(sdir)


def checkpoint_global_step(path: Path) -> int:
    import torch

    return int(torch.load(path, map_location="cpu", weights_only=False, mmap=True).get("global_step", 0))


def _drop_superseded_checkpoints(directory: Path) -> None:
    """After a step is done keep only its newest checkpoint (the final weights): mid-step ones are obsolete."""
    found = checkpoints(directory)
    for old in found[1:]:
        if old.name == RESUME_CHECKPOINT or old.name.startswith("hpc_ckpt_"):
            old.unlink(missing_ok=True)


def requeue_slurm_job(env: dict[str, str] | None = None) -> bool:
    """``scontrol requeue <job id>`` for the current SLURM batch job; False (with a message) outside SLURM."""
    job = slurm_experiment_id(env)
    if job is None:
        print("requeue signal received outside a SLURM batch job: not requeueing", flush=True)
        return False
    try:
        done = subprocess.run(["scontrol", "requeue", job], check=False)
    except FileNotFoundError:
        print(f"scontrol not found on PATH: job {job} not requeued; resubmit it to resume", flush=True)
        return False
    if done.returncode != 0:
        print(f"scontrol requeue {job} failed (exit {done.returncode}); resubmit the job to resume", flush=True)
        return False
    print(f"Requeued SLURM job {job}", flush=True)
    return True


def _print_batch_info(cli: BenchmarkCLI) -> None:
    t, dm = cli.trainer, cli.datamodule
    effective = t.world_size * t.accumulate_grad_batches * dm.train_batch_size
    print(
        f"{dm.step.name}: {len(dm.step.train_rows)} training images x augmentation_factor {dm.augmentation_factor}; "
        f"effective batch = {t.world_size} devices x {t.accumulate_grad_batches} accumulation x "
        f"{dm.train_batch_size} per device = {effective}",
        flush=True,
    )


# ---------------------------------------------------------------------------- validate / test
def run_evaluate(stage: str, args: list[str]) -> RunResult:
    """Evaluate every finished step (contiguous from 0) from its checkpoint: ``validate`` or ``test``."""
    probe = BenchmarkCLI(args=args, parse_only=True)
    info = ExperimentInfo(**probe.config.experiment_info.as_dict())
    if info.experiment_id is None and slurm_experiment_id() is None:
        raise ValueError(f"{stage}: pass --experiment_info.experiment_id of the experiment to evaluate")
    experiment_id = resolve_experiment_id(info)
    experiment_name = f"{info.experiment_name_prefix}{experiment_id}"
    exp_dir = Path(info.experiments_data_folder) / experiment_name
    steps = probe.instantiate_data().steps
    result = RunResult(exp_dir, [], [])
    for k in range(len(steps)):
        sdir = step_dir(info, experiment_id, k)
        if not is_done(sdir):
            break
        ckpt = latest_checkpoint(sdir)
        if ckpt is None:
            raise FileNotFoundError(f"{sdir} is marked done but has no checkpoint")
        ctx = StepContext(
            k, sdir, experiment_name, base_weights=str(ckpt), logging_initial_step=read_step_tracker(sdir)
        )
        cli = BenchmarkCLI(args=[*args, "--experiment_info.experiment_id", experiment_id], step=ctx)
        atomic_write_text(sdir / f"{stage}_config.yaml", cli.dump_config())
        cli.datamodule.set_step(k)
        getattr(cli.trainer, stage)(cli.model, datamodule=cli.datamodule)
        result.completed.append(k)
    if not result.completed:
        raise FileNotFoundError(f"{exp_dir}: no finished window to evaluate (run fit first)")
    return result


# ---------------------------------------------------------------------------- summary
SUMMARY_SUBSETS = ("immediate_future", "growing", "growing_whole", "past", "all")


def subset_auroc(data: dict[str, np.ndarray], window: int) -> dict[str, float]:
    """AUROC of each metric subset after ``window``, from a predictions ``.npz`` (sklearn, independent of logs)."""
    from sklearn.metrics import roc_auc_score

    names = [str(n) for n in data["generator_id_to_name"]]
    timeline = [[g for g in row if g] for row in data["windows_timeline"].tolist()]
    name_to_id = {n: i for i, n in enumerate(names)}
    gen = data["fused_generator_ids"]
    assigned = np.where(gen == 0, data["pairing"], gen)
    out = {}
    for subset, generators in subset_generators(timeline, window).items():
        mask = np.isin(assigned, [name_to_id[g] for g in generators])
        labels = data["fused_labels"][mask]
        if len(np.unique(labels)) == 2:
            out[subset] = float(roc_auc_score(labels, data["fused_scores"][mask]))
    return out


def summarize_experiment(exp_dir: Path, stage: str = "validate", window_prefix: str = "window_") -> dict:
    """Per window AUROC of every subset, plus the two Next Period averages (spec "Our decisions")."""
    rows = []
    k = 0
    while (path := exp_dir / f"{window_prefix}{k}" / f"predictions_{stage}_all.npz").is_file():
        with np.load(path) as f:
            data = {key: f[key] for key in f.files}
        rows.append({"window": k, **subset_auroc(data, k)})
        k += 1
    nxt = [r["immediate_future"] for r in rows if "immediate_future" in r]
    summary = {
        "stage": stage,
        "windows": rows,
        # Mean over windows 0..W-2, each evaluated on the next window (the leaderboard's reading).
        "next_period_auroc_mean_excluding_last": float(np.mean(nxt[:-1])) if len(nxt) > 1 else None,
        # Mean over all W logged values: the last window falls back to itself, as the reference logs it.
        "next_period_auroc_mean_all_logged": float(np.mean(nxt)) if nxt else None,
    }
    if rows:
        atomic_write_text(
            exp_dir / (SUMMARY_FILE if stage == "validate" else f"summary_{stage}.json"), json.dumps(summary, indent=1)
        )
    return summary


def format_summary(summary: dict) -> str:
    cols = [c for c in SUMMARY_SUBSETS if any(c in r for r in summary["windows"])]
    header = ["window", *("Next Period" if c == "immediate_future" else c for c in cols)]
    lines = [" | ".join(f"{h:>13}" for h in header)]
    for r in summary["windows"]:
        lines.append(" | ".join([f"{r['window']:>13}", *(f"{r[c]:>13.4f}" if c in r else f"{'-':>13}" for c in cols)]))
    a, b = summary["next_period_auroc_mean_excluding_last"], summary["next_period_auroc_mean_all_logged"]
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    lines.append(f"Mean Next Period AUROC, windows 0..W-2 (each on the next window): {fmt(a)}")
    lines.append(f"Mean Next Period AUROC, all W logged values (last window on itself): {fmt(b)}")
    return "\n".join(lines)


__all__ = [
    "RunResult",
    "checkpoints",
    "format_summary",
    "is_done",
    "latest_checkpoint",
    "mark_done",
    "requeue_slurm_job",
    "resolve_experiment_id",
    "run_evaluate",
    "run_fit",
    "subset_auroc",
    "summarize_experiment",
]
