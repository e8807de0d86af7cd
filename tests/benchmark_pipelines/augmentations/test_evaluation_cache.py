"""EvaluationCache: round trip, key isolation, disabled mode, atomic writes, size bound, several processes."""

from __future__ import annotations

import json
import logging
import multiprocessing
import pickle
from pathlib import Path

import numpy as np
import pytest

from benchmark_pipelines.augmentations import EvaluationCache

KEY = EvaluationCache.make_key(
    dataset="ai_gen_bench_v1.0.0",
    split="validation",
    chain_version="aigenbench_v1",
    seed=4321,
    crop_strategy="multicrop",
    input_size=224,
)


def _crops(seed: int, n: int = 5, size: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_get_after_put_returns_identical_bytes(tmp_path):
    cache = EvaluationCache(tmp_path, KEY)
    assert cache.get(12) is None
    crops = _crops(0)
    assert cache.put(12, crops) is True
    got = cache.get(12)
    assert got.dtype == np.uint8 and got.shape == crops.shape
    assert got.tobytes() == crops.tobytes()
    assert cache.put(12, crops) is False  # already stored
    assert cache.get(13) is None

    stored_key = json.loads((cache.folder / "key.json").read_text())
    assert stored_key["key"] == KEY and stored_key["cache_format"] == EvaluationCache.FORMAT_VERSION


def test_any_changed_key_field_misses(tmp_path):
    EvaluationCache(tmp_path, KEY).put(7, _crops(1))
    changes = {
        "dataset": "other_dataset",
        "split": "train",
        "chain_version": "none",
        "seed": 4322,
        "crop_strategy": "resize",
        "input_size": [256, 256],
    }
    folders = {EvaluationCache(tmp_path, KEY).folder}
    for field, value in changes.items():
        changed = EvaluationCache(tmp_path, {**KEY, field: value})
        assert changed.get(7) is None, field
        folders.add(changed.folder)
    assert len(folders) == len(changes) + 1
    # Same key, however written, is the same folder.
    reordered = dict(reversed(list(KEY.items())))
    assert EvaluationCache(tmp_path, {**reordered, "input_size": (224, 224)}).get(7) is not None


def test_disabled_cache_never_stores(tmp_path):
    cache = EvaluationCache(tmp_path / "root", KEY, enabled=False)
    assert cache.put(1, _crops(2)) is False
    assert cache.get(1) is None
    assert not (tmp_path / "root").exists()


def test_writes_leave_no_temporary_files(tmp_path, monkeypatch):
    cache = EvaluationCache(tmp_path, KEY)
    for i in range(5):
        cache.put(i, _crops(i))
    assert _files(cache.folder) == sorted(["key.json", *(f"{i}.npy" for i in range(5))])

    def failing_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        cache.put(99, _crops(99))
    assert "99.npy" not in _files(cache.folder)
    assert not [name for name in _files(cache.folder) if name.endswith(".tmp")]


def test_unreadable_entry_is_a_miss_and_is_replaced(tmp_path, caplog):
    cache = EvaluationCache(tmp_path, KEY)
    cache.put(3, _crops(3))
    (cache.folder / "3.npy").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        assert cache.get(3) is None
    assert "unreadable" in caplog.text
    assert cache.put(3, _crops(3)) is True
    np.testing.assert_array_equal(cache.get(3), _crops(3))


def test_max_bytes_stops_writing_and_logs_once(tmp_path, caplog):
    entry = _crops(0).nbytes + 128
    cache = EvaluationCache(tmp_path, KEY, max_bytes=2 * entry + 10)
    with caplog.at_level(logging.WARNING):
        results = [cache.put(i, _crops(i)) for i in range(5)]
    assert results == [True, True, False, False, False]
    assert sum("reached max_bytes" in record.getMessage() for record in caplog.records) == 1
    np.testing.assert_array_equal(cache.get(1), _crops(1))
    assert cache.get(2) is None
    # A new process (here: a new object) counts what is already on disk.
    assert EvaluationCache(tmp_path, KEY, max_bytes=2 * entry + 10).put(2, _crops(2)) is False


def test_pickled_cache_reads_the_same_entries(tmp_path):
    cache = EvaluationCache(tmp_path, KEY, max_bytes=10**6)
    cache.put(5, _crops(5))
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.folder == cache.folder
    np.testing.assert_array_equal(clone.get(5), _crops(5))


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="JSON-serialisable"):
        EvaluationCache(tmp_path, {"size": object()})
    with pytest.raises(ValueError, match="max_bytes"):
        EvaluationCache(tmp_path, KEY, max_bytes=-1)
    cache = EvaluationCache(tmp_path, KEY)
    with pytest.raises(ValueError, match=r"\(n_crops, H, W, 3\)"):
        cache.put(1, np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        cache.put(1, np.zeros((1, 8, 8, 3), dtype=np.float32))


def _writer(cache: EvaluationCache, ids: list[int]) -> None:
    for i in ids:
        cache.put(i, _crops(i, size=64))


def test_concurrent_writers_from_several_processes(tmp_path):
    cache = EvaluationCache(tmp_path, KEY)
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    # Overlapping id ranges: both processes race on ids 10..29.
    workers = [context.Process(target=_writer, args=(cache, ids)) for ids in (list(range(30)), list(range(10, 40)))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    for i in range(40):
        np.testing.assert_array_equal(cache.get(i), _crops(i, size=64))
    assert not [name for name in _files(cache.folder) if name.endswith(".tmp")]
