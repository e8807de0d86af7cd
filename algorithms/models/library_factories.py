"""Factories for whole libraries: every timm model and every torchvision model."""

from __future__ import annotations

from functools import cache

import torch
from torch import nn

from algorithms.models.probe import BackboneWithHead, FrozenBackboneProbe
from algorithms.models.weights import load_local_weights, weights_download
from algorithms.registry import BuiltModel, InputConfig, Mode, register_family


def wrap(backbone: nn.Module, feat_dim: int, *, mode: Mode, num_classes: int, features_fn=None) -> nn.Module:  # noqa: ANN001
    """Put a new ``Linear(feat_dim, num_classes)`` head on a backbone, frozen (probe) or not (tune)."""
    head = nn.Linear(feat_dim, num_classes)
    if mode == "probe":
        return FrozenBackboneProbe(backbone, head, features_fn)
    return BackboneWithHead(backbone, head, features_fn)


# ---------------------------------------------------------------- timm


@cache
def _timm_names() -> frozenset[str]:
    import timm

    return frozenset(timm.list_models())


def _timm_accepts(name: str) -> bool:
    import timm

    return timm.is_model(name)


@register_family("timm", accepts=_timm_accepts, list_names=lambda: sorted(_timm_names()))
def timm_factory(
    base_name: str, *, mode: Mode, num_classes: int, pretrained: bool, pretrained_path: str | None, **kwargs
) -> BuiltModel:
    """Any ``timm.create_model`` name (with an optional ``.pretrained_tag``); the timm head is replaced."""
    import timm
    import timm.data

    use_hub = pretrained and pretrained_path is None
    with weights_download(base_name, f"timm's pretrained source for {base_name!r} (Hugging Face hub 'timm/')"):
        backbone = timm.create_model(base_name, pretrained=use_hub, num_classes=0, **kwargs)
    if pretrained_path is not None:
        load_local_weights(backbone, pretrained_path, model=base_name)
    cfg = timm.data.resolve_data_config({}, model=backbone)
    input_config = InputConfig(
        size=tuple(cfg["input_size"][1:]),
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        interpolation=cfg.get("interpolation", "bilinear"),
    )
    model = wrap(backbone, backbone.num_features, mode=mode, num_classes=num_classes)
    return BuiltModel(model, input_config, "timm")


# ---------------------------------------------------------------- torchvision


@cache
def _torchvision_names() -> frozenset[str]:
    import torchvision

    return frozenset(torchvision.models.list_models(module=torchvision.models))


def _replace_last_linear(module: nn.Module) -> int:
    """Replace the classifier's last Linear by Identity and return its ``in_features``.

    Handles heads that are a Linear (``fc``) or a Sequential ending in a Linear (``classifier`` of
    EfficientNet, ConvNeXt, MobileNet; ``heads`` of ViT), which the reference framework skipped silently.
    """
    for attr in ("fc", "classifier", "head", "heads"):
        head = getattr(module, attr, None)
        if head is None:
            continue
        if isinstance(head, nn.Linear):
            setattr(module, attr, nn.Identity())
            return head.in_features
        if isinstance(head, nn.Sequential):
            for idx in range(len(head) - 1, -1, -1):
                if isinstance(head[idx], nn.Linear):
                    in_features = head[idx].in_features
                    head[idx] = nn.Identity()
                    return in_features
    raise ValueError(
        f"cannot find the classification head of {type(module).__name__} (looked for a Linear in fc/classifier/"
        "head/heads); use its timm equivalent or register a dedicated factory"
    )


@register_family(
    "torchvision", accepts=lambda n: n in _torchvision_names(), list_names=lambda: sorted(_torchvision_names())
)
def torchvision_factory(
    base_name: str, *, mode: Mode, num_classes: int, pretrained: bool, pretrained_path: str | None, **kwargs
) -> BuiltModel:
    """Any ``torchvision.models.get_model`` name, with its default weights when pretrained."""
    import torchvision

    weights = torchvision.models.get_model_weights(base_name).DEFAULT if pretrained and not pretrained_path else None
    with weights_download(base_name, f"torchvision weights {weights} (download.pytorch.org)"):
        backbone = torchvision.models.get_model(base_name, weights=weights, **kwargs)
    if pretrained_path is not None:
        load_local_weights(backbone, pretrained_path, model=base_name)
    feat_dim = _replace_last_linear(backbone)
    tf = torchvision.models.get_model_weights(base_name).DEFAULT.transforms()
    size = getattr(tf, "crop_size", [224])
    input_config = InputConfig(
        size=(size[0], size[-1]),
        mean=tuple(getattr(tf, "mean", (0.485, 0.456, 0.406))),
        std=tuple(getattr(tf, "std", (0.229, 0.224, 0.225))),
        interpolation=str(getattr(tf, "interpolation", "bilinear")).split(".")[-1].lower(),
    )
    return BuiltModel(wrap(backbone, feat_dim, mode=mode, num_classes=num_classes), input_config, "torchvision")


__all__ = ["timm_factory", "torchvision_factory", "wrap"]
_ = torch  # torch is imported for type checkers of wrapped modules
