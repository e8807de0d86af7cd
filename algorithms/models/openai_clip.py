"""OpenAI CLIP image towers (``RN50_probe``, ``ViT-L/14_tune``, ...), the AI-GenBench ``openai_clip_image`` factory.

The reference loads these with OpenAI's ``clip`` package (``clip.load(name)``) and keeps ``.visual``. Here the
same weights come through open_clip's ``openai`` pretrained tag (the ``clip`` package is not on PyPI): the
names keep OpenAI's spelling and map to open_clip's architecture names (``ViT-B/32`` -> ``ViT-B-32``,
``ViT-L/14@336px`` -> ``ViT-L-14-336``), built with QuickGELU like the originals.

Behaviour, as in the reference: features are ``visual(x)`` with no L2 normalisation (1024-d for RN50), the head
is a default-initialised ``Linear(features, num_classes)``, and ``_probe`` freezes the whole image tower. The
input size is the tower's own (224 for RN50 and the ViTs, 288/384/448 for RN50x4/x16/x64, 336 for
``ViT-L/14@336px``): ModifiedResNet's attention pooling and the ViTs' position embeddings are sized for it.
"""

from __future__ import annotations

from typing import Any

from algorithms.models.library_factories import wrap
from algorithms.models.openclip_models import ClipWeights, build_clip_visual, clip_output_dim
from algorithms.registry import BuiltModel, Mode, register_model

OPENAI_CLIP_ARCHS: dict[str, str] = {
    "RN50": "RN50",
    "RN101": "RN101",
    "RN50x4": "RN50x4",
    "RN50x16": "RN50x16",
    "RN50x64": "RN50x64",
    "ViT-B/32": "ViT-B-32",
    "ViT-B/16": "ViT-B-16",
    "ViT-L/14": "ViT-L-14",
    "ViT-L/14@336px": "ViT-L-14-336",
}
"""OpenAI CLIP model names (as ``clip.available_models()`` spells them) -> open_clip architecture names."""


@register_model(*OPENAI_CLIP_ARCHS, factory_name="openai_clip")
def openai_clip_factory(
    base_name: str,
    *,
    mode: Mode,
    num_classes: int,
    pretrained: bool,
    pretrained_path: str | None,
    **kwargs: Any,
) -> BuiltModel:
    """OpenAI CLIP image tower + ``Linear`` head, frozen (``_probe``) or fine-tuned (``_tune``).

    Args:
        base_name: an OpenAI CLIP name, e.g. ``RN50`` or ``ViT-L/14``.
        mode: ``probe`` or ``tune``.
        num_classes: outputs of the head.
        pretrained: download OpenAI's weights through open_clip (tag ``openai``).
        pretrained_path: local whole-CLIP open_clip checkpoint, e.g. ``open_clip_model.safetensors`` from the
            Hugging Face repository ``timm/<arch>_clip.openai`` (see ``build_clip_visual``).
        **kwargs: passed to ``open_clip.create_model`` (e.g. ``force_image_size``).
    """
    weights = ClipWeights(OPENAI_CLIP_ARCHS[base_name], "openai")
    visual, input_config, extra = build_clip_visual(
        base_name, weights, pretrained=pretrained, pretrained_path=pretrained_path, **kwargs
    )
    model = wrap(visual, clip_output_dim(visual, weights.arch), mode=mode, num_classes=num_classes)
    return BuiltModel(model, input_config, "openai_clip", extra)


__all__ = ["OPENAI_CLIP_ARCHS", "openai_clip_factory"]
