"""OpenCLIP image towers as detectors: the AI-GenBench ``openclip_probe_model`` names.

The names and weights are those of the reference framework's ``openclip_models.py`` (adapted there from
grip-unina's ClipBased-SyntheticImageDetection, Apache-2.0); this is a re-implementation, not a copy.

Behaviour, as in the reference:

- features are the image embedding ``visual(x)``, L2-normalised when ``normalize`` (default ``True``). In probe
  mode this equals the reference's ``encode_image(x, normalize=True)``; in tune mode the reference always
  normalises, which is the default here too.
- ``next_to_last=True`` drops the final projection (``visual.proj``), so the features are the tower's width
  (1024 for ViT-L/14) instead of the joint embedding (768).
- the head is a ``Linear(num_features, num_classes)`` whose weight is drawn from ``N(0, 0.02)``, as the
  reference's ``ChannelLinear`` (whose bias keeps ``nn.Linear``'s default initialisation).

Only the image tower is kept: the model is built (and its checkpoint loaded) with ``open_clip.create_model``,
then ``.visual`` is taken and the text tower is released.

Two reference entries were downloaded with ``hf_hub_download(repo, "open_clip_pytorch_model.bin")`` into the
built-in ``ViT-L-14`` architecture (``clipL14datacomp``, ``clipL14commonpool``); open_clip's pretrained tags
``datacomp_xl_s13b_b90k`` and ``commonpool_xl_s13b_b90k`` point at exactly those Hugging Face repositories
(pinned by a test), so every entry here is an ``(architecture, tag)`` pair and loads the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.models.probe import BackboneWithHead, FrozenBackboneProbe
from algorithms.models.weights import weights_download
from algorithms.registry import BuiltModel, InputConfig, Mode, register_model


@dataclass(frozen=True)
class ClipWeights:
    """One open_clip model: its architecture (model config name) and pretrained tag."""

    arch: str
    tag: str


OPENCLIP_MODELS: dict[str, ClipWeights] = {
    "clipL14openai": ClipWeights("ViT-L-14", "openai"),
    "clipL14laion400m": ClipWeights("ViT-L-14", "laion400m_e32"),
    "clipL14laion2B": ClipWeights("ViT-L-14", "laion2b_s32b_b82k"),
    # hf-hub laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K in the reference
    "clipL14datacomp": ClipWeights("ViT-L-14", "datacomp_xl_s13b_b90k"),
    # hf-hub laion/CLIP-ViT-L-14-CommonPool.XL-s13B-b90K in the reference (the AI-GenBench baseline)
    "clipL14commonpool": ClipWeights("ViT-L-14", "commonpool_xl_s13b_b90k"),
    "clipaL14datacomp": ClipWeights("ViT-L-14-CLIPA", "datacomp1b"),
    "cocaL14laion2B": ClipWeights("coca_ViT-L-14", "laion2b_s13b_b90k"),
    "clipg14laion2B": ClipWeights("ViT-g-14", "laion2b_s34b_b88k"),
    "eva2L14merged2b": ClipWeights("EVA02-L-14", "merged2b_s4b_b131k"),
    "clipB16laion2B": ClipWeights("ViT-B-16", "laion2b_s34b_b88k"),
}
"""AI-GenBench OpenCLIP names -> open_clip architecture and pretrained tag."""


def _pretrained_cfg(weights: ClipWeights) -> dict[str, Any]:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(weights.arch, weights.tag)
    if not cfg:
        raise ValueError(
            f"open_clip {open_clip.__version__} has no pretrained tag {weights.tag!r} for {weights.arch!r} "
            f"(available: {open_clip.list_pretrained_tags_by_model(weights.arch)}); install a version that has it"
        )
    return cfg


def _weights_source(cfg: dict[str, Any]) -> str:
    hub = cfg.get("hf_hub", "")
    return f"Hugging Face hub {hub.rstrip('/')!r}" if hub else f"{cfg.get('url', 'an unknown URL')}"


def build_clip_visual(
    model: str,
    weights: ClipWeights,
    *,
    pretrained: bool,
    pretrained_path: str | None,
    **kwargs: Any,
) -> tuple[nn.Module, InputConfig, dict[str, Any]]:
    """Build an open_clip model, load its weights, and keep only its image tower.

    Args:
        model: the registry name, used in error messages.
        weights: open_clip architecture and pretrained tag.
        pretrained: download the tag's weights (open_clip's usual source, usually the Hugging Face hub).
        pretrained_path: a local open_clip checkpoint of the *whole* CLIP model (image and text towers), e.g.
            ``open_clip_pytorch_model.bin`` or ``open_clip_model.safetensors`` from the tag's hub repository;
            takes precedence over ``pretrained``. It is loaded strictly by open_clip.
        **kwargs: passed to ``open_clip.create_model`` (e.g. ``force_image_size``).

    Returns:
        The image tower, its input config (size from ``visual.image_size``; mean, std and interpolation from
        the tag's preprocessing config) and a dict describing the source for ``BuiltModel.extra``.

    Raises:
        PretrainedWeightsUnavailable: ``pretrained`` and the download failed.
        FileNotFoundError: ``pretrained_path`` is not a file.
    """
    import open_clip

    cfg = _pretrained_cfg(weights)
    checkpoint: str | None = None
    if pretrained_path is not None:
        if not Path(pretrained_path).is_file():
            raise FileNotFoundError(
                f"{model}: pretrained_path {str(pretrained_path)!r} does not exist or is not a file"
            )
        checkpoint = str(pretrained_path)
    elif pretrained:
        # Download first, so a failure is a plain network/hub error (open_clip.create_model would wrap it in a
        # RuntimeError), then let create_model load the file.
        with weights_download(model, f"open_clip {weights.arch}/{weights.tag} ({_weights_source(cfg)})"):
            checkpoint = open_clip.download_pretrained(cfg)
        if not checkpoint:
            raise ValueError(f"{model}: open_clip tag {weights.tag!r} of {weights.arch!r} names no download source")
    # OpenAI's checkpoints were trained with QuickGELU; open_clip 3.x only warns when the model config (GELU)
    # disagrees with the tag. Forced with random weights too, so the architecture is the pretrained one.
    clip = open_clip.create_model(
        weights.arch, pretrained=checkpoint, force_quick_gelu=bool(cfg.get("quick_gelu", False)), **kwargs
    )
    visual = clip.visual
    del clip  # the text tower is never used; only the image tower stays referenced
    size = visual.image_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    input_config = InputConfig(
        size=(int(size[0]), int(size[1])),
        mean=tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        std=tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD)),
        interpolation=cfg.get("interpolation", "bicubic"),
    )
    extra = {
        "open_clip_arch": weights.arch,
        "open_clip_tag": weights.tag,
        "weights": checkpoint if checkpoint else "random",
        "resize_mode": cfg.get("resize_mode", "shortest"),
    }
    return visual, input_config, extra


def clip_output_dim(visual: nn.Module, arch: str) -> int:
    """Size of ``visual(x)``: the tower's ``output_dim``, else the model config's ``embed_dim``."""
    dim = getattr(visual, "output_dim", None)
    if dim is None:
        import open_clip

        dim = open_clip.get_model_config(arch)["embed_dim"]
    return int(dim)


def drop_projection(visual: nn.Module) -> int:
    """Remove the image tower's final projection (``next_to_last``) and return the new feature size.

    Handles open_clip's ``VisionTransformer`` (a ``proj`` parameter; also CLIPA and CoCa towers) and its
    ``TimmModel`` wrapper (EVA02: a projection in ``head.proj`` or the timm trunk's own classifier).
    """
    proj = getattr(visual, "proj", None)
    if isinstance(proj, torch.Tensor):
        dim = int(proj.shape[0])
        visual.proj = None
        return dim
    trunk = getattr(visual, "trunk", None)
    if trunk is not None:
        head_proj = getattr(getattr(visual, "head", None), "proj", None)
        if isinstance(head_proj, nn.Linear):
            visual.head.proj = nn.Identity()
            return head_proj.in_features
        if isinstance(getattr(trunk, "head", None), nn.Linear):
            trunk.reset_classifier(0)
            return int(trunk.num_features)
    raise ValueError(
        f"next_to_last: cannot find the final projection of image tower {type(visual).__name__} "
        "(expected a `proj` parameter or a timm trunk head); use next_to_last=False"
    )


def clip_image_features(visual: nn.Module, x: torch.Tensor, *, normalize: bool) -> torch.Tensor:
    """``visual(x)``, L2-normalised when ``normalize`` (what ``encode_image(x, normalize)`` computes)."""
    out = visual(x)
    if isinstance(out, tuple):  # CoCa towers also return their token embeddings
        out = out[0]
    return F.normalize(out, dim=-1) if normalize else out


def make_channel_linear_head(num_features: int, num_classes: int) -> nn.Linear:
    """The reference's ``ChannelLinear`` on (B, D) features: a Linear with weight ~ N(0, 0.02)."""
    head = nn.Linear(num_features, num_classes)
    nn.init.normal_(head.weight, 0.0, 0.02)
    return head


@register_model(*OPENCLIP_MODELS, factory_name="openclip")
def openclip_factory(
    base_name: str,
    *,
    mode: Mode,
    num_classes: int,
    pretrained: bool,
    pretrained_path: str | None,
    normalize: bool = True,
    next_to_last: bool = False,
    **kwargs: Any,
) -> BuiltModel:
    """OpenCLIP image tower + linear head, frozen (``_probe``) or fine-tuned (``_tune``).

    Args:
        base_name: a key of :data:`OPENCLIP_MODELS`, e.g. ``clipL14commonpool``.
        mode: ``probe`` or ``tune``.
        num_classes: outputs of the head.
        pretrained: download the tag's weights.
        pretrained_path: local whole-CLIP open_clip checkpoint (see :func:`build_clip_visual`).
        normalize: L2-normalise the image embedding before the head.
        next_to_last: drop the final projection and use the tower's width as features.
        **kwargs: passed to ``open_clip.create_model``.
    """
    weights = OPENCLIP_MODELS[base_name]
    visual, input_config, extra = build_clip_visual(
        base_name, weights, pretrained=pretrained, pretrained_path=pretrained_path, **kwargs
    )
    num_features = drop_projection(visual) if next_to_last else clip_output_dim(visual, weights.arch)
    # partial of a module-level function (not a lambda), so the model stays picklable (DDP spawn, deepcopy).
    features_fn = partial(clip_image_features, normalize=normalize)
    head = make_channel_linear_head(num_features, num_classes)
    wrapper = FrozenBackboneProbe if mode == "probe" else BackboneWithHead
    extra.update(normalize=normalize, next_to_last=next_to_last, num_features=num_features)
    return BuiltModel(wrapper(visual, head, features_fn), input_config, "openclip", extra)


__all__ = [
    "OPENCLIP_MODELS",
    "ClipWeights",
    "build_clip_visual",
    "clip_image_features",
    "clip_output_dim",
    "drop_projection",
    "make_channel_linear_head",
    "openclip_factory",
]
