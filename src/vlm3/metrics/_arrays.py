"""Input checking shared by the metric modules."""

from __future__ import annotations

import numpy as np


def pred_gt(pred, gt, name_pred="pred", name_gt="gt", positive_gt=True) -> tuple[np.ndarray, np.ndarray]:
    """float64 1-D arrays of equal, non-zero length; gt finite (and > 0 if `positive_gt`)."""
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    g = np.asarray(gt, dtype=np.float64).reshape(-1)
    if p.shape != g.shape:
        raise ValueError(f"{name_pred} has {p.size} values but {name_gt} has {g.size}")
    if g.size == 0:
        raise ValueError(f"{name_gt} is empty: a metric over no points is undefined")
    if not np.all(np.isfinite(g)):
        raise ValueError(f"{name_gt} must be finite (found {int((~np.isfinite(g)).sum())} bad values)")
    if positive_gt and not np.all(g > 0):
        raise ValueError(f"{name_gt} must be > 0 (found {int((g <= 0).sum())} values <= 0)")
    return p, g
