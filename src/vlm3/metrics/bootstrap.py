"""Deterministic percentile bootstrap confidence intervals over questions."""

from __future__ import annotations

from typing import Callable

import numpy as np

from vlm3.utils import rng_for


def bootstrap_ci(values, stat_fn: Callable, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05):
    """(lo, hi) percentile interval of `stat_fn` over `n_boot` resamples with replacement.

    values: one array-like of per-question values (stat_fn(sample)), or a tuple of equally long
    array-likes resampled jointly by row (stat_fn(*samples)), e.g. (pred, gt) for delta1.
    Resampling indices come from `rng_for(seed, "bootstrap_ci")`, so equal inputs give equal
    intervals on every machine. Resamples whose statistic is NaN (e.g. no parsed answer drawn) are
    dropped before the quantiles (np.nanquantile, linear interpolation); all NaN -> (nan, nan).
    """
    arrays = tuple(np.asarray(v) for v in values) if isinstance(values, tuple) else (np.asarray(values),)
    n = len(arrays[0])
    if n == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if any(len(a) != n for a in arrays):
        raise ValueError(f"all arrays in values must have the same length, got {[len(a) for a in arrays]}")
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    rng = rng_for(seed, "bootstrap_ci")
    idx = rng.integers(0, n, size=(int(n_boot), n))
    stats = np.array([float(stat_fn(*(a[i] for a in arrays))) for i in idx])
    if np.all(np.isnan(stats)):
        return float("nan"), float("nan")
    lo, hi = np.nanquantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
