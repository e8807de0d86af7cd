"""iCaRL herding selection of exemplars (spec continual.md section 1.3)."""

from __future__ import annotations

import numpy as np
import torch


def herding_selection(features: np.ndarray | torch.Tensor, m: int, max_iter: int = 1000) -> np.ndarray:
    """Pick ``m`` exemplars of one class by iCaRL herding and return their row indices in rank order.

    Each row is L2-normalised, ``f_n = x_n / (||x_n|| + 1e-8)``, and ``mu = mean_n f_n``. Starting from
    ``w = mu``, each iteration picks ``i = argmax_n <w, f_n>`` (first index on ties), gives ``i`` the next rank
    if it was not picked before, and moves ``w <- w + mu - f_i``. The loop stops once ``min(m, N)`` distinct
    rows are ranked or after ``max_iter`` iterations.

    If the iteration limit is reached first, the remaining slots are filled with the unpicked rows in
    ascending index order, so that exactly ``min(m, N)`` indices come back, as the reference
    (DyTox/LoRAX ``icarl_selection``, which ranks unpicked rows last) does.

    Args:
        features: (N, F) features of the class's candidate samples.
        m: number of exemplars wanted (``m >= 0``).
        max_iter: iteration limit of the herding loop.

    Returns:
        int64 array of ``min(m, N)`` distinct row indices, the herding order first.

    Raises:
        ValueError: if ``features`` is not 2-D or ``m`` / ``max_iter`` is negative.
    """
    if isinstance(features, torch.Tensor):
        features = features.detach().to("cpu", torch.float64).numpy()
    x = np.array(features, dtype=np.float64)  # a copy: the caller's array is never touched
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (N, F); got shape {x.shape}")
    if m < 0 or max_iter < 0:
        raise ValueError(f"m and max_iter must be >= 0; got m={m}, max_iter={max_iter}")
    n = x.shape[0]
    wanted = min(m, n)
    if wanted == 0:
        return np.zeros(0, dtype=np.int64)

    f = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-8)
    mu = f.mean(axis=0)
    w = mu.copy()
    picked = np.zeros(n, dtype=bool)
    order: list[int] = []
    for _ in range(max_iter):
        if len(order) == wanted:
            break
        i = int(np.argmax(f @ w))
        if not picked[i]:
            picked[i] = True
            order.append(i)
        w = w + mu - f[i]
    if len(order) < wanted:
        order.extend(np.flatnonzero(~picked)[: wanted - len(order)].tolist())
    return np.asarray(order, dtype=np.int64)


__all__ = ["herding_selection"]
