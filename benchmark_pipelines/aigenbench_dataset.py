"""Loader for the AI-GenBench release format (an HF ``save_to_disk`` DatasetDict), producing a SampleTable."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np

from benchmark_pipelines.generators import BENCHMARK_GENERATORS, REAL_GENERATOR, make_generator_id_to_name
from benchmark_pipelines.sample_table import SampleTable, SplitTable

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("image", "label", "generator")
TIMELINE_FILE = "generators_timeline.json"


class DatasetFormatError(ValueError):
    """The dataset on disk is not in the expected format."""


def _read_timeline(dataset_path: Path, timeline: dict[str, str] | None) -> dict[str, str]:
    if timeline is not None:
        return dict(timeline)
    path = dataset_path / TIMELINE_FILE
    if path.is_file():
        # Datasets other than AI-GenBench v1 (e.g. the embedded demo) ship their own generator timeline.
        return json.loads(path.read_text())
    return dict(BENCHMARK_GENERATORS)


class _Reader:
    """Picklable image-bytes reader over one split of an arrow dataset (bytes, not decoded PIL images)."""

    def __init__(self, dataset, source: str) -> None:  # noqa: ANN001
        from datasets import Image

        self._ds = dataset.select_columns(["image"]).cast_column("image", Image(decode=False))
        self._rows: np.ndarray | None = None
        self.source = source

    def with_rows(self, rows: np.ndarray) -> _Reader:
        out = object.__new__(_Reader)
        out._ds, out._rows, out.source = self._ds, rows, self.source
        return out

    def __call__(self, row: int) -> bytes:
        pos = int(self._rows[row]) if self._rows is not None else int(row)
        item = self._ds[pos]["image"]
        if item.get("bytes") is not None:
            return item["bytes"]
        if item.get("path"):
            return Path(item["path"]).read_bytes()
        raise ValueError(f"{self.source}: row {pos} has neither image bytes nor a path")


def load_aigenbench(dataset_path: str | Path, *, timeline: dict[str, str] | None = None) -> SampleTable:
    """Load an AI-GenBench DatasetDict saved with ``save_to_disk``.

    Steps (spec aigenbench.md 2.5): ``load_from_disk``; per split, ``ID`` = row position before filtering; keep
    rows whose generator is in the timeline or real (``""``). A missing ``test`` split falls back to
    ``validation`` with a warning. Generator ids: 0 = real, then the sorted names found in ``train``.

    Args:
        dataset_path: folder written by ``DatasetDict.save_to_disk`` (holds ``dataset_dict.json``).
        timeline: generator -> release date. Default: ``<dataset_path>/generators_timeline.json`` if present,
            else the 36 AI-GenBench v1 generators.
    """
    path = Path(dataset_path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"dataset_path {str(path)!r} does not exist. Pass the folder of the AI-GenBench release "
            "(`--dataset_path /data/ai_gen_bench_v1.0.0`), or omit it to build and use the embedded demo dataset"
        )
    if not (path / "dataset_dict.json").is_file():
        raise DatasetFormatError(
            f"{path} is not a Hugging Face DatasetDict saved with save_to_disk (no dataset_dict.json). "
            "Point --dataset_path at the folder that contains dataset_dict.json, train/ and validation/"
        )
    from datasets import DatasetDict, load_from_disk

    dsd = load_from_disk(str(path))
    if not isinstance(dsd, DatasetDict):
        raise DatasetFormatError(f"{path} holds a single Dataset, expected a DatasetDict with train and validation")
    missing_splits = [s for s in ("train", "validation") if s not in dsd]
    if missing_splits:
        raise DatasetFormatError(f"{path}: missing split(s) {missing_splits}; found {sorted(dsd)}")
    timeline = _read_timeline(path, timeline)
    keep = set(timeline) | {REAL_GENERATOR}

    splits: dict[str, SplitTable] = {}
    for name in ("train", "validation", "test"):
        if name not in dsd:
            continue
        ds = dsd[name]
        missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
        if missing:
            raise DatasetFormatError(
                f"{path}: split {name!r} lacks column(s) {missing} (has {ds.column_names}); "
                "the AI-GenBench schema needs image, label and generator"
            )
        generator = np.array(ds["generator"], dtype=object)
        label = np.asarray(ds["label"], dtype=np.int64)
        ids = np.arange(len(ds), dtype=np.int64)  # the ID column: row position before filtering
        rows = np.array([i for i, g in enumerate(generator) if g in keep], dtype=np.int64)
        source = f"{path} [{name}]"
        splits[name] = SplitTable(
            name=name,
            index=ids[rows],
            label=label[rows],
            generator=generator[rows],
            read_bytes=_Reader(ds, source).with_rows(rows),
            source=source,
        )
    if "test" not in splits:
        warnings.warn("Test split not found in the dataset: 'test' uses the validation split", stacklevel=2)
        val = splits["validation"]
        splits["test"] = SplitTable("test", val.index, val.label, val.generator, val.read_bytes, val.source)

    present = set(splits["train"].generator) - {REAL_GENERATOR}
    absent = sorted(set(timeline) - present)
    if absent:
        raise DatasetFormatError(
            f"{path}: the train split has no images of generator(s) {absent[:6]}{'...' if len(absent) > 6 else ''} "
            f"listed in the timeline ({len(timeline)} generators); pass a timeline that matches the data"
        )
    return SampleTable(splits=splits, generator_id_to_name=make_generator_id_to_name(present), timeline=timeline)


__all__ = ["DatasetFormatError", "TIMELINE_FILE", "load_aigenbench"]
