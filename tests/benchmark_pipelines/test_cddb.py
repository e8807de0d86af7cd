"""CDDB folder loader on a tiny synthetic tree in the real on-disk layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmark_pipelines.cddb import CDDB_SCENARIOS, load_cddb, write_cddb_fixture

TASKS = [("gaugan", 0), ("cyclegan", 1), ("wild", 0)]


@pytest.fixture
def cddb_root(tmp_path: Path) -> Path:
    return write_cddb_fixture(tmp_path / "CDDB", TASKS, n_per_class=2, size=16)


def test_scenarios_match_the_spec() -> None:
    assert [n for n, _ in CDDB_SCENARIOS["easy"]] == ["gaugan", "biggan", "cyclegan", "imle", "deepfake", "crn", "wild"]
    assert [f for _, f in CDDB_SCENARIOS["easy"]] == [0, 0, 1, 0, 0, 0, 0]
    assert CDDB_SCENARIOS["hard"] == [("gaugan", 0), ("biggan", 0), ("wild", 0), ("whichfaceisreal", 0), ("san", 0)]
    long_names = [n for n, _ in CDDB_SCENARIOS["long"]]
    assert long_names[:7] == [n for n, _ in CDDB_SCENARIOS["easy"]]
    assert long_names[7:] == ["glow", "stargan_gf", "stylegan", "whichfaceisreal", "san"]
    assert [f for _, f in CDDB_SCENARIOS["long"]] == [0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0]
    assert {k: 2 * len(v) for k, v in CDDB_SCENARIOS.items()} == {"easy": 14, "hard": 10, "long": 24}


def test_loader_labels_subfolders_and_test_is_val(cddb_root: Path) -> None:
    data = load_cddb(cddb_root, TASKS)
    assert data.tasks == ["gaugan", "cyclegan", "wild"]
    table = data.table
    assert sorted(table.splits) == ["test", "train"]
    for split, folder in (("train", "train"), ("test", "val")):
        rows, info = table.split(split), data.info[split]
        # 2 images x 2 classes, cyclegan twice that (two merged sub-folders)
        assert len(rows) == 4 + 8 + 4 == len(info.paths) == len(info.task_id) == len(info.class_label)
        np.testing.assert_array_equal(rows.index, np.arange(len(rows)))
        np.testing.assert_array_equal(info.class_label, 2 * info.task_id + rows.label)
        np.testing.assert_array_equal(np.bincount(info.class_label), [2, 2, 4, 4, 2, 2])
        assert all(f"/{folder}/" in p for p in info.paths)
        for row in range(len(rows)):
            path = Path(info.paths[row])
            assert path.parent.name == ("1_fake" if rows.label[row] else "0_real")
            assert path.relative_to(cddb_root).parts[0] == data.tasks[info.task_id[row]]
            assert rows.generator[row] == (data.tasks[info.task_id[row]] if rows.label[row] else "")
        cyclegan = [Path(p).parent.parent.name for p, t in zip(info.paths, info.task_id, strict=True) if t == 1]
        assert sorted(set(cyclegan)) == ["sub0", "sub1"]
        assert rows.read_bytes(3) == Path(info.paths[3]).read_bytes()
        assert rows.read_bytes(3)[:8] == b"\x89PNG\r\n\x1a\n"
    assert table.generator_id_to_name == ["", "cyclegan", "gaugan", "wild"]
    assert table.timeline == {"gaugan": "2000-01-01", "cyclegan": "2000-01-02", "wild": "2000-01-03"}
    assert set(table.generator_ids("test").tolist()) == {0, 1, 2, 3}


def test_named_scenario_and_long_timeline(tmp_path: Path) -> None:
    root = write_cddb_fixture(tmp_path, CDDB_SCENARIOS["long"], n_per_class=1, size=8)
    data = load_cddb(root, "long")
    dates = [data.table.timeline[name] for name in data.tasks]
    assert dates == sorted(dates) and len(set(dates)) == 12
    assert int(data.info["train"].class_label.max()) == 23


def test_fixture_is_deterministic_and_fakes_differ(tmp_path: Path) -> None:
    a = load_cddb(write_cddb_fixture(tmp_path / "a", TASKS[:1], n_per_class=3, size=16), TASKS[:1])
    b = load_cddb(write_cddb_fixture(tmp_path / "b", TASKS[:1], n_per_class=3, size=16), TASKS[:1])
    split_a, split_b = a.table.split("train"), b.table.split("train")
    assert [split_a.read_bytes(i) for i in range(6)] == [split_b.read_bytes(i) for i in range(6)]
    assert split_a.read_bytes(0) != split_a.read_bytes(3)


def test_missing_task_folder(cddb_root: Path) -> None:
    shutil.rmtree(cddb_root / "wild")
    with pytest.raises(
        FileNotFoundError,
        match=r"wild/train not found; expected <root>/<task>/\{train,val\}/.*Found at .*cyclegan/, gaugan/",
    ):
        load_cddb(cddb_root, TASKS)


def test_missing_val_split(cddb_root: Path) -> None:
    shutil.rmtree(cddb_root / "gaugan" / "val")
    with pytest.raises(FileNotFoundError, match=r"gaugan/val not found.*Found in .*gaugan: train/"):
        load_cddb(cddb_root, TASKS)


def test_empty_class_folder(cddb_root: Path) -> None:
    for image in (cddb_root / "gaugan" / "train" / "1_fake").iterdir():
        image.unlink()
    (cddb_root / "gaugan" / "train" / "1_fake" / "notes.txt").write_text("not an image")
    with pytest.raises(FileNotFoundError, match=r"gaugan/train/1_fake holds no image"):
        load_cddb(cddb_root, TASKS)


def test_multiclass_without_subfolders_and_flag_mismatch(cddb_root: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"'cyclegan' is marked flat \(flag 0\).*use flag 1.*Found in .*: sub0/, sub1/"
    ):
        load_cddb(cddb_root, [("cyclegan", 0)])
    with pytest.raises(
        FileNotFoundError,
        match=r"'gaugan' is marked multiclass \(flag 1\) but .* has no <sub> folders.*Found in .*: 0_real/, 1_fake/",
    ):
        load_cddb(cddb_root, [("gaugan", 1)])


def test_bad_scenario(cddb_root: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown CDDB scenario 'medium'; expected one of \['easy', 'hard', 'long'\]"):
        load_cddb(cddb_root, "medium")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_cddb(cddb_root / "nowhere", TASKS)
