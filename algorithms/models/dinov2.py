"""DINOv2 backbones (``dinov2_vitl14_probe``, ...) through timm, the AI-GenBench ``dinov2`` factory.

The reference loads ``torch.hub.load("facebookresearch/dinov2", name)``, which needs the network and executes
code fetched from GitHub. timm ships the same weights (``vit_*_patch14_dinov2.lvd142m``, converted from the
official checkpoints) and the same architecture, so the names map one to one:

==================  ====================================
``dinov2_vits14``   ``vit_small_patch14_dinov2.lvd142m``
``dinov2_vitb14``   ``vit_base_patch14_dinov2.lvd142m``
``dinov2_vitl14``   ``vit_large_patch14_dinov2.lvd142m``
``dinov2_vitg14``   ``vit_giant_patch14_dinov2.lvd142m``
==================  ====================================

Features are the hub model's forward output: the CLS token after the final norm (timm with
``global_pool="token"`` and ``num_classes=0``), 1024-d for ViT-L/14; the head is ``Linear(D, num_classes)``.

Image size: timm's DINOv2 default is 518 px (the checkpoints' position-embedding grid), while the AI-GenBench
configs feed 224 px. The backbone is therefore built with ``img_size=224`` unless ``img_size`` is given, and
timm resamples the position embeddings once when it loads the weights (bicubic). The hub model instead
interpolates its 518-px grid at every forward; both give a 16x16 grid of patch positions at 224 px, up to
interpolation details. The input config is (224, 224), bicubic, ImageNet mean/std (the AI-GenBench configs
override the statistics with CLIP's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from algorithms.models.library_factories import wrap
from algorithms.models.weights import weights_download
from algorithms.registry import BuiltModel, InputConfig, Mode, register_model

DINOV2_TIMM_NAMES: dict[str, str] = {
    "dinov2_vits14": "vit_small_patch14_dinov2.lvd142m",
    "dinov2_vitb14": "vit_base_patch14_dinov2.lvd142m",
    "dinov2_vitl14": "vit_large_patch14_dinov2.lvd142m",
    "dinov2_vitg14": "vit_giant_patch14_dinov2.lvd142m",
}
"""torch.hub DINOv2 names -> timm model names with their pretrained tag."""

DINOV2_IMG_SIZE = 224
"""Default input size: the AI-GenBench ``model_input_size`` (timm's own default for DINOv2 is 518)."""


def create_timm_backbone(
    timm_name: str, *, model: str, pretrained: bool, pretrained_path: str | None, **kwargs: Any
) -> nn.Module:
    """A timm model without classifier (``num_classes=0``), with hub weights, local weights or random weights.

    A local file goes through timm's own pretrained loader (``pretrained_cfg_overlay={"file": path}``) rather
    than a plain ``load_state_dict``: timm then applies the model's checkpoint filter, which resamples
    position embeddings to the built image size (a 518-px DINOv2 checkpoint into a 224-px model) and converts
    original DINOv2 checkpoints; keys are matched strictly, classifier weights in the file are dropped.

    Args:
        timm_name: timm model name, with a pretrained tag (``vit_large_patch14_dinov2.lvd142m``).
        model: the registry name, used in error messages.
        pretrained: download timm's weights (Hugging Face hub).
        pretrained_path: a local state dict (``.safetensors``, ``.pth``, ``.bin``) to load instead.
        **kwargs: passed to ``timm.create_model`` (``img_size``, ``drop_path_rate``, ...).

    Raises:
        PretrainedWeightsUnavailable: ``pretrained`` and the download failed.
        FileNotFoundError: ``pretrained_path`` is not a file.
    """
    import timm

    if pretrained_path is not None:
        path = Path(pretrained_path)
        if not path.is_file():
            raise FileNotFoundError(f"{model}: pretrained_path {str(path)!r} does not exist or is not a file")
        return timm.create_model(
            timm_name, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, num_classes=0, **kwargs
        )
    with weights_download(model, f"timm weights {timm_name!r} (Hugging Face hub 'timm/')"):
        return timm.create_model(timm_name, pretrained=pretrained, num_classes=0, **kwargs)


def timm_input_config(backbone: nn.Module) -> InputConfig:
    """Input config of a timm model, with the size it was built for.

    timm's data config comes from the pretrained config, which keeps the checkpoint's size (518 for DINOv2)
    when the model is built with another ``img_size``; the patch embedding knows the real one.
    """
    import timm.data

    cfg = timm.data.resolve_model_data_config(backbone)
    size = tuple(cfg["input_size"][1:])
    built_size = getattr(getattr(backbone, "patch_embed", None), "img_size", None)
    if built_size is not None:
        size = tuple(built_size)
    return InputConfig(
        size=(int(size[0]), int(size[1])),
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        interpolation=cfg.get("interpolation", "bicubic"),
    )


@register_model(*DINOV2_TIMM_NAMES, factory_name="dinov2")
def dinov2_factory(
    base_name: str,
    *,
    mode: Mode,
    num_classes: int,
    pretrained: bool,
    pretrained_path: str | None,
    img_size: int | tuple[int, int] = DINOV2_IMG_SIZE,
    **kwargs: Any,
) -> BuiltModel:
    """DINOv2 backbone (CLS token) + ``Linear`` head, frozen (``_probe``) or fine-tuned (``_tune``).

    Args:
        base_name: ``dinov2_vits14``, ``dinov2_vitb14``, ``dinov2_vitl14`` or ``dinov2_vitg14``.
        mode: ``probe`` or ``tune``.
        num_classes: outputs of the head.
        pretrained: download the timm copy of the official weights.
        pretrained_path: a local state dict, timm or original DINOv2 key naming, any position-embedding size.
        img_size: input size the model is built for (multiple of 14; default 224).
        **kwargs: passed to ``timm.create_model``.
    """
    backbone = create_timm_backbone(
        DINOV2_TIMM_NAMES[base_name],
        model=base_name,
        pretrained=pretrained,
        pretrained_path=pretrained_path,
        img_size=img_size,
        global_pool="token",  # the hub model's output is the normed CLS token; say so rather than rely on defaults
        **kwargs,
    )
    model = wrap(backbone, backbone.num_features, mode=mode, num_classes=num_classes)
    extra = {"timm_name": DINOV2_TIMM_NAMES[base_name]}
    return BuiltModel(model, timm_input_config(backbone), "dinov2", extra)


__all__ = ["DINOV2_IMG_SIZE", "DINOV2_TIMM_NAMES", "create_timm_backbone", "dinov2_factory", "timm_input_config"]
