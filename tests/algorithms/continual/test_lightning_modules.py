"""Continual Lightning modules without a Trainer: growth, base weights, schedule, evaluation outputs."""

from __future__ import annotations

import pytest
import torch

from algorithms.continual.lightning_modules import (
    FineTuneModel,
    LoRAXModel,
    _fuse_rows,
    cosine_warmup_schedule,
    set_epoch_learning_rate,
)
from benchmark_pipelines.batch import Batch

CDDB_TASK = (True, False)


@pytest.fixture(autouse=True)
def single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _lorax(**kwargs) -> LoRAXModel:
    torch.manual_seed(0)
    return LoRAXModel("tiny", pretrained=False, model_input_size=32, lora_r=4, memory_size=4, **kwargs)


def _epoch_rates(base_lr: float, epochs: int = 50) -> list[float]:
    p = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([p], lr=base_lr)
    schedule = cosine_warmup_schedule(optimizer, epochs=epochs, warmup_lr=1e-4, warmup_epochs=5, min_lr=1e-5)
    rates = []
    for epoch in range(epochs):
        set_epoch_learning_rate(schedule, epoch)
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


def test_schedule_reproduces_the_reference_per_epoch_rates():
    # spec continual.md 1.4: batch 32 -> 1e-4 * 32 / 512 (task 0) and 5e-4 * 32 / 512 (later tasks)
    task0 = _epoch_rates(1e-4 * 32 / 512)
    assert task0[:6] == pytest.approx([1e-4, 1e-4, 8.125e-5, 6.25e-5, 4.375e-5, 2.5e-5])
    assert task0[6] == pytest.approx(6.3e-6, rel=0.02) and task0[49] == pytest.approx(1.0e-5, rel=0.01)
    assert task0[6] < task0[30] < task0[49]  # min_lr above the scaled base rate: the cosine rises
    later = _epoch_rates(5e-4 * 32 / 512)
    assert later[:6] == pytest.approx([1e-4, 1e-4, 8.625e-5, 7.25e-5, 5.875e-5, 4.5e-5])
    assert later[6] == pytest.approx(3.07e-5, rel=0.01) and later[49] == pytest.approx(1.0e-5, rel=0.02)


def test_finetune_head_grows_with_old_rows_copied():
    torch.manual_seed(0)
    model = FineTuneModel("convit_tiny", pretrained=False, model_input_size=32, memory_size=0)
    model.grow_to([CDDB_TASK])
    assert model.head.weight.shape == (2, 192)
    with torch.no_grad():
        model.head.bias.fill_(0.5)
    old_w = model.head.weight.detach().clone()
    model.grow_to([CDDB_TASK, CDDB_TASK])
    assert model.head.weight.shape == (4, 192) and model.n_classes == 4
    torch.testing.assert_close(model.head.weight[:2].detach(), old_w)
    assert model.head.bias[:2].tolist() == [0.5, 0.5] and model.head.bias[2:].tolist() == [0.0, 0.0]
    assert model.class_is_real == [True, False, True, False]
    assert len(model._trainable_named_parameters()) == len(list(model.parameters()))  # full fine-tuning


def test_grow_to_rejects_other_classes():
    model = _lorax()
    model.grow_to([CDDB_TASK, CDDB_TASK])
    with pytest.raises(ValueError, match=r"task 1: the model's classes \(True, False\) differ"):
        model.grow_to([CDDB_TASK, (True, False, False)])
    with pytest.raises(ValueError, match="built for 2 tasks but the data defines 1"):
        model.grow_to([CDDB_TASK])


def test_lorax_grows_per_task_and_base_weights_rebuild_the_tasks(tmp_path):
    model = _lorax()
    model.grow_to([(True, False, False), CDDB_TASK])  # another layout than CDDB's: 3 then 2 classes
    assert model.network.n_tasks == 2 and model.network.head.weight.shape == (5, 2 * 192)
    assert model.network.div_head.out_features == 3  # old classes, then each of the 2 new ones
    model.exemplar_memory.update({0: ([7, 8], torch.randn(2, 4)), 3: ([9], torch.randn(1, 4))}, task=0)
    ckpt = {"state_dict": model.state_dict()}
    model.on_save_checkpoint(ckpt)
    path = tmp_path / "task1.ckpt"
    torch.save(ckpt, path)

    torch.manual_seed(1)
    loaded = LoRAXModel("tiny", pretrained=False, model_input_size=32, lora_r=4, memory_size=4, base_weights=str(path))
    assert loaded.class_layout == [(True, False, False), CDDB_TASK]
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    assert loaded.exemplar_memory.state_dict() == model.exemplar_memory.state_dict()
    # the trainable set is the newest adapter and the heads
    names = {n for n, _ in loaded._trainable_named_parameters()}
    assert names and all(".task1." in n or ".head." in n or ".div_head." in n for n in names)

    torch.save({"state_dict": model.state_dict()}, tmp_path / "plain.ckpt")
    with pytest.raises(ValueError, match="holds no continual-learning state"):
        _lorax(base_weights=str(tmp_path / "plain.ckpt"))


@pytest.mark.filterwarnings("ignore:.*trainer. reference is not registered.*")
def test_evaluation_outputs_binary_score_and_fused_class_probabilities():
    model = _lorax().eval()
    model.grow_to([CDDB_TASK, CDDB_TASK])
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    batch = Batch(
        image=images,
        label=torch.tensor([0, 0, 1, 1]),
        generator_id=torch.tensor([0, 0, 2, 2]),
        identifier=torch.tensor([10, 10, 11, 11]),
        crop_to_image_index=torch.tensor([5, 5, 6, 6]),  # two images, two crops each
    )
    with torch.no_grad():
        out = model.evaluation_step(batch, "predict")
        probs = model(images).softmax(dim=1)
    torch.testing.assert_close(out["crop_scores"], probs[:, 1] + probs[:, 3])
    torch.testing.assert_close(out["fused_class_probs"], torch.stack([probs[:2].mean(0), probs[2:].mean(0)]))
    torch.testing.assert_close(out["fused_scores"], out["fused_class_probs"][:, [1, 3]].sum(1))
    assert out["fused_labels"].tolist() == [0, 1] and out["fused_identifiers"].tolist() == [10, 11]


def test_fuse_rows_keeps_order_of_appearance():
    values = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0], [1.0, 2.0]])
    fused, first = _fuse_rows(values, torch.tensor([9, 4, 9, 4]))
    torch.testing.assert_close(fused, torch.tensor([[2.0, 1.5], [0.5, 1.5]]))
    assert first.tolist() == [0, 1]


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="scheduler must be one of"):
        _lorax(scheduler="step")
    with pytest.raises(ValueError, match="unknown backbone 'convit_tinny'; close matches: convit_tiny"):
        FineTuneModel("convit_tinny", pretrained=False)
