"""Every model family, built small with random weights: forward/backward in probe and tune mode, the probe's
frozen-backbone guarantees, local weight files, and the offline error path. Nothing is downloaded."""

from __future__ import annotations

import open_clip
import pytest
import timm
import torch

import algorithms.models  # noqa: F401  (registers the factories)
from algorithms.models import PretrainedWeightsUnavailable
from algorithms.models.convit import CONVIT_TIMM_NAMES
from algorithms.models.dinov2 import DINOV2_TIMM_NAMES
from algorithms.models.openai_clip import OPENAI_CLIP_ARCHS
from algorithms.models.openclip_models import OPENCLIP_MODELS
from algorithms.registry import CLIP_MEAN, CLIP_STD, create_model

NUM_CLASSES = 3

# The factories keep only the image tower, so CLIP tests shrink the (discarded) text tower to save build time;
# open_clip replaces the config's text_cfg with this one.
SMALL_TEXT = {"text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1}}

# (model name, factory, build options, input size). The smallest variant of each family, at the smallest size
# its architecture accepts (CLIP towers are built for 64 px with open_clip's force_image_size; the native
# input configs are checked separately).
ZOO = [
    pytest.param("RN50", "openai_clip", {"force_image_size": 32, **SMALL_TEXT}, 32, id="openai_clip-RN50"),
    pytest.param("clipB16laion2B", "openclip", {"force_image_size": 64, **SMALL_TEXT}, 64, id="openclip-ViT-B-16"),
    pytest.param("dinov2_vits14", "dinov2", {"img_size": 56}, 56, id="dinov2-vits14"),
    pytest.param("convit_tiny", "convit", {}, 224, id="convit-tiny"),
    pytest.param("efficientnet_lite0", "efficientnet_lite0_offline", {"pretrained": True}, 64, id="efficientnet_lite0"),
    pytest.param("resnet18", "timm", {}, 64, id="timm-resnet18"),
    pytest.param("torchvision/resnet18", "torchvision", {}, 64, id="torchvision-resnet18"),
    pytest.param("torchvision/efficientnet_b0", "torchvision", {}, 64, id="torchvision-efficientnet_b0"),
    pytest.param("torchvision/convnext_tiny", "torchvision", {}, 64, id="torchvision-convnext_tiny"),
]

# A ViT-B-16-shaped CLIP small enough to save whole to disk in a test (open_clip merges these into the config).
TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    **SMALL_TEXT,
}


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Batches of two tiny images gain nothing from intra-op threads, and on a shared 2-core machine OpenMP
    threads fighting other processes made this module ~10x slower (measured); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _build(name: str, mode: str, options: dict):  # noqa: ANN202
    options = {"pretrained": False, **options}
    torch.manual_seed(0)
    return create_model(f"{name}_{mode}", num_classes=NUM_CLASSES, **options)


@pytest.mark.parametrize(("name", "factory", "options", "size"), ZOO)
def test_probe_freezes_and_hides_backbone(name, factory, options, size):
    built = _build(name, "probe", options)
    model = built.model
    assert built.factory == factory
    backbone = model.backbone

    # only the head is a parameter / in the state dict (checkpoints hold the head alone)
    assert {n.split(".")[0] for n, _ in model.named_parameters()} == {"head"}
    assert all(k.startswith("head.") for k in model.state_dict())
    assert not any(m is backbone for m in model.modules())

    model.train()
    assert model.head.training and not backbone.training
    assert not any(p.requires_grad for p in backbone.parameters())

    buffers_before = {k: v.clone() for k, v in backbone.named_buffers()}
    head_inputs = []
    model.head.register_forward_hook(lambda module, args, output: head_inputs.append(args[0]))
    out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, NUM_CLASSES)
    assert not head_inputs[0].requires_grad  # the backbone ran under no_grad: no graph through it
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.head.parameters())
    assert all(p.grad is None for p in backbone.parameters())
    # eval mode: norm-layer running statistics did not move during a train-mode forward (other buffers, such
    # as ConViT's lazily filled rel_indices, may legitimately change)
    for key, value in backbone.named_buffers():
        if "running_" in key or "num_batches_tracked" in key:
            torch.testing.assert_close(value, buffers_before[key], rtol=0, atol=0, msg=key)

    model.to(torch.float64)  # dtype/device moves must reach the hidden backbone
    assert {p.dtype for p in backbone.parameters()} == {torch.float64}
    assert {b.dtype for b in backbone.buffers() if b.is_floating_point()} <= {torch.float64}


@pytest.mark.parametrize(("name", "factory", "options", "size"), ZOO)
def test_tune_trains_everything(name, factory, options, size):
    built = _build(name, "tune", options)
    model = built.model
    assert built.factory == factory
    backbone_params = list(model.backbone.parameters())
    assert len(list(model.parameters())) == len(backbone_params) + len(list(model.head.parameters()))
    assert any(k.startswith("backbone.") for k in model.state_dict())

    model.train()
    out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, NUM_CLASSES)
    out.square().mean().backward()
    assert all(p.requires_grad and p.grad is not None for p in model.parameters())
    # the gradient reaches the input end of the backbone (stem / embeddings); many block weights can get an
    # exactly zero gradient at random init, because timm and open_clip ResNets zero-init each block's last norm
    assert backbone_params[0].grad.abs().sum() > 0


# ---------------------------------------------------------------- input configs and architecture details


def test_rn50_and_dinov2_input_configs():
    rn50 = _build("RN50", "probe", SMALL_TEXT)
    assert rn50.input_config.size == (224, 224)
    assert (rn50.input_config.mean, rn50.input_config.std) == (CLIP_MEAN, CLIP_STD)
    assert rn50.input_config.interpolation == "bicubic"
    assert rn50.model.head.in_features == 1024  # as the reference's dummy-forward numel()
    # DINOv2 is built at the AI-GenBench size (timm's own default is 518), with ImageNet statistics
    dino = _build("dinov2_vits14", "probe", {"depth": 1})
    assert dino.input_config.size == (224, 224)
    assert dino.input_config.interpolation == "bicubic"
    assert dino.input_config.mean == pytest.approx((0.485, 0.456, 0.406))
    assert dino.model.backbone.global_pool == "token"
    assert dino.model.head.in_features == 384


# Every explicit name at its real size: (feature size, input size). Feature sizes are the reference's (e.g. 1024
# for RN50 from its dummy forward, 768 for the normalised ViT-L/14 OpenCLIP embedding, 1024 for DINOv2 ViT-L/14).
REAL_SIZES = {
    "RN50": (1024, 224),
    "RN101": (512, 224),
    "RN50x4": (640, 288),
    "RN50x16": (768, 384),
    "RN50x64": (1024, 448),
    "ViT-B/32": (512, 224),
    "ViT-B/16": (512, 224),
    "ViT-L/14": (768, 224),
    "ViT-L/14@336px": (768, 336),
    "clipL14openai": (768, 224),
    "clipL14laion400m": (768, 224),
    "clipL14laion2B": (768, 224),
    "clipL14datacomp": (768, 224),
    "clipL14commonpool": (768, 224),
    "clipaL14datacomp": (768, 224),
    "cocaL14laion2B": (768, 224),
    "clipg14laion2B": (1024, 224),
    "eva2L14merged2b": (768, 224),
    "clipB16laion2B": (512, 224),
    "dinov2_vits14": (384, 224),
    "dinov2_vitb14": (768, 224),
    "dinov2_vitl14": (1024, 224),
    "dinov2_vitg14": (1536, 224),
    "convit_tiny": (192, 224),
    "convit_small": (432, 224),
    "convit_base": (768, 224),
}


@pytest.mark.slow
@pytest.mark.parametrize(("name", "expected"), REAL_SIZES.items())
def test_every_explicit_name_at_real_size(name, expected):
    # builds every backbone at full size (minutes): deselected by default (pyproject addopts), run with -m slow
    options = dict(SMALL_TEXT) if name in OPENAI_CLIP_ARCHS or name in OPENCLIP_MODELS else {}
    built = _build(name, "probe", options)
    feat_dim, size = expected
    assert built.input_config.size == (size, size)
    assert built.model.head.in_features == feat_dim
    with torch.no_grad():
        assert built.model.forward_features(torch.randn(1, 3, size, size)).shape == (1, feat_dim)


def test_openai_clip_uses_quick_gelu():
    built = _build("ViT-B/32", "probe", {"force_image_size": 64, **SMALL_TEXT})
    assert any(isinstance(m, open_clip.transformer.QuickGELU) for m in built.model.backbone.modules())
    laion = _build("clipB16laion2B", "probe", TINY_CLIP)
    assert not any(isinstance(m, open_clip.transformer.QuickGELU) for m in laion.model.backbone.modules())


def test_openclip_features_head_and_options():
    probe = _build("clipB16laion2B", "probe", TINY_CLIP).model
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(probe.forward_features(x).norm(dim=-1), torch.ones(4))
    assert probe.head.in_features == 16
    # the reference's ChannelLinear init, weight ~ N(0, 0.02), measured on a head wide enough to estimate it
    wide_head = _build("clipB16laion2B", "probe", {**TINY_CLIP, "embed_dim": 4096}).model.head
    weight = wide_head.weight.detach()
    assert 0.019 < float(weight.std()) < 0.021
    assert abs(float(weight.mean())) < 0.002

    raw = _build("clipB16laion2B", "tune", {**TINY_CLIP, "normalize": False}).model
    assert not torch.allclose(raw.backbone(x).norm(dim=-1), torch.ones(4))
    tuned = _build("clipB16laion2B", "tune", TINY_CLIP).model
    torch.testing.assert_close(tuned._features_fn(tuned.backbone, x).norm(dim=-1), torch.ones(4))

    width = _build("clipB16laion2B", "probe", {**TINY_CLIP, "next_to_last": True})
    assert width.model.backbone.proj is None
    assert width.model.head.in_features == 32 and width.model.forward_features(x).shape == (4, 32)


def test_reference_weight_sources_are_pinned():
    """The reference downloads two entries straight from these hub repositories; our open_clip tags must
    point at the same ones, and every tag/name must exist in the installed libraries."""
    for name, repo in {
        "clipL14datacomp": "laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K",
        "clipL14commonpool": "laion/CLIP-ViT-L-14-CommonPool.XL-s13B-b90K",
    }.items():
        weights = OPENCLIP_MODELS[name]
        assert weights.arch == "ViT-L-14"
        assert open_clip.get_pretrained_cfg(weights.arch, weights.tag)["hf_hub"].rstrip("/") == repo
    for weights in OPENCLIP_MODELS.values():
        assert open_clip.get_pretrained_cfg(weights.arch, weights.tag), weights
    for arch in OPENAI_CLIP_ARCHS.values():
        assert open_clip.get_pretrained_cfg(arch, "openai").get("quick_gelu"), arch
    pretrained_timm = set(timm.list_pretrained())
    assert set(DINOV2_TIMM_NAMES.values()) | set(CONVIT_TIMM_NAMES.values()) <= pretrained_timm


# ---------------------------------------------------------------- local weight files


def test_timm_family_loads_pretrained_path(tmp_path):
    torch.manual_seed(1)
    source = timm.create_model("resnet18", pretrained=False, num_classes=0)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    built = create_model("resnet18_probe", pretrained=True, pretrained_path=str(path))  # path wins, no download
    for key, value in source.state_dict().items():
        torch.testing.assert_close(built.model.backbone.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_dinov2_pretrained_path_resamples_518px_checkpoint(tmp_path):
    torch.manual_seed(1)
    source = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, depth=1)  # 518 px
    path = tmp_path / "dinov2_vits14.pth"
    torch.save(source.state_dict(), path)
    backbone = create_model("dinov2_vits14_tune", pretrained_path=str(path), depth=1).model.backbone
    assert backbone.pos_embed.shape[1] == 1 + 16 * 16  # resampled from 1 + 37 * 37 to the 224-px grid
    state = backbone.state_dict()
    for key, value in source.state_dict().items():
        if key != "pos_embed":
            torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)


def test_openclip_pretrained_path_loads_whole_clip_checkpoint(tmp_path):
    torch.manual_seed(1)
    source = open_clip.create_model("ViT-B-16", **TINY_CLIP)
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(source.state_dict(), path)
    backbone = create_model("clipB16laion2B_probe", pretrained_path=str(path), **TINY_CLIP).model.backbone
    for key, value in source.visual.state_dict().items():
        torch.testing.assert_close(backbone.state_dict()[key], value, rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("name", ["clipB16laion2B_probe", "dinov2_vits14_probe", "RN50_tune"])
def test_missing_pretrained_path_is_an_error(tmp_path, name):
    with pytest.raises(FileNotFoundError, match=r"pretrained_path .*nope\.pth"):
        create_model(name, pretrained_path=str(tmp_path / "nope.pth"))


# ---------------------------------------------------------------- offline


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    """No network, empty caches: what a compute node without internet access sees."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    # huggingface_hub reads these once at import, so the environment alone is not enough
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("resnet18_probe", "resnet18"),
        ("convit_tiny_tune", "convit_tiny"),
        ("dinov2_vits14_probe", "dinov2_vits14"),
        ("clipB16laion2B_probe", "clipB16laion2B"),
        ("RN50_tune", "RN50"),
    ],
)
def test_offline_download_names_model_and_offline_fix(offline_hub, name, base):
    with pytest.raises(PretrainedWeightsUnavailable, match=rf"model '{base}'.*pretrained_path") as info:
        create_model(name, pretrained=True)
    assert "HF_HUB_OFFLINE" in str(info.value) and "pretrained: false" in str(info.value)
