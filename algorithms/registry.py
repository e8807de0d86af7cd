"""The one model registry (DESIGN.md contract 5).

A model name is ``<base>_<mode>`` with mode ``probe`` (frozen backbone, trained head) or ``tune`` (everything
trains). The base name resolves to exactly one factory, in this documented order, with no trial-and-error:

1. a name registered explicitly with :func:`register_model` (``RN50``, ``clipL14commonpool``, ``dinov2_vitl14``,
   ``efficientnet_lite0``, ...);
2. an explicit library prefix: ``timm/<name>`` or ``torchvision/<name>``;
3. a model family registered with :func:`register_family` whose ``accepts(base)`` is true, in registration
   order (timm before torchvision, so ``resnet50_tune`` is timm's ResNet-50, as in AI-GenBench).

An unknown name raises ``ValueError`` listing close matches. Factory errors propagate unchanged.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from torch import nn

Mode = Literal["probe", "tune"]
MODES: tuple[str, ...] = ("probe", "tune")


@dataclass(frozen=True)
class InputConfig:
    """What the data pipeline needs to feed a backbone."""

    size: tuple[int, int] = (224, 224)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class BuiltModel:
    """What a factory returns: a module mapping images to ``num_classes`` logits, plus its input config."""

    model: nn.Module
    input_config: InputConfig
    factory: str
    extra: dict[str, Any] = field(default_factory=dict)


class Factory(Protocol):
    def __call__(
        self, base_name: str, *, mode: Mode, num_classes: int, pretrained: bool, pretrained_path: str | None, **kwargs
    ) -> BuiltModel: ...


@dataclass(frozen=True)
class _Family:
    name: str
    factory: Factory
    accepts: Callable[[str], bool]
    list_names: Callable[[], list[str]]


_MODELS: dict[str, tuple[str, Factory]] = {}
_FAMILIES: dict[str, _Family] = {}


def register_model(*names: str, factory_name: str | None = None) -> Callable[[Factory], Factory]:
    """Decorator registering a factory under explicit base names (no ``_probe``/``_tune`` suffix)."""

    def decorator(fn: Factory) -> Factory:
        label = factory_name or fn.__name__
        # Check every name before inserting any, so a failed registration leaves the registry unchanged.
        for name in names:
            if name in _MODELS:
                raise ValueError(f"model name {name!r} registered twice ({_MODELS[name][0]} and {label})")
        for name in names:
            _MODELS[name] = (label, fn)
        return fn

    return decorator


def register_family(
    name: str, *, accepts: Callable[[str], bool], list_names: Callable[[], list[str]]
) -> Callable[[Factory], Factory]:
    """Decorator registering a library-wide family (e.g. every timm model) with its own name predicate."""

    def decorator(fn: Factory) -> Factory:
        if name in _FAMILIES:
            raise ValueError(f"model family {name!r} registered twice")
        _FAMILIES[name] = _Family(name, fn, accepts, list_names)
        return fn

    return decorator


def split_model_name(model_name: str) -> tuple[str, Mode]:
    """``"RN50_probe"`` -> ``("RN50", "probe")``. A name without a suffix is an error (say which mode you want)."""
    for mode in MODES:
        suffix = f"_{mode}"
        if model_name.endswith(suffix) and len(model_name) > len(suffix):
            return model_name[: -len(suffix)], mode  # type: ignore[return-value]
    raise ValueError(
        f"model name {model_name!r} must end with '_probe' (frozen backbone, linear head) or '_tune' "
        f"(full fine-tuning), e.g. {model_name}_probe"
    )


def resolve_factory(base_name: str) -> tuple[str, Factory, str]:
    """Return (factory label, factory, base name given to it) for a base name. Raises ValueError if unknown."""
    if base_name in _MODELS:
        label, fn = _MODELS[base_name]
        return label, fn, base_name
    prefix, sep, rest = base_name.partition("/")
    if sep and prefix in _FAMILIES:
        family = _FAMILIES[prefix]
        if not family.accepts(rest):
            raise ValueError(f"{rest!r} is not a {prefix} model{_close_matches_hint(rest, family.list_names())}")
        return family.name, family.factory, rest
    for family in _FAMILIES.values():
        if family.accepts(base_name):
            return family.name, family.factory, base_name
    raise ValueError(f"unknown model {base_name!r}{_close_matches_hint(base_name, list_models())}")


def _close_matches_hint(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return f"{hint}. List the registered names with `python lightning_main.py list_models [PATTERN]`"


def create_model(
    model_name: str,
    *,
    num_classes: int = 1,
    pretrained: bool = True,
    pretrained_path: str | None = None,
    **kwargs: Any,
) -> BuiltModel:
    """Build ``model_name`` (``<base>_probe`` or ``<base>_tune``).

    Args:
        model_name: registered name with its mode suffix.
        num_classes: outputs of the head (1 for binary detection with BCE).
        pretrained: load the library's pretrained weights (from its usual source).
        pretrained_path: a local checkpoint to load instead of downloading.
        **kwargs: factory-specific options (e.g. ``normalize``, ``next_to_last`` for OpenCLIP).
    """
    base, mode = split_model_name(model_name)
    label, factory, base = resolve_factory(base)
    built = factory(
        base, mode=mode, num_classes=num_classes, pretrained=pretrained, pretrained_path=pretrained_path, **kwargs
    )
    built.factory = label
    return built


def list_models(pattern: str | None = None) -> list[str]:
    """Explicitly registered base names plus the names of each family, filtered by an fnmatch pattern."""
    names = set(_MODELS)
    for family in _FAMILIES.values():
        names.update(family.list_names())
    out = sorted(names)
    if pattern:
        out = [n for n in out if fnmatch.fnmatch(n, pattern) or fnmatch.fnmatch(n, f"*{pattern}*")]
    return out


def registered_factories() -> dict[str, list[str]]:
    """factory label -> explicit base names (families map to an empty list)."""
    out: dict[str, list[str]] = {}
    for name, (label, _) in _MODELS.items():
        out.setdefault(label, []).append(name)
    for fam in _FAMILIES:
        out.setdefault(fam, [])
    return out


__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "MODES",
    "BuiltModel",
    "Factory",
    "InputConfig",
    "Mode",
    "create_model",
    "list_models",
    "register_family",
    "register_model",
    "registered_factories",
    "resolve_factory",
    "split_model_name",
]
