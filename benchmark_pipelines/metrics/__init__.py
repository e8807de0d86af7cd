from benchmark_pipelines.metrics.balanced_accuracy import BalancedBinaryAccuracy, balanced_binary_accuracy
from benchmark_pipelines.metrics.subsets import assigned_generators, subset_mask

__all__ = ["BalancedBinaryAccuracy", "assigned_generators", "balanced_binary_accuracy", "subset_mask"]
