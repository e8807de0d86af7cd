"""Pretrained-weight loading: local files, and a clear error when a download is impossible."""

from __future__ import annotations

import contextlib
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn


class PretrainedWeightsUnavailable(RuntimeError):
    """Raised when pretrained weights can be neither downloaded nor found locally."""


def _network_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [OSError, ConnectionError, urllib.error.URLError, TimeoutError]
    with contextlib.suppress(ImportError):
        import httpx

        types.append(httpx.TransportError)
    with contextlib.suppress(ImportError):
        from huggingface_hub import errors as hf_errors

        types.extend(
            getattr(hf_errors, n)
            for n in ("HfHubHTTPError", "OfflineModeIsEnabled", "LocalEntryNotFoundError")
            if hasattr(hf_errors, n)
        )
    with contextlib.suppress(ImportError):
        import requests

        types.append(requests.RequestException)
    return tuple(types)


@contextlib.contextmanager
def weights_download(model: str, source: str) -> Iterator[None]:
    """Turn a failed weight download into an error naming the model, the source and the offline fix."""
    try:
        yield
    except _network_error_types() as err:
        raise PretrainedWeightsUnavailable(
            f"could not load pretrained weights for model {model!r} from {source} ({type(err).__name__}: {err}). "
            "If this machine is offline, download the weights elsewhere and pass a local file with "
            "`model.init_args.pretrained_path: /path/to/weights` (a state dict, .pth/.bin/.safetensors), "
            "or put them in the library cache (HF_HOME / TORCH_HOME) and set HF_HUB_OFFLINE=1. "
            "For a run with random weights set `model.init_args.pretrained: false`."
        ) from err


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors``, ``.pth``/``.pt``/``.bin`` or Lightning ``.ckpt`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained_path {str(path)!r} does not exist or is not a file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return obj


def load_local_weights(module: nn.Module, path: str | Path, *, model: str, strict: bool = False) -> None:
    """Load a local state dict into ``module``; with strict=False, report which keys did not match."""
    state = read_state_dict(path)
    result = module.load_state_dict(state, strict=strict)
    own = set(module.state_dict())
    if not own & set(state):
        raise ValueError(
            f"pretrained_path {str(path)!r} shares no parameter names with model {model!r} "
            f"(first keys in file: {list(state)[:3]}, in model: {sorted(own)[:3]})"
        )
    if result.missing_keys:
        import warnings

        warnings.warn(
            f"{model}: {len(result.missing_keys)} parameters not in {path} kept their initial values "
            f"(e.g. {result.missing_keys[:3]})",
            stacklevel=2,
        )


__all__ = ["PretrainedWeightsUnavailable", "load_local_weights", "read_state_dict", "weights_download"]
