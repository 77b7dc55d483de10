"""Depth metrics on sparse labelled pixels (DepthLM / VLM3 protocol).

Policy for unparsed answers (docs/CONTRACTS.md, "Score"): a prediction that is NaN (or otherwise
non-finite) means the model's text could not be parsed.
  * delta_k counts it as a failure; the denominator is all points.
  * abs_rel and rmse exclude it (they are means over parsed points only); when nothing parsed they
    return NaN. Report the count of unparsed answers beside them.
A parsed prediction <= 0 is a failure for delta_k (the ratio test is undefined) and is kept in
abs_rel / rmse. gt must be finite and > 0, else ValueError.
delta_k = mean(max(pred / gt, gt / pred) < 1.25**k) (strict <), abs_rel = mean(|pred - gt| / gt),
rmse = sqrt(mean((pred - gt)^2)).
"""

from __future__ import annotations

import numpy as np

from vlm3.metrics._arrays import pred_gt


def delta_correct(pred, gt, k: int = 1) -> np.ndarray:
    """Per point: max(pred/gt, gt/pred) < 1.25**k (False when unparsed or pred <= 0)."""
    p, g = pred_gt(pred, gt)
    ok = np.isfinite(p) & (p > 0)
    ratio = np.full(p.shape, np.inf)
    ratio[ok] = np.maximum(p[ok] / g[ok], g[ok] / p[ok])
    return ratio < 1.25**k


def _delta(pred, gt, k: int) -> float:
    return float(np.mean(delta_correct(pred, gt, k)))


def delta1(pred, gt) -> float:
    """Fraction of points with max(pred/gt, gt/pred) < 1.25; unparsed (NaN) = failure."""
    return _delta(pred, gt, 1)


def delta2(pred, gt) -> float:
    """As delta1 with threshold 1.25^2."""
    return _delta(pred, gt, 2)


def delta3(pred, gt) -> float:
    """As delta1 with threshold 1.25^3."""
    return _delta(pred, gt, 3)


def n_unparsed(pred) -> int:
    """Number of non-finite (unparsed) predictions."""
    return int((~np.isfinite(np.asarray(pred, dtype=np.float64))).sum())


def abs_rel(pred, gt) -> float:
    """mean(|pred - gt| / gt) over parsed (finite) predictions; NaN if none parsed."""
    p, g = pred_gt(pred, gt)
    m = np.isfinite(p)
    return float(np.mean(np.abs(p[m] - g[m]) / g[m])) if m.any() else float("nan")


def rmse(pred, gt) -> float:
    """sqrt(mean((pred - gt)^2)) over parsed (finite) predictions, metres; NaN if none parsed."""
    p, g = pred_gt(pred, gt)
    m = np.isfinite(p)
    return float(np.sqrt(np.mean((p[m] - g[m]) ** 2))) if m.any() else float("nan")
