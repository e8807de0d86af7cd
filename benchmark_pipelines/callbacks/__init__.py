from benchmark_pipelines.callbacks.evaluation_metrics import EvaluationMetrics, metric_generator_name
from benchmark_pipelines.callbacks.predictions_dump import PredictionsDump, timeline_array

__all__ = ["EvaluationMetrics", "PredictionsDump", "metric_generator_name", "timeline_array"]
