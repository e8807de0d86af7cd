"""LoRAX network on random-weight ConViTs (pretrained=False; nothing is downloaded)."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from algorithms.continual import lorax
from algorithms.continual.lorax import LoRAXNetwork, div_targets, lorax_loss

D_TINY = 192
EXPECTED_TARGETS = sorted(f"blocks.{b}.attn.{m}" for b in range(10) for m in ("qk", "v"))


def _tiny() -> LoRAXNetwork:
    torch.manual_seed(0)
    return LoRAXNetwork("tiny", pretrained=False)


def _names(net: LoRAXNetwork, params: list[torch.nn.Parameter]) -> set[str]:
    ids = {id(p) for p in params}
    return {name for name, p in net.named_parameters() if id(p) in ids}


@pytest.mark.parametrize(("size", "expected"), [("tiny", 614_400), ("small", 1_382_400), ("base", 2_457_600)])
def test_lora_parameter_count_matches_the_paper(size: str, expected: int) -> None:
    net = LoRAXNetwork(size, pretrained=False)
    assert net.lora_parameter_count(0) == expected
    lora_trainable = sum(p.numel() for n, p in net.backbone.named_parameters() if p.requires_grad)
    assert lora_trainable == expected


def test_target_modules_are_exactly_gpsa_qk_and_v() -> None:
    net = _tiny()
    assert net.targeted_module_names() == EXPECTED_TARGETS
    with_lora = sorted(
        name.removeprefix("backbone.base_model.model.")
        for name, module in net.named_modules()
        if hasattr(module, "lora_A")
    )
    assert with_lora == EXPECTED_TARGETS
    # fullmatch semantics: MHSA qkv (blocks 10-11), proj, pos_proj and the MLP stay untouched
    assert not any(re.fullmatch(lorax.DEFAULT_TARGET_MODULES, n) for n in ("blocks.10.attn.qkv", "blocks.1.attn.proj"))


def test_only_newest_adapter_and_heads_are_trainable() -> None:
    net = _tiny()
    net.add_task()
    net.add_task()
    x = torch.randn(1, 3, 224, 224)
    net.train()
    logits, div = net(x)  # a forward pass must not leave older adapters trainable
    expected = {n for n, _ in net.named_parameters() if ".task2." in n}
    expected |= {n for n, _ in net.named_parameters() if n.startswith(("head.", "div_head."))}
    assert {n for n, p in net.named_parameters() if p.requires_grad} == expected
    assert _names(net, net.trainable_parameters()) == expected
    assert all(".lora_" in n for n in expected if n.startswith("backbone."))

    (logits.sum() + div.sum()).backward()
    for name, p in net.named_parameters():
        if ".task0." in name or ".task1." in name or (name.startswith("backbone.") and ".lora_" not in name):
            assert p.grad is None, name
    assert net.head.weight.grad is not None
    assert net.backbone.base_model.model.blocks[0].attn.v.lora_B["task2"].weight.grad is not None


def test_head_growth_copies_old_block() -> None:
    net = _tiny()
    with torch.no_grad():
        net.head.bias.fill_(0.5)  # a trained-looking bias, to see it copied
    old_w, old_b = net.head.weight.detach().clone(), net.head.bias.detach().clone()
    net.add_task()
    w, b = net.head.weight.detach(), net.head.bias.detach()
    assert w.shape == (4, 2 * D_TINY) and b.shape == (4,)
    torch.testing.assert_close(w[:2, :D_TINY], old_w)
    torch.testing.assert_close(b[:2], old_b)
    assert torch.all(b[2:] == 0)
    bound = (3.0 / (2 * D_TINY)) ** 0.5  # kaiming_uniform, nonlinearity='linear', fan_in = 2D
    for block in (w[2:], w[:2, D_TINY:]):  # new rows, and old rows on the new features: fresh random weights
        assert block.abs().max() <= bound and block.std() > 0.2 * bound
    assert isinstance(net.div_head, torch.nn.Linear) and net.div_head.weight.shape == (3, D_TINY)


def test_forward_shapes_over_three_tasks() -> None:
    net = _tiny().eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        logits, div = net(x)
        assert logits.shape == (2, 2) and div is None
        for t in (1, 2):
            net.add_task()
            logits, div = net(x)
            assert logits.shape == (2, 2 * (t + 1))
            assert div.shape == (2, 3)
            assert net.head.in_features == D_TINY * (t + 1)
        assert net.features(x).shape == (2, D_TINY * 3)
    assert net.n_tasks == 3 and net.n_classes == 6 and net.adapter_names == ["task0", "task1", "task2"]


def test_each_feature_block_uses_only_its_adapter() -> None:
    net = _tiny().eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        for name, p in net.backbone.named_parameters():
            if ".lora_B.task0." in name:
                p.normal_(0.0, 0.05)  # make adapter 0 change the features (B starts at zero)
        e0 = net.features(x)
        net.add_task()  # adapter 1: B = 0, so its features equal the frozen ConViT's
        e = net.features(x)
        with net.backbone.disable_adapter():
            plain = net.backbone(x)
    torch.testing.assert_close(e[:, :D_TINY], e0)
    torch.testing.assert_close(e[:, D_TINY:], plain)
    assert not torch.allclose(e0, plain)


def test_div_targets_and_loss() -> None:
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    assert div_targets(y, 4).tolist() == [0, 0, 0, 0, 1, 2]
    with pytest.raises(ValueError, match="n_old_classes must be >= 1"):
        div_targets(y, 0)
    torch.manual_seed(0)
    logits, div_logits = torch.randn(6, 6), torch.randn(6, 3)
    expected = F.cross_entropy(logits, y) + 0.1 * F.cross_entropy(div_logits, torch.tensor([0, 0, 0, 0, 1, 2]))
    torch.testing.assert_close(lorax_loss(logits, div_logits, y, 4), expected)
    torch.testing.assert_close(lorax_loss(logits, None, y, 4), F.cross_entropy(logits, y))


def test_pretrained_failure_names_model_and_offline_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(name: str, pretrained: bool = False, **kwargs: object) -> torch.nn.Module:
        if pretrained:
            raise OSError("We couldn't connect to 'https://huggingface.co'")
        raise AssertionError("not reached")

    import timm

    from algorithms.models.weights import PretrainedWeightsUnavailable

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(PretrainedWeightsUnavailable, match=r"convit_tiny.*convit_tiny\.fb_in1k.*pretrained_path"):
        LoRAXNetwork("tiny", pretrained=True)


def test_pretrained_path_loads_local_checkpoint(tmp_path) -> None:  # noqa: ANN001
    import timm

    torch.manual_seed(1)
    source = timm.create_model("convit_tiny", pretrained=False)  # with its 1000-class head, like a release
    path = tmp_path / "convit_tiny.pth"
    torch.save({"model": source.state_dict()}, path)
    net = LoRAXNetwork("tiny", pretrained_path=path)
    loaded = net.backbone.base_model.model
    torch.testing.assert_close(loaded.blocks[3].mlp.fc1.weight, source.blocks[3].mlp.fc1.weight)
    torch.testing.assert_close(loaded.blocks[0].attn.qk.base_layer.weight, source.blocks[0].attn.qk.weight)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        LoRAXNetwork("tiny", pretrained_path=tmp_path / "missing.pth")


def test_unknown_size() -> None:
    with pytest.raises(ValueError, match=r"unknown ConViT size 'huge'; expected one of \['tiny', 'small', 'base'\]"):
        LoRAXNetwork("huge", pretrained=False)


def test_package_exports_resolve() -> None:
    import algorithms.continual as continual

    assert continual.LoRAXNetwork is LoRAXNetwork
    for name in continual.__all__:
        assert getattr(continual, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        continual.nope  # noqa: B018
