from benchmark_pipelines.protocols.sliding_windows import (
    BENCHMARK_TYPES,
    SUBSET_MECHANISMS,
    SlidingWindowsProtocol,
    make_eval_view,
    make_windows,
    select_window_reals,
    subset_generators,
)
from benchmark_pipelines.protocols.step import EvalView, Step

__all__ = [
    "BENCHMARK_TYPES",
    "SUBSET_MECHANISMS",
    "EvalView",
    "SlidingWindowsProtocol",
    "Step",
    "make_eval_view",
    "make_windows",
    "select_window_reals",
    "subset_generators",
]
