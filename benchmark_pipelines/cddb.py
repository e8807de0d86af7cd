"""CDDB (Continual Deepfake Detection Benchmark) folder loader and scenarios (spec continual.md section 2).

On disk (the layout of the CDDB, DyTox and LoRAX loaders)::

    <root>/<task>/{train,val}/[<sub>/]{0_real,1_fake}/<images>

``<sub>`` folders exist only for tasks whose multiclass flag is 1 (e.g. cyclegan); their images are merged
into the task's one real and one fake class. The ``val`` folders are the test sets, as in every reference.

Classes: the reals of task ``k`` are class ``2k`` and its fakes class ``2k + 1``. The :class:`SampleTable`
keeps the binary contract (``label`` 0 real / 1 fake, ``generator`` = task name for fakes, ``""`` for reals);
the task id and the ``2k``/``2k + 1`` class label of each row are in :class:`CDDBSplitInfo`.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark_pipelines.generators import REAL_GENERATOR, make_generator_id_to_name
from benchmark_pipelines.sample_table import SampleTable, SplitTable

_EASY = [("gaugan", 0), ("biggan", 0), ("cyclegan", 1), ("imle", 0), ("deepfake", 0), ("crn", 0), ("wild", 0)]

CDDB_SCENARIOS: dict[str, list[tuple[str, int]]] = {
    "easy": _EASY,
    "hard": [("gaugan", 0), ("biggan", 0), ("wild", 0), ("whichfaceisreal", 0), ("san", 0)],
    "long": [*_EASY, ("glow", 1), ("stargan_gf", 1), ("stylegan", 1), ("whichfaceisreal", 0), ("san", 0)],
}
"""Scenario name -> ordered (task folder, multiclass flag) list (LoRAX ``configs/data/ganfake_*_order.yaml``)."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

# CDDB folders split name -> SampleTable split name: the `val` folders are the test sets.
SPLIT_FOLDERS = {"train": "train", "test": "val"}
CLASS_FOLDERS = ("0_real", "1_fake")
LAYOUT = "<root>/<task>/{train,val}/[<sub>/]{0_real,1_fake}/<images>"

# Tasks have no release dates; the timeline only has to keep the scenario order: task k -> base + k days.
TIMELINE_BASE = datetime.date(2000, 1, 1)


@dataclass(frozen=True)
class CDDBSplitInfo:
    """CDDB columns of one split that the binary SampleTable contract cannot hold, aligned with its rows.

    Attributes:
        task_id: int64 (N,), the task (position in the scenario) of each row.
        class_label: int64 (N,), ``2 * task_id`` for reals, ``2 * task_id + 1`` for fakes.
        paths: the image file of each row.
    """

    task_id: np.ndarray
    class_label: np.ndarray
    paths: list[str]


@dataclass(frozen=True)
class CDDBDataset:
    """A loaded CDDB scenario.

    Attributes:
        table: SampleTable with splits "train" and "test" (the ``val`` folders); IDs are row positions.
        tasks: the task names in scenario order (task ``k`` = ``tasks[k]``).
        info: split name -> per-row task ids, class labels and paths.
    """

    table: SampleTable
    tasks: list[str]
    info: dict[str, CDDBSplitInfo]


class _FileReader:
    """Reads the bytes of a row's file; a plain class so that DataLoader workers can pickle it."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)

    def __call__(self, row: int) -> bytes:
        return Path(self.paths[row]).read_bytes()


def resolve_scenario(scenario: str | Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """A scenario name ("easy", "hard", "long") or an explicit (task, multiclass flag) list, validated."""
    if isinstance(scenario, str):
        try:
            return list(CDDB_SCENARIOS[scenario])
        except KeyError:
            raise ValueError(
                f"unknown CDDB scenario {scenario!r}; expected one of {sorted(CDDB_SCENARIOS)} "
                "or a list of (task_name, multiclass_flag)"
            ) from None
    tasks = [(str(name), int(flag)) for name, flag in scenario]
    if not tasks:
        raise ValueError("the CDDB scenario has no tasks")
    names = [name for name, _ in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"the CDDB scenario repeats tasks: {names}")
    bad = [(name, flag) for name, flag in tasks if flag not in (0, 1)]
    if bad:
        raise ValueError(f"multiclass flags must be 0 or 1; got {bad}")
    return tasks


def load_cddb(root: str | Path, scenario: str | Sequence[tuple[str, int]]) -> CDDBDataset:
    """Load a CDDB scenario from ``<root>/<task>/{train,val}/[<sub>/]{0_real,1_fake}/<images>``.

    Rows are ordered by task (scenario order), then sub-folder (sorted), then real before fake, then file name
    (sorted), so the same tree always gives the same IDs. Images are the files with the extensions in
    ``IMAGE_EXTENSIONS`` (case-insensitive); other files are ignored.

    Args:
        root: the CDDB root folder.
        scenario: "easy", "hard", "long", or a list of (task folder, multiclass flag).

    Returns:
        The SampleTable (generator ids: ``""`` then the task names sorted; timeline: task ``k`` -> 2000-01-01
        plus ``k`` days), the task names and the per-split CDDB columns.

    Raises:
        ValueError: on an unknown scenario.
        FileNotFoundError: if a task, split, sub-folder or class folder is missing or holds no image; the
            message gives the expected layout and what ``root`` contains.
    """
    root = Path(root)
    tasks = resolve_scenario(scenario)
    if not root.is_dir():
        raise FileNotFoundError(f"CDDB root {str(root)!r} is not a folder; expected the layout {LAYOUT}")
    names = [name for name, _ in tasks]
    label_text = scenario if isinstance(scenario, str) else "custom"
    source = f"CDDB {label_text} at {root}"

    splits: dict[str, SplitTable] = {}
    info: dict[str, CDDBSplitInfo] = {}
    for split, folder in SPLIT_FOLDERS.items():
        paths: list[str] = []
        task_ids: list[int] = []
        fake: list[int] = []
        for k, (name, multiclass) in enumerate(tasks):
            split_dir = _existing_dir(root / name / folder, root)
            subs = sorted(p for p in split_dir.iterdir() if p.is_dir())
            flat = any(p.name in CLASS_FOLDERS for p in subs)
            if multiclass and (flat or not subs):
                raise FileNotFoundError(
                    f"CDDB task {name!r} is marked multiclass (flag 1) but {split_dir} has no <sub> folders; "
                    f"expected {LAYOUT} with <sub> folders (use flag 0 for a flat task). "
                    f"Found in {split_dir}: {_listing(split_dir)}. {_root_found(root)}"
                )
            if not multiclass and subs and not flat:
                raise FileNotFoundError(
                    f"CDDB task {name!r} is marked flat (flag 0) but {split_dir} has no 0_real/1_fake, only "
                    f"sub-folders; expected {LAYOUT} (use flag 1 for a task with <sub> folders). "
                    f"Found in {split_dir}: {_listing(split_dir)}. {_root_found(root)}"
                )
            if not multiclass:
                subs = [split_dir]
            for sub in subs:
                for is_fake, class_folder in enumerate(CLASS_FOLDERS):
                    class_dir = _existing_dir(sub / class_folder, root)
                    images = sorted(
                        p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                    )
                    if not images:
                        raise FileNotFoundError(
                            f"CDDB folder {class_dir} holds no image ({', '.join(IMAGE_EXTENSIONS)}); expected "
                            f"{LAYOUT}. {_root_found(root)}"
                        )
                    paths.extend(str(p) for p in images)
                    task_ids.extend([k] * len(images))
                    fake.extend([is_fake] * len(images))
        task_arr = np.asarray(task_ids, dtype=np.int64)
        label = np.asarray(fake, dtype=np.int64)
        generator = np.array(
            [names[k] if f else REAL_GENERATOR for k, f in zip(task_ids, fake, strict=True)], dtype=object
        )
        splits[split] = SplitTable(
            name=split,
            index=np.arange(len(paths), dtype=np.int64),
            label=label,
            generator=generator,
            read_bytes=_FileReader(paths),
            source=f"{source} ({folder} folders)",
        )
        info[split] = CDDBSplitInfo(task_id=task_arr, class_label=2 * task_arr + label, paths=paths)

    timeline = {name: (TIMELINE_BASE + datetime.timedelta(days=k)).isoformat() for k, name in enumerate(names)}
    table = SampleTable(splits=splits, generator_id_to_name=make_generator_id_to_name(names), timeline=timeline)
    return CDDBDataset(table=table, tasks=names, info=info)


def write_cddb_fixture(
    root: str | Path,
    tasks: Sequence[tuple[str, int]],
    n_per_class: int = 4,
    size: int = 32,
    seed: int = 0,
) -> Path:
    """Write a tiny synthetic tree in the CDDB layout (for tests and demos; not real CDDB data).

    Every task gets ``train`` and ``val`` folders with ``n_per_class`` PNGs in ``0_real`` and ``1_fake``
    (per sub-folder ``sub0``/``sub1`` for multiclass tasks). Reals are smooth random colour fields with fine
    noise; fakes are smooth fields with a periodic upsampling-like grid whose period and phase depend on the
    task, plus a task colour tint, so both detection and attribution are learnable. Deterministic in ``seed``.

    Args:
        root: folder to write into (created if needed).
        tasks: (task name, multiclass flag) list.
        n_per_class: images per class (and per sub-folder).
        size: image side in pixels.
        seed: base seed.

    Returns:
        ``root`` as a Path.
    """
    root = Path(root)
    for k, (name, multiclass) in enumerate(resolve_scenario(tasks)):
        subs = ["sub0", "sub1"] if multiclass else [""]
        for s, folder in enumerate(SPLIT_FOLDERS.values()):
            for j, sub in enumerate(subs):
                for is_fake, class_folder in enumerate(CLASS_FOLDERS):
                    out = root / name / folder / sub / class_folder if sub else root / name / folder / class_folder
                    out.mkdir(parents=True, exist_ok=True)
                    for i in range(n_per_class):
                        rng = np.random.default_rng([seed, k, s, j, is_fake, i])
                        img = _fixture_image(rng, size, k, bool(is_fake))
                        buf = io.BytesIO()
                        Image.fromarray(img).save(buf, format="PNG")
                        (out / f"{i:05d}.png").write_bytes(buf.getvalue())
    return root


def _fixture_image(rng: np.random.Generator, size: int, task: int, fake: bool) -> np.ndarray:
    coarse = rng.uniform(40, 215, (4, 4, 3)).astype(np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC), dtype=np.float32)
    if fake:
        period = 2 + task % 3
        yy, xx = np.mgrid[0:size, 0:size]
        grid = ((yy + task) % period == 0) | ((xx + task) % period == 0)
        img += 30.0 * grid[..., None]
        tint = np.array([np.cos(task), np.sin(task), -np.cos(task)], dtype=np.float32) * 15.0
        img += tint
    else:
        img += rng.normal(0.0, 8.0, img.shape)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def _existing_dir(path: Path, root: Path) -> Path:
    if not path.is_dir():
        parent = path.parent
        here = f" Found in {parent}: {_listing(parent)}." if parent.is_dir() and parent != root else ""
        raise FileNotFoundError(f"CDDB folder {path} not found; expected {LAYOUT}.{here} {_root_found(root)}")
    return path


def _listing(folder: Path, limit: int = 30) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    if not names:
        return "(empty)"
    more = f" ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _root_found(root: Path) -> str:
    return f"Found at {root}: {_listing(root)}."


__all__ = [
    "CDDB_SCENARIOS",
    "CLASS_FOLDERS",
    "IMAGE_EXTENSIONS",
    "LAYOUT",
    "SPLIT_FOLDERS",
    "TIMELINE_BASE",
    "CDDBDataset",
    "CDDBSplitInfo",
    "load_cddb",
    "resolve_scenario",
    "write_cddb_fixture",
]
