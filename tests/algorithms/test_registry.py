"""The model registry: name resolution, error messages, duplicate registration and listing (no model is built)."""

from __future__ import annotations

import pytest

import algorithms.models  # noqa: F401  (registers the factories)
from algorithms import registry
from algorithms.registry import create_model, list_models, register_family, register_model, resolve_factory

EXPLICIT = {
    "RN50": "openai_clip",
    "ViT-L/14@336px": "openai_clip",
    "clipL14commonpool": "openclip",
    "clipB16laion2B": "openclip",
    "dinov2_vitl14": "dinov2",
    "convit_base": "convit",
    "efficientnet_lite0": "efficientnet_lite0_offline",
}


@pytest.fixture
def isolated_registry(monkeypatch):
    """Let a test register names without leaking them into the other tests."""
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))


def _dummy_factory(base_name, *, mode, num_classes, pretrained, pretrained_path, **kwargs):  # noqa: ANN001, ANN202
    raise AssertionError("never built")


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"unknown model 'dinov2_vitl15'.*close matches:.*dinov2_vitl14"):
        create_model("dinov2_vitl15_probe")
    with pytest.raises(ValueError, match=r"unknown model 'clipL14comonpool'.*close matches:.*clipL14commonpool"):
        create_model("clipL14comonpool_tune")


def test_unknown_name_after_library_prefix():
    with pytest.raises(ValueError, match=r"'not_a_model_at_all' is not a timm model"):
        resolve_factory("timm/not_a_model_at_all")


@pytest.mark.parametrize("name", ["RN50", "RN50_finetune", "dinov2_vitl14_", "_probe"])
def test_missing_mode_suffix(name):
    with pytest.raises(ValueError, match=r"must end with '_probe' .* or '_tune'"):
        create_model(name)


def test_duplicate_registration_raises(isolated_registry):
    with pytest.raises(ValueError, match=r"'RN50' registered twice \(openai_clip and dup\)"):
        register_model("RN50", factory_name="dup")(_dummy_factory)
    with pytest.raises(ValueError, match=r"family 'timm' registered twice"):
        register_family("timm", accepts=lambda n: True, list_names=list)(_dummy_factory)


def test_failed_registration_leaves_registry_unchanged(isolated_registry):
    with pytest.raises(ValueError, match="registered twice"):
        register_model("a_brand_new_name", "convit_tiny")(_dummy_factory)
    assert "a_brand_new_name" not in registry._MODELS
    assert resolve_factory("convit_tiny")[0] == "convit"


def test_registered_name_resolves_and_is_listed(isolated_registry):
    register_model("my_tiny_net", factory_name="mine")(_dummy_factory)
    assert resolve_factory("my_tiny_net") == ("mine", _dummy_factory, "my_tiny_net")
    assert "my_tiny_net" in list_models("my_tiny*")


@pytest.mark.parametrize(
    ("base", "family", "given"),
    [
        ("timm/resnet18", "timm", "resnet18"),
        ("torchvision/resnet18", "torchvision", "resnet18"),
        ("timm/convit_tiny", "timm", "convit_tiny"),  # the prefix bypasses the explicit ConViT factory
        ("torchvision/efficientnet_b0", "torchvision", "efficientnet_b0"),
    ],
)
def test_library_prefix_picks_the_family(base, family, given):
    label, _, name = resolve_factory(base)
    assert (label, name) == (family, given)


@pytest.mark.parametrize(
    ("base", "family"),
    [
        ("resnet50", "timm"),  # AI-GenBench tries timm first, so resnet50_tune is timm's ResNet-50
        ("efficientnet_b0", "timm"),
        ("convnext_tiny", "timm"),
        ("convnext_xxlarge.clip_laion2b_soup_ft_in1k", "timm"),
        ("mobilenet_v3_large", "torchvision"),  # not a timm name
        ("vit_b_16", "torchvision"),
    ],
)
def test_library_names_resolve_in_documented_order(base, family):
    assert resolve_factory(base)[0] == family


@pytest.mark.parametrize(("base", "label"), EXPLICIT.items())
def test_explicit_names_win_and_are_listed(base, label):
    assert resolve_factory(base)[0] == label
    assert base in list_models()


def test_explicit_registration_beats_timm_family():
    import timm

    assert timm.is_model("convit_tiny")  # timm would take it, the explicit factory wins
    assert resolve_factory("convit_tiny")[0] == "convit"


def test_list_models_filters_with_pattern():
    assert list_models("clipL14*") == sorted(
        ["clipL14openai", "clipL14laion400m", "clipL14laion2B", "clipL14datacomp", "clipL14commonpool"]
    )
    assert {"dinov2_vits14", "dinov2_vitb14", "dinov2_vitl14", "dinov2_vitg14"} <= set(list_models("dinov2_vit*"))
    # a bare word matches anywhere in the name (timm's DINOv2 names too)
    dino = list_models("dinov2")
    assert "dinov2_vitl14" in dino and "vit_large_patch14_dinov2" in dino
    assert all("dinov2" in n for n in dino)
    assert set(list_models("RN50*")) == {"RN50", "RN50x4", "RN50x16", "RN50x64"}


def test_list_models_includes_families():
    names = set(list_models())
    assert {"resnet50", "convnext_tiny", "vit_b_16", "RN50", "ViT-B/32"} <= names
    assert list_models() == sorted(names)
