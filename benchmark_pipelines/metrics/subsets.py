"""Which evaluated images belong to a metric subset (pure numpy/torch, no Lightning)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch


def assigned_generators(generator_ids, identifiers, pairing: Mapping[int, int]):  # noqa: ANN001, ANN201
    """Generator id each image counts for: its own for fakes, the paired generator for reals (-1 if unpaired).

    Works on numpy arrays or torch tensors (returns the same kind).
    """
    is_torch = isinstance(generator_ids, torch.Tensor)
    gen = generator_ids.cpu().numpy() if is_torch else np.asarray(generator_ids)
    ids = identifiers.cpu().numpy() if is_torch else np.asarray(identifiers)
    out = gen.astype(np.int64).copy()
    reals = np.nonzero(gen == 0)[0]
    out[reals] = [pairing.get(int(i), -1) for i in ids[reals]]
    return torch.from_numpy(out).to(generator_ids.device) if is_torch else out


def subset_mask(assigned, generator_ids: Iterable[int] | None):  # noqa: ANN001, ANN201
    """Mask of images in a subset: ``None`` means all images; otherwise assigned generator in the set."""
    if generator_ids is None:
        if isinstance(assigned, torch.Tensor):
            return torch.ones_like(assigned, dtype=torch.bool)
        return np.ones(len(assigned), dtype=bool)
    ids = sorted(set(generator_ids))
    if isinstance(assigned, torch.Tensor):
        return torch.isin(assigned, torch.tensor(ids, dtype=assigned.dtype, device=assigned.device))
    return np.isin(assigned, ids)


__all__ = ["assigned_generators", "subset_mask"]
