"""A probe keeps its frozen backbone out of parameters and checkpoints, in eval mode, under no_grad."""

from __future__ import annotations

import torch

from algorithms import BaseDeepfakeDetectionModel
from algorithms.models.efficientnet_lite0 import packaged_weights_path


def test_probe_backbone_is_hidden_frozen_and_in_eval_mode():
    module = BaseDeepfakeDetectionModel("efficientnet_lite0_probe", model_input_size=32)
    probe = module.model
    assert list(module.state_dict()) == ["model.head.weight", "model.head.bias"]
    assert [n for n, _ in module.named_parameters()] == ["model.head.weight", "model.head.bias"]
    module.train()
    assert not probe.backbone.training
    bn = probe.backbone.bn1
    before = bn.running_mean.clone()
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    out = module(x)
    out.sum().backward()
    assert torch.equal(bn.running_mean, before)  # no statistics update in "training"
    assert all(p.grad is None for p in probe.backbone.parameters())
    assert probe.head.weight.grad is not None
    assert not probe.forward_features(module.normalize(x)).requires_grad
    module.to(torch.float64)
    assert next(probe.backbone.parameters()).dtype == torch.float64


def test_offline_efficientnet_lite0_has_the_packaged_imagenet_weights():
    state = torch.load(packaged_weights_path(), map_location="cpu", weights_only=True)
    module = BaseDeepfakeDetectionModel("efficientnet_lite0_tune", model_input_size=32)
    own = module.model.backbone.state_dict()
    assert torch.equal(own["conv_stem.weight"], state["_conv_stem.weight"])
    assert torch.equal(own["bn2.running_var"], state["_bn1.running_var"])
    random_init = BaseDeepfakeDetectionModel("efficientnet_lite0_tune", model_input_size=32, pretrained=False)
    assert not torch.equal(random_init.model.backbone.state_dict()["conv_stem.weight"], state["_conv_stem.weight"])
