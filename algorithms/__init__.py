"""What learns: the model registry and factories, the base detector, continual methods."""

from algorithms import models  # noqa: F401  (registers the factories)
from algorithms.base_model import BaseDeepfakeDetectionModel
from algorithms.continual.lightning_modules import ContinualClassifier, FineTuneModel, LoRAXModel
from algorithms.registry import create_model, list_models

__all__ = [
    "BaseDeepfakeDetectionModel",
    "ContinualClassifier",
    "FineTuneModel",
    "LoRAXModel",
    "create_model",
    "list_models",
]
