"""Training throughput (forward + backward, images/s) of the AI-GenBench baseline backbones.

Each model is built at its real size with random weights (nothing is downloaded), put in train mode, and timed
over ``--steps`` steps of forward, BCE loss and backward under ``torch.autocast`` after ``--warmup`` untimed steps.
No optimizer step is taken: the number measures the model, not the optimizer. Probe models only back-propagate
into the head (their backbone runs under ``no_grad``), which is the point of comparing them with tune models.

Run from the repository root (as a module, so ``algorithms`` is importable)::

    python -m benchmarks.backbone_throughput --device cuda --precision bf16
    python -m benchmarks.backbone_throughput --models RN50_probe --batch 2 --steps 2 --warmup 1 --device cpu
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

try:
    import algorithms.models  # noqa: F401  (registers the factories)
    from algorithms.registry import create_model
except ModuleNotFoundError as err:  # run as a file path instead of a module: say how to run it
    raise SystemExit(f"{err}; run from the repository root with `python -m benchmarks.backbone_throughput`") from err

DEFAULT_MODELS = (
    "RN50_probe",
    "RN50_tune",
    "clipL14commonpool_probe",
    "clipL14commonpool_tune",
    "dinov2_vitl14_probe",
    "dinov2_vitl14_tune",
)
PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass(frozen=True)
class Throughput:
    """One measurement."""

    model: str
    size: tuple[int, int]
    batch: int
    trainable_params: int
    total_params: int
    images_per_s: float
    ms_per_step: float
    peak_memory_gib: float | None


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    model_name: str,
    *,
    device: torch.device,
    precision: str,
    batch: int,
    size: int | None,
    steps: int,
    warmup: int,
) -> Throughput:
    """Build ``model_name`` with random weights and time ``steps`` forward+backward steps.

    Args:
        model_name: a registry name with its ``_probe``/``_tune`` suffix.
        device: where to run.
        precision: ``bf16``, ``fp16`` (autocast) or ``fp32`` (no autocast); parameters stay fp32, as with
            Lightning's ``*-mixed`` precisions.
        batch: images per step.
        size: square input size; ``None`` uses the model's input config (224 for the baselines).
        steps: timed steps.
        warmup: untimed steps first (cuDNN autotuning, allocator warm-up).
    """
    torch.manual_seed(0)
    built = create_model(model_name, pretrained=False)
    model = built.model.to(device)
    model.train()
    height, width = (size, size) if size else built.input_config.size
    images = torch.randn(batch, 3, height, width, device=device)
    labels = torch.randint(0, 2, (batch, 1), device=device).float()
    trainable = [p for p in model.parameters() if p.requires_grad]
    # a probe's frozen backbone is not in model.parameters(); count it through the wrapper's property
    total = sum(p.numel() for p in model.backbone.parameters()) + sum(p.numel() for p in model.head.parameters())
    dtype = PRECISIONS[precision]

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits = model(images)
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels)
        loss.backward()
        for p in trainable:
            p.grad = None

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronize(device)
    elapsed = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return Throughput(
        model=model_name,
        size=(height, width),
        batch=batch,
        trainable_params=sum(p.numel() for p in trainable),
        total_params=total,
        images_per_s=batch * steps / elapsed,
        ms_per_step=1000 * elapsed / steps,
        peak_memory_gib=peak,
    )


def _format_row(r: Throughput) -> str:
    peak = f"{r.peak_memory_gib:8.2f}" if r.peak_memory_gib is not None else f"{'-':>8}"
    return (
        f"{r.model:<28} {r.size[0]:>4}x{r.size[1]:<4} {r.batch:>5} {r.trainable_params / 1e6:>10.2f} "
        f"{r.total_params / 1e6:>9.2f} {r.images_per_s:>9.1f} {r.ms_per_step:>9.1f} {peak}"
    )


def main(argv: Sequence[str] | None = None) -> list[Throughput]:
    """Parse arguments, measure each model in turn and print one table row per model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="registry names with suffix")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="bf16")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=None, help="square input size (default: the model's own)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels

    print(f"device={device} precision={args.precision} steps={args.steps} warmup={args.warmup} (random weights)")
    print(
        f"{'model':<28} {'input':>9} {'batch':>5} {'train(M)':>10} {'total(M)':>9} {'img/s':>9} {'ms/step':>9} "
        f"{'peakGiB':>8}"
    )
    results = []
    for name in args.models:
        try:
            result = measure(
                name,
                device=device,
                precision=args.precision,
                batch=args.batch,
                size=args.size,
                steps=args.steps,
                warmup=args.warmup,
            )
        except torch.cuda.OutOfMemoryError:
            # report and go on with the next model: one that does not fit is itself a result
            print(f"{name:<28} out of GPU memory at batch {args.batch}")
        else:
            results.append(result)
            print(_format_row(result), flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results


if __name__ == "__main__":
    main()
