"""Image processing without Lightning: decode, the mandatory evaluation chain, crops, training augmentations
and the evaluation cache. Images are RGB uint8 numpy arrays (H, W, 3); randomness comes only from the
``np.random.Generator`` passed in.
"""

from benchmark_pipelines.augmentations.crops import (
    EVAL_CROP_STRATEGIES,
    TRAIN_SIZE_STRATEGIES,
    eval_crops,
    train_size_adapt,
)
from benchmark_pipelines.augmentations.decode import DECODE_MAX_PIXELS, ImageDecodeError, decode_rgb
from benchmark_pipelines.augmentations.eval_cache import EvaluationCache
from benchmark_pipelines.augmentations.jpeg import JPEG_LIBRARIES, jpeg_roundtrip
from benchmark_pipelines.augmentations.mandatory_eval import AIGenBenchV1EvalChain, crop_if_large, sample_rng
from benchmark_pipelines.augmentations.train_augmentations import (
    TRAIN_AUGMENTATION_SETS,
    BaselineTrainAugmentations,
    NoTrainAugmentations,
    SoftTrainAugmentations,
    TrainAugmentations,
    make_train_augmentations,
    train_sample_seed,
)

__all__ = [
    "DECODE_MAX_PIXELS",
    "EVAL_CROP_STRATEGIES",
    "JPEG_LIBRARIES",
    "TRAIN_AUGMENTATION_SETS",
    "TRAIN_SIZE_STRATEGIES",
    "AIGenBenchV1EvalChain",
    "BaselineTrainAugmentations",
    "EvaluationCache",
    "ImageDecodeError",
    "NoTrainAugmentations",
    "SoftTrainAugmentations",
    "TrainAugmentations",
    "crop_if_large",
    "decode_rgb",
    "eval_crops",
    "jpeg_roundtrip",
    "make_train_augmentations",
    "sample_rng",
    "train_sample_seed",
    "train_size_adapt",
]
