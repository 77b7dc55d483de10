"""SpatialRGPT-Bench metrics (deterministic part; answers are parsed elsewhere).

* Quantitative (distance, horizontal/vertical distance, width, height): a prediction is correct iff
  0.75 * gt <= pred <= 1.25 * gt (inclusive, as the official scorer); unparsed (NaN) = wrong.
  `spatial_abs_rel` = mean |pred - gt| / gt over parsed answers (NaN if none).
* Direction: clock-hour answers; correct iff the circular hour error is <= 1 (12 == 0).
* Qualitative: accuracy of booleans.
"""

from __future__ import annotations

import numpy as np

from vlm3.metrics._arrays import pred_gt


def spatial_quantitative_correct(pred, gt) -> np.ndarray:
    """Boolean array: 0.75 gt <= pred <= 1.25 gt; NaN predictions are False. gt > 0 required."""
    p, g = pred_gt(pred, gt)
    with np.errstate(invalid="ignore"):
        return (p >= 0.75 * g) & (p <= 1.25 * g)


def spatial_abs_rel(pred, gt) -> float:
    """mean(|pred - gt| / gt) over parsed predictions; NaN if none parsed."""
    p, g = pred_gt(pred, gt)
    m = np.isfinite(p)
    return float(np.mean(np.abs(p[m] - g[m]) / g[m])) if m.any() else float("nan")


def clock_hour_error(pred_hour, gt_hour) -> np.ndarray:
    """Circular hour distance in [0, 6] (12 == 0); NaN where the prediction is NaN."""
    p = np.asarray(pred_hour, dtype=np.float64).reshape(-1)
    g = np.asarray(gt_hour, dtype=np.float64).reshape(-1)
    if p.shape != g.shape:
        raise ValueError(f"pred_hour has {p.size} values but gt_hour has {g.size}")
    if not np.all(np.isfinite(g)) or np.any((g < 0) | (g > 12)):
        raise ValueError("gt_hour must be finite clock hours in [0, 12]")
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(p) & ((p < 0) | (p > 12))
    if bad.any():
        raise ValueError(f"pred_hour values must be in [0, 12], got {p[bad].tolist()}")
    d = np.abs(p - g) % 12
    return np.minimum(d, 12 - d)


def clock_correct(pred_hour, gt_hour) -> np.ndarray:
    """Boolean array: circular hour error <= 1; unparsed (NaN) predictions are False."""
    e = clock_hour_error(pred_hour, gt_hour)
    with np.errstate(invalid="ignore"):
        return e <= 1


def accuracy(bools) -> float:
    """Mean of a boolean array (NaN entries are not allowed: score unparsed answers as False)."""
    b = np.asarray(bools).reshape(-1)
    if b.size == 0:
        raise ValueError("accuracy over no answers is undefined")
    if b.dtype != bool:
        if not np.all(np.isin(b, [0, 1])):
            raise ValueError("accuracy expects booleans (or 0/1)")
        b = b.astype(bool)
    return float(b.mean())


spatial_accuracy = accuracy
