"""ResumeCheckpointing triggers (steps, minutes, last batch) and the resumable sampler's arithmetic."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset

from benchmark_pipelines.callbacks import resume as resume_module
from benchmark_pipelines.callbacks.resume import ResumeCheckpointing, parse_signal
from benchmark_pipelines.data.samplers import ResumableDataLoader, ResumableShuffleSampler


class _Pairs(Dataset):
    def __len__(self) -> int:
        return 12

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        epoch, index = key
        return torch.tensor([float(index), float(epoch)])


class _Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self) -> ResumableDataLoader:
        return ResumableDataLoader(_Pairs(), batch_size=3, sampler=ResumableShuffleSampler(12, 0))


def _fit(tmp_path, callback: ResumeCheckpointing, epochs: int = 2) -> list[int]:  # noqa: ANN001
    saved: list[int] = []
    trainer = L.Trainer(
        max_epochs=epochs,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    original = trainer.save_checkpoint

    def spy(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        saved.append(trainer.global_step)
        return original(path, *args, **kwargs)

    trainer.save_checkpoint = spy
    trainer.fit(_Tiny())
    return saved


def test_checkpoints_every_n_steps_and_after_the_last_batch(tmp_path):
    callback = ResumeCheckpointing(tmp_path / "checkpoints", every_n_train_steps=3, every_n_minutes=None)
    assert _fit(tmp_path, callback) == [3, 6, 8]  # 2 epochs x 4 batches: steps 3 and 6, then the last batch
    ckpt = torch.load(tmp_path / "checkpoints" / "periodic.ckpt", weights_only=True)
    assert ckpt["global_step"] == 8
    state = ckpt["callbacks"]["ResumeCheckpointing"]
    assert {"torch", "numpy", "python"} <= state["rng_states"].keys()


def test_checkpoints_when_the_time_interval_has_passed(tmp_path, monkeypatch):
    clock = iter(float(60 * t) for t in range(1000))  # every call to the clock is one minute later
    monkeypatch.setattr(resume_module.time, "monotonic", lambda: next(clock))
    callback = ResumeCheckpointing(tmp_path / "checkpoints", every_n_train_steps=None, every_n_minutes=1.5)
    saved = _fit(tmp_path, callback, epochs=1)
    # The clock advances 1 min per read (one read per batch, one more per save): saves every other batch.
    assert saved == [2, 4]


def test_sampler_resume_continues_the_epoch_on_every_rank():
    full = [list(ResumableShuffleSampler(10, (3, 1), num_replicas=2, rank=r)) for r in (0, 1)]
    order = ResumableShuffleSampler(10, (3, 1)).permutation(0)
    assert [i for _, i in full[0]] == order[0::2].tolist() and [i for _, i in full[1]] == order[1::2].tolist()
    for rank in (0, 1):
        sampler = ResumableShuffleSampler(10, (3, 1), num_replicas=2, rank=rank)
        sampler.resume_at(0, 4)  # 2 batches of 1 per rank were consumed
        assert list(sampler) == full[rank][2:]
        assert [i for _, i in sampler] == [i for _, i in full[rank]]  # one-shot: the next epoch is whole
    sampler = ResumableShuffleSampler(10, 5)
    sampler.set_epoch(2)
    assert all(e == 2 for e, _ in sampler) and sorted(i for _, i in sampler) == list(range(10))
    assert not np.array_equal(sampler.permutation(1), sampler.permutation(2))


def test_signal_names_parse_and_unknown_ones_fail_clearly():
    import signal

    import pytest

    assert parse_signal("SIGUSR1") == parse_signal("usr1") == parse_signal(int(signal.SIGUSR1)) == signal.SIGUSR1
    with pytest.raises(ValueError, match="unknown signal 'SIGFOO'"):
        parse_signal("SIGFOO")
