"""Model factories. Importing this package registers them (the only import-time side effect)."""

from algorithms.models import (  # noqa: F401  (registration)
    convit,
    dinov2,
    efficientnet_lite0,
    library_factories,
    openai_clip,
    openclip_models,
)
from algorithms.models.probe import BackboneWithHead, FrozenBackboneProbe, infer_feature_dim
from algorithms.models.weights import PretrainedWeightsUnavailable, load_local_weights, weights_download

__all__ = [
    "BackboneWithHead",
    "FrozenBackboneProbe",
    "PretrainedWeightsUnavailable",
    "infer_feature_dim",
    "load_local_weights",
    "weights_download",
]
