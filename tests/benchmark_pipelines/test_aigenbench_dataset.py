"""The loader on fixtures in the real release format, including its error cases."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from benchmark_pipelines.aigenbench_dataset import DatasetFormatError, load_aigenbench
from benchmark_pipelines.demo_dataset import _features


def _png(color) -> dict:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": None}


def _rows(gens: list[str]) -> dict:
    feats = _features()
    rows = {k: [] for k in feats}
    for i, g in enumerate(gens):
        rows["image"].append(_png((i, 0, 0)))
        rows["height"].append(8)
        rows["width"].append(8)
        rows["label"].append(0 if g == "" else 1)
        rows["generator"].append(g)
        rows["file_id"].append(f"f{i}")
        for k in ("description", "positive_prompt", "negative_prompt", "conditioning", "origin_dataset"):
            rows[k].append("")
        rows["paired_real_images"].append([])
    return rows


def _write(path, splits: dict[str, list[str]], timeline: dict | None = None, drop: str | None = None):
    from datasets import Dataset, DatasetDict

    dd = {}
    for name, gens in splits.items():
        ds = Dataset.from_dict(_rows(gens), features=_features())
        dd[name] = ds.remove_columns(drop) if drop else ds
    DatasetDict(dd).save_to_disk(str(path))
    if timeline is not None:
        (path / "generators_timeline.json").write_text(json.dumps(timeline))
    return path


def test_loader_keeps_timeline_generators_adds_id_and_aliases_test(tmp_path):
    timeline = {"B-gen": "2020-01-01", "a-gen": "2020-02-01"}
    path = _write(
        tmp_path / "ds",
        {"train": ["B-gen", "", "other", "a-gen", ""], "validation": ["other", "a-gen", "", "B-gen"]},
        timeline,
    )
    with pytest.warns(UserWarning, match="Test split not found"):
        table = load_aigenbench(path)
    train = table.split("train")
    # ID = row position before filtering: "other" (row 2) is dropped, IDs keep their original positions
    assert train.index.tolist() == [0, 1, 3, 4]
    assert train.generator.tolist() == ["B-gen", "", "a-gen", ""]
    assert table.split("validation").index.tolist() == [1, 2, 3]
    assert table.split("test").index.tolist() == table.split("validation").index.tolist()
    assert table.generator_id_to_name == ["", "B-gen", "a-gen"]
    # image bytes are read by row of the filtered split
    img = Image.open(io.BytesIO(train.read_bytes(2)))
    assert np.asarray(img)[0, 0, 0] == 3


def test_default_timeline_is_aigenbench_v1(tmp_path):
    path = _write(tmp_path / "ds", {"train": ["ProGAN", ""], "validation": ["ProGAN", ""]})
    with pytest.raises(DatasetFormatError, match=r"no images of generator\(s\)"):
        load_aigenbench(path)  # the 36 v1 generators are expected


def test_wrong_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*--dataset_path"):
        load_aigenbench(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFormatError, match="no dataset_dict.json"):
        load_aigenbench(tmp_path / "empty")


def test_missing_columns_and_splits_are_named(tmp_path):
    timeline = {"g": "2020-01-01"}
    path = _write(tmp_path / "nocol", {"train": ["g", ""], "validation": ["g", ""]}, timeline, drop="generator")
    with pytest.raises(DatasetFormatError, match=r"lacks column\(s\) \['generator'\]"):
        load_aigenbench(path)
    path = _write(tmp_path / "nosplit", {"train": ["g", ""]}, timeline)
    with pytest.raises(DatasetFormatError, match=r"missing split\(s\) \['validation'\]"):
        load_aigenbench(path)


def test_demo_dataset_is_deterministic_and_in_the_release_format(tmp_path, tiny_demo_path):
    from benchmark_pipelines.demo_dataset import build_demo_dataset

    again = build_demo_dataset(
        tmp_path / "again", n_generators=8, train_per_generator=6, val_per_generator=4, image_size=(40, 64)
    )
    a, b = load_aigenbench(tiny_demo_path), load_aigenbench(again)
    for split in ("train", "validation"):
        sa, sb = a.split(split), b.split(split)
        assert np.array_equal(sa.generator, sb.generator)
        assert all(sa.read_bytes(i) == sb.read_bytes(i) for i in range(0, len(sa), 7))
    assert len(a.generator_id_to_name) == 9
    train = a.split("train")
    assert (train.label == 0).sum() == (train.label == 1).sum() == 48
    from datasets import load_from_disk

    assert set(load_from_disk(str(tiny_demo_path))["train"].column_names) == set(_features())
