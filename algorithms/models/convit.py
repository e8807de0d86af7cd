"""ConViT backbones (``convit_tiny``, ``convit_small``, ``convit_base``) as plain probe/tune detectors.

timm's ``convit_*.fb_in1k`` (ImageNet-1k, 224 px), CLS-token features, a new ``Linear(D, num_classes)`` head.
These names are registered explicitly so they resolve here rather than through the generic timm family (the
explicit registration wins, and pins the pretrained tag); ``timm/convit_tiny_probe`` still reaches the plain
timm family. LoRA variants (LoRAX) build their own ConViT elsewhere; nothing LoRA-specific lives here.
"""

from __future__ import annotations

from typing import Any

from algorithms.models.dinov2 import create_timm_backbone, timm_input_config
from algorithms.models.library_factories import wrap
from algorithms.registry import BuiltModel, Mode, register_model

CONVIT_TIMM_NAMES: dict[str, str] = {
    "convit_tiny": "convit_tiny.fb_in1k",
    "convit_small": "convit_small.fb_in1k",
    "convit_base": "convit_base.fb_in1k",
}
"""ConViT names -> timm model names with their pretrained tag."""


@register_model(*CONVIT_TIMM_NAMES, factory_name="convit")
def convit_factory(
    base_name: str,
    *,
    mode: Mode,
    num_classes: int,
    pretrained: bool,
    pretrained_path: str | None,
    **kwargs: Any,
) -> BuiltModel:
    """ConViT backbone + ``Linear`` head, frozen (``_probe``) or fine-tuned (``_tune``).

    Args:
        base_name: ``convit_tiny``, ``convit_small`` or ``convit_base``.
        mode: ``probe`` or ``tune``.
        num_classes: outputs of the head.
        pretrained: download timm's ImageNet-1k weights.
        pretrained_path: a local state dict in timm key naming (classifier weights in it are dropped).
        **kwargs: passed to ``timm.create_model`` (e.g. ``drop_path_rate``).
    """
    backbone = create_timm_backbone(
        CONVIT_TIMM_NAMES[base_name], model=base_name, pretrained=pretrained, pretrained_path=pretrained_path, **kwargs
    )
    model = wrap(backbone, backbone.num_features, mode=mode, num_classes=num_classes)
    extra = {"timm_name": CONVIT_TIMM_NAMES[base_name]}
    return BuiltModel(model, timm_input_config(backbone), "convit", extra)


__all__ = ["CONVIT_TIMM_NAMES", "convit_factory"]
