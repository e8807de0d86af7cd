"""The evaluation data path: per-sample determinism across workers, the cache, and multicrop end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader

from benchmark_pipelines.aigenbench_dataset import load_aigenbench
from benchmark_pipelines.augmentations import EvaluationCache
from benchmark_pipelines.data.image_datasets import EvalImageDataset, collate_samples
from benchmark_pipelines.protocols import make_eval_view
from lightning_main import cli_main
from tests.conftest import DEMO_PIPELINE, REPO, tiny_fit_args


def _dataset(path, cache=None, strategy="resize", size=(48, 48), rows=None):
    table = load_aigenbench(path)
    view = make_eval_view(table, "validation")
    return EvalImageDataset(
        table.split("validation"),
        view.rows if rows is None else rows,
        table.generator_ids("validation"),
        cropping_strategy=strategy,
        input_size=size,
        cache=cache,
    )


def _all_images(ds, workers: int) -> torch.Tensor:
    loader = DataLoader(ds, batch_size=8, num_workers=workers, collate_fn=collate_samples)
    return torch.cat([b.image for b in loader])


def test_same_bytes_with_0_and_2_workers_and_in_any_order(tiny_demo_path):
    ds = _dataset(tiny_demo_path)
    a, b = _all_images(ds, 0), _all_images(ds, 2)
    assert torch.equal(a, b)
    # a sample's output does not depend on what ran before or on its position in the evaluated subset
    reversed_ds = _dataset(tiny_demo_path, rows=ds.rows[::-1].copy())
    assert torch.equal(_all_images(reversed_ds, 0), a.flip(0))


def test_cache_returns_identical_batches_and_misses_on_any_key_change(tiny_demo_path, tmp_path):
    key = {"dataset": str(tiny_demo_path), "split": "validation", "chain": "aigenbench_v1", "seed": 4321,
           "crop_strategy": "resize", "input_size": [48, 48]}  # fmt: skip
    uncached = _all_images(_dataset(tiny_demo_path), 0)
    first = _all_images(_dataset(tiny_demo_path, cache=EvaluationCache(tmp_path, key)), 0)
    second_ds = _dataset(tiny_demo_path, cache=EvaluationCache(tmp_path, key))
    sample_id = int(second_ds.split.index[second_ds.rows[0]])
    assert second_ds.cache.get(sample_id) is not None  # filled by the first pass
    second = _all_images(second_ds, 2)
    assert torch.equal(first, uncached) and torch.equal(second, uncached)
    for field, value in [("crop_strategy", "crop"), ("input_size", [40, 40]), ("seed", 1), ("chain", "none"),
                         ("split", "test"), ("dataset", "/elsewhere")]:  # fmt: skip
        assert EvaluationCache(tmp_path, {**key, field: value}).get(sample_id) is None, field
    disabled = EvaluationCache(tmp_path, key, enabled=False)
    assert disabled.get(sample_id) is None


def test_multicrop_end_to_end(tmp_path, tiny_demo_path):
    from tests.test_lightning_main import _scalars

    args = tiny_fit_args(tmp_path, tiny_demo_path, "--experiment_info.experiment_id", "mc")
    args[3] = str(REPO / "training_configurations" / "efficientnet_lite0" / "demo_probe_crop.yaml")
    args[args.index("--model.init_args.model_input_size") + 1] = "32"  # images are 40..64 px: five real crops
    assert args[1] == str(DEMO_PIPELINE)
    result = cli_main(["fit", *args])
    assert result.completed == [0, 1]
    logs = _scalars(tmp_path / "experiments_logs")
    for k in (0, 1):
        with np.load(
            tmp_path / "experiments_data" / "experiment_mc" / f"window_{k}" / "predictions_validate_all.npz"
        ) as f:
            d = {key: f[key] for key in f.files}
        n = len(d["fused_scores"])
        assert len(d["crop_scores"]) == 5 * n
        assert np.array_equal(np.bincount(d["crop_to_image_index"]), np.full(n, 5))
        # crop entries map back to their image: same identifier, label, generator
        image_of_crop = d["crop_to_image_index"]
        assert np.array_equal(d["crop_identifiers"], d["fused_identifiers"][image_of_crop])
        assert np.array_equal(d["crop_labels"], d["fused_labels"][image_of_crop])
        # fused score = mean of the crops' probabilities
        fused = np.bincount(image_of_crop, weights=d["crop_scores"]) / 5
        assert np.allclose(fused, d["fused_scores"], atol=1e-6)
        logged = logs["validate_BinaryAUROC_epoch/all"][k][1]
        assert logged == pytest.approx(roc_auc_score(d["fused_labels"], d["fused_scores"]), abs=1e-6)


def test_predict_covers_the_raw_validation_split_with_the_same_samples_as_validate(tmp_path, tiny_demo_path):
    import numpy as np

    from benchmark_pipelines.data.datamodule import AIGenBenchDataModule, EvaluationCacheConfig

    dm = AIGenBenchDataModule(
        dataset_path=str(tiny_demo_path), evaluation_cache=EvaluationCacheConfig(directory=str(tmp_path / "cache"))
    )
    predict = dm.predict_dataloader().dataset
    validate = dm.eval_dataset("validation")
    split = dm.table.split("validation")
    assert len(predict) == len(split) and sorted(predict.rows.tolist()) == list(range(len(split)))
    by_id = {int(split.index[r]): i for i, r in enumerate(predict.rows)}
    for i in range(0, len(validate), 7):
        sample = validate[i]
        same = predict[by_id[sample.identifier]]
        assert same.identifier == sample.identifier and same.label == sample.label
        np.testing.assert_array_equal(same.crops, sample.crops)
