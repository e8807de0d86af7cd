"""What is measured and how data flows: datasets, protocols, augmentations, data modules, metrics, callbacks."""

from benchmark_pipelines.aigenbench_dataset import load_aigenbench
from benchmark_pipelines.batch import Batch
from benchmark_pipelines.data.cddb_datamodule import CDDBDataModule
from benchmark_pipelines.data.continual_aigenbench import ContinualAIGenBenchDataModule
from benchmark_pipelines.data.datamodule import (
    AIGenBenchDataModule,
    DemoDatasetConfig,
    EvaluationCacheConfig,
    SlidingWindowsDefinition,
)
from benchmark_pipelines.demo_dataset import build_demo_dataset
from benchmark_pipelines.protocols import SlidingWindowsProtocol, Step
from benchmark_pipelines.sample_table import SampleTable, SplitTable

__all__ = [
    "AIGenBenchDataModule",
    "Batch",
    "CDDBDataModule",
    "ContinualAIGenBenchDataModule",
    "DemoDatasetConfig",
    "EvaluationCacheConfig",
    "SampleTable",
    "SlidingWindowsDefinition",
    "SlidingWindowsProtocol",
    "SplitTable",
    "Step",
    "build_demo_dataset",
    "load_aigenbench",
]
