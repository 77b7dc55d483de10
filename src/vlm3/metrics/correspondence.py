"""Correspondence metrics: end-point error and PCK.

pred and gt are (N, 2) points in one coordinate frame (pixels of the second image, or the [0, 1000]
normalised text coordinates: the caller picks and documents the frame; the paper rescales to the
UFM protocol's range, whose exact rescaling is unpublished). A row with any NaN in pred is an
unparsed answer:
  * `epe` is the mean L2 error over parsed rows only (NaN if none parsed) - report `n_unparsed`;
  * `pck` counts unparsed rows as failures, denominator = all rows: PCK@t = mean(err < t) (strict).
"""

from __future__ import annotations

import numpy as np


def _pairs(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).reshape(-1, 2) if np.size(pred) else np.zeros((0, 2))
    g = np.asarray(gt, dtype=np.float64).reshape(-1, 2) if np.size(gt) else np.zeros((0, 2))
    if p.shape != g.shape:
        raise ValueError(f"pred has shape {p.shape} but gt has {g.shape}; both must be (N, 2)")
    if len(g) == 0:
        raise ValueError("gt is empty: a metric over no points is undefined")
    if not np.all(np.isfinite(g)):
        raise ValueError("gt points must be finite")
    return p, g


def point_errors(pred, gt) -> np.ndarray:
    """(N,) L2 distances; NaN where the prediction is unparsed (any NaN/inf coordinate)."""
    p, g = _pairs(pred, gt)
    err = np.linalg.norm(p - g, axis=1)
    err[~np.all(np.isfinite(p), axis=1)] = np.nan
    return err


def epe(pred, gt) -> float:
    """Mean end-point error over parsed predictions; NaN when none parsed."""
    err = point_errors(pred, gt)
    m = np.isfinite(err)
    return float(err[m].mean()) if m.any() else float("nan")


def pck(pred, gt, thresholds) -> dict[float, float]:
    """{t: fraction of rows with error < t} for each threshold; unparsed rows count as failures."""
    err = point_errors(pred, gt)
    ts = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if ts.size == 0 or not np.all(np.isfinite(ts)) or np.any(ts <= 0):
        raise ValueError(f"thresholds must be finite and > 0, got {ts.tolist()}")
    e = np.where(np.isfinite(err), err, np.inf)
    return {float(t): float(np.mean(e < t)) for t in ts}
