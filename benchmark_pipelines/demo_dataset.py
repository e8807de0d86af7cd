"""The embedded demo dataset: SYNTHETIC images in exactly the AI-GenBench on-disk format.

Nothing here is a real photograph or the output of a real generator. "Real" images are procedural scenes
(smooth colour layouts plus texture) with camera-like sensor noise; each synthetic "generator" renders the
same kind of scene at a lower internal resolution and upsamples it, leaving a periodic upsampling trace of its
own period and strength, with no sensor noise and a small colour bias. Generators are ordered by invented
release dates, and later ones leave weaker traces, so a detector trained on the past has to generalise to a
harder future, as in the real benchmark. It exists so that the suite runs end to end offline in about a minute;
its numbers say nothing about real detectors.

The builder is deterministic: the same arguments give the same images, rows and files.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark_pipelines.aigenbench_dataset import TIMELINE_FILE

DEMO_FORMAT_VERSION = 1


@dataclass(frozen=True)
class DemoGenerator:
    name: str
    date: str
    upscale: int  # internal resolution divisor: the period of the upsampling trace
    trace: float  # strength of the periodic trace, in grey levels
    tint: tuple[float, float, float]  # colour bias, in grey levels
    smooth: float  # how much fine texture the generator loses (0..1)


DEMO_GENERATORS: tuple[DemoGenerator, ...] = (
    DemoGenerator("SynthGAN-A", "2017-02-01", 2, 14.0, (6, -3, -3), 0.6),
    DemoGenerator("SynthGAN-B", "2017-05-10", 4, 12.0, (-4, 5, -1), 0.55),
    DemoGenerator("SynthGAN-C", "2017-09-03", 2, 12.0, (2, 2, -6), 0.5),
    DemoGenerator("SynthGAN-D", "2017-09-03", 4, 11.0, (-5, -2, 6), 0.5),
    DemoGenerator("SynthStyle-E", "2018-03-14", 2, 10.0, (5, 0, -5), 0.45),
    DemoGenerator("SynthStyle-F", "2018-08-21", 4, 9.0, (-3, 4, 0), 0.45),
    DemoGenerator("SynthStyle-G", "2019-01-30", 8, 9.0, (0, -4, 4), 0.4),
    DemoGenerator("SynthStyle-H", "2019-06-12", 2, 8.0, (4, -4, 0), 0.4),
    DemoGenerator("SynthDiff-I", "2020-04-02", 4, 7.0, (-2, -2, 5), 0.35),
    DemoGenerator("SynthDiff-J", "2020-10-19", 8, 7.0, (3, 3, -3), 0.35),
    DemoGenerator("SynthDiff-K", "2021-05-05", 2, 6.0, (-4, 2, 2), 0.3),
    DemoGenerator("SynthDiff-L", "2021-12-24", 4, 6.0, (2, -3, 1), 0.3),
)


def _resize(arr: np.ndarray, w: int, h: int, resample: int) -> np.ndarray:
    return np.asarray(Image.fromarray(arr).resize((w, h), resample), dtype=np.float32)


def _scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A procedural scene: smooth colour layout + mid-frequency texture + a few shapes (float32, 0..255)."""
    k = int(rng.integers(3, 7))
    base = _resize(rng.uniform(20, 235, (k, k, 3)).astype(np.uint8), w, h, Image.BICUBIC)
    tex = rng.normal(128, 40, (max(h // 6, 2), max(w // 6, 2), 3)).clip(0, 255).astype(np.uint8)
    img = 0.75 * base + 0.25 * _resize(tex, w, h, Image.BILINEAR)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(1, 4))):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.1, 0.3) * min(h, w)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2) < r * r
        img[mask] = 0.5 * img[mask] + 0.5 * rng.uniform(0, 255, 3)
    return img


def render_real(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = _scene(rng, h, w)
    fine = rng.normal(0, 10, (h, w, 3)) * 0.5  # fine texture the generators lose
    sensor = rng.normal(0, 5.0, (h, w, 1)) + rng.normal(0, 2.0, (h, w, 3))  # luminance + chroma noise
    return np.clip(img + fine + sensor, 0, 255).round().astype(np.uint8)


def render_fake(rng: np.random.Generator, gen: DemoGenerator, h: int, w: int) -> np.ndarray:
    s = gen.upscale
    hs, ws = max(h // s, 2), max(w // s, 2)
    small = _scene(rng, hs, ws)
    small = small + rng.normal(0, 10, small.shape) * 0.5 * (1 - gen.smooth)
    img = _resize(np.clip(small, 0, 255).astype(np.uint8), w, h, Image.BILINEAR)
    yy, xx = np.mgrid[0:h, 0:w]
    # Transposed-convolution-like periodic trace with period `s`, different phase per channel.
    phase = rng.uniform(0, 2 * np.pi)
    trace = np.cos(2 * np.pi * xx / s + phase) * np.cos(2 * np.pi * yy / s + phase)
    img = img + gen.trace * trace[..., None] * np.array([1.0, 0.8, 1.2]) + np.array(gen.tint)
    img = img + rng.normal(0, 1.0, img.shape)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _features():
    from datasets import ClassLabel, Features, LargeList, Value
    from datasets import Image as HFImage

    text = Value("large_string")
    return Features(
        {
            "image": HFImage(),
            "height": Value("uint32"),
            "width": Value("uint32"),
            "label": ClassLabel(names=["real", "fake"]),
            "generator": text,
            "file_id": text,
            "description": text,
            "positive_prompt": text,
            "negative_prompt": text,
            "conditioning": text,
            "origin_dataset": text,
            "paired_real_images": LargeList(text),
        }
    )


def build_demo_dataset(
    output_path: str | Path,
    *,
    n_generators: int = 12,
    train_per_generator: int = 40,
    val_per_generator: int = 20,
    image_size: tuple[int, int] = (96, 160),
    seed: int = 2024,
    overwrite: bool = False,
) -> Path:
    """Write the synthetic demo dataset as an AI-GenBench-format DatasetDict (train, validation).

    Reals are as many as fakes in each split (the benchmark's balance). Image sides are drawn in
    ``image_size`` (min, max) so images have different sizes, like real generators.
    The folder also gets ``generators_timeline.json`` (the generators' invented release dates) and
    ``demo_info.json`` (the build arguments). Writing is atomic: a temporary folder is renamed at the end.

    Returns the dataset folder. If it already exists with the same build arguments it is reused.
    """
    if not 1 <= n_generators <= len(DEMO_GENERATORS):
        raise ValueError(f"n_generators must be in 1..{len(DEMO_GENERATORS)}, got {n_generators}")
    out = Path(output_path)
    info = {
        "format_version": DEMO_FORMAT_VERSION,
        "n_generators": n_generators,
        "train_per_generator": train_per_generator,
        "val_per_generator": val_per_generator,
        "image_size": list(image_size),
        "seed": seed,
        "synthetic": True,
    }
    info_path = out / "demo_info.json"
    if out.exists() and not overwrite:
        if info_path.is_file() and json.loads(info_path.read_text()) == info:
            return out
        raise FileExistsError(
            f"{out} exists and was not built with these arguments; pass overwrite=True or another path"
        )

    from datasets import Dataset, DatasetDict

    gens = DEMO_GENERATORS[:n_generators]
    splits = {}
    for split_idx, (split, per_gen) in enumerate((("train", train_per_generator), ("validation", val_per_generator))):
        rows: dict[str, list] = {k: [] for k in _features()}

        def add(arr: np.ndarray, label: int, generator: str, file_id: str, rows=rows) -> None:  # noqa: B023
            rows["image"].append({"bytes": _png(arr), "path": None})
            rows["height"].append(arr.shape[0])
            rows["width"].append(arr.shape[1])
            rows["label"].append(label)
            rows["generator"].append(generator)
            rows["file_id"].append(file_id)
            rows["description"].append("synthetic demo image")
            for k in ("positive_prompt", "negative_prompt", "conditioning"):
                rows[k].append("")
            rows["origin_dataset"].append("embedded-demo")
            rows["paired_real_images"].append([])

        lo, hi = image_size
        for g_idx, gen in enumerate(gens):
            for i in range(per_gen):
                rng = np.random.default_rng([seed, split_idx, 1, g_idx, i])
                h, w = (int(v) for v in rng.integers(lo, hi + 1, 2))
                add(render_fake(rng, gen, h, w), 1, gen.name, f"demo/{split}/{gen.name}/{i}")
        for i in range(per_gen * len(gens)):
            rng = np.random.default_rng([seed, split_idx, 0, i])
            h, w = (int(v) for v in rng.integers(lo, hi + 1, 2))
            add(render_real(rng, h, w), 0, "", f"demo-real/{split}/{i}")
        # Interleave reals and fakes deterministically, as a release would not be grouped by class.
        order = np.random.default_rng([seed, split_idx, 2]).permutation(len(rows["label"]))
        rows = {k: [v[j] for j in order] for k, v in rows.items()}
        splits[split] = Dataset.from_dict(rows, features=_features())

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        DatasetDict(splits).save_to_disk(str(tmp / "data"))
        staged = tmp / "data"
        (staged / TIMELINE_FILE).write_text(json.dumps({g.name: g.date for g in gens}, indent=1))
        (staged / "demo_info.json").write_text(json.dumps(info, indent=1))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staged, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


__all__ = ["DEMO_GENERATORS", "DemoGenerator", "build_demo_dataset", "render_fake", "render_real"]
