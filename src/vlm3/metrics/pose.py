"""Relative-pose metrics: rotation / translation-direction errors and AUC@threshold.

Per-pair error = max(rotation angle error, translation direction angle error), degrees.
NaN errors (unparsed answers) count as infinite error, i.e. never below any threshold; the
denominator is always the number of pairs.

Two AUC definitions, both supported and named by `method`:
  * "histogram" (default; VGGT's evaluation, `calculate_auc_np` in facebookresearch/vggt
    evaluation/test_co3d.py, also used by DA3/MapAnything-style benchmarks): errors binned with
    np.histogram into 1-degree bins [0,1), [1,2), ..., [T-1, T] (the last bin closed), histogram
    divided by the number of pairs, AUC = mean of its cumulative sum. It equals the mean over
    t = 1..T of the fraction of pairs with error < t (error <= T for the last), a left Riemann sum
    of the recall curve, so it is usually slightly below the trapezoid value.
  * "trapezoid" (SuperGlue `pose_auc` in magicleap/SuperGluePretrainedNetwork models/utils.py,
    LoFTR/LightGlue `error_auc`): sort errors, recall = (i + 1) / N, prepend (0, 0), cut the curve
    at the threshold (last recall held to the threshold) and integrate with the trapezoid rule,
    divided by the threshold.
Both return a fraction in [0, 1] (multiply by 100 for the paper's percentages).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def _rot(R, name) -> np.ndarray:
    a = np.asarray(R, dtype=np.float64)
    if a.shape != (3, 3) or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a finite 3x3 matrix, got shape {a.shape}")
    return a


def rotation_error_deg(R_pred, R_gt) -> float:
    """Angle of R_pred^T R_gt in degrees, [0, 180] (scipy orthonormalises slightly off inputs)."""
    Rp, Rg = _rot(R_pred, "R_pred"), _rot(R_gt, "R_gt")
    return float(np.degrees(Rotation.from_matrix(Rp.T @ Rg).magnitude()))


def translation_angle_deg(t_pred, t_gt, ambiguous: bool = False) -> float:
    """Angle between translation directions in degrees, [0, 180].

    A zero-length (or non-finite) prediction has no direction: NaN (scored as a failure). A
    zero-length gt raises ValueError. `ambiguous=True` takes min(err, 180 - err) as VGGT does for
    up-to-sign translations; VLM3's answers state the sign, so the default keeps it.
    """
    tp = np.asarray(t_pred, dtype=np.float64).reshape(-1)
    tg = np.asarray(t_gt, dtype=np.float64).reshape(-1)
    if tp.shape != (3,) or tg.shape != (3,):
        raise ValueError(f"translations must have 3 values, got {tp.shape} and {tg.shape}")
    ng = np.linalg.norm(tg)
    if not np.isfinite(ng) or ng < 1e-12:
        raise ValueError(f"t_gt must be finite and non-zero, got {tg.tolist()}")
    npred = np.linalg.norm(tp)
    if not np.isfinite(npred) or npred < 1e-12:
        return float("nan")
    # atan2 of |cross| and dot is accurate at all angles (arccos loses precision near 0 and 180)
    ang = float(np.degrees(np.arctan2(np.linalg.norm(np.cross(tp, tg)), float(tp @ tg))))
    return min(ang, 180.0 - ang) if ambiguous else ang


def pose_error(R_pred, t_pred, R_gt, t_gt, ambiguous: bool = False) -> tuple[float, float]:
    """(rotation error deg, translation direction error deg) of one pair."""
    return rotation_error_deg(R_pred, R_gt), translation_angle_deg(t_pred, t_gt, ambiguous)


def pose_pair_error(R_pred, t_pred, R_gt, t_gt, ambiguous: bool = False) -> float:
    """max of both errors of `pose_error`; NaN if either is NaN."""
    r, t = pose_error(R_pred, t_pred, R_gt, t_gt, ambiguous)
    return float("nan") if np.isnan(r) or np.isnan(t) else max(r, t)


def pose_auc(errors_deg, threshold: float = 30, method: str = "histogram") -> float:
    """AUC of per-pair errors (degrees) up to `threshold`; see the module doc for both methods."""
    e = np.asarray(errors_deg, dtype=np.float64).reshape(-1)
    if e.size == 0:
        raise ValueError("errors_deg is empty: AUC over no pairs is undefined")
    if np.any(e < 0):
        raise ValueError("errors_deg must be >= 0 (NaN allowed for unparsed answers)")
    e = np.where(np.isnan(e), np.inf, e)
    n = float(e.size)
    if method == "histogram":
        T = int(threshold)
        if T != threshold or T < 1:
            raise ValueError(f"histogram AUC needs an integer threshold >= 1, got {threshold!r}")
        hist, _ = np.histogram(e[np.isfinite(e)], bins=np.arange(T + 1))
        return float(np.mean(np.cumsum(hist / n)))
    if method == "trapezoid":
        t = float(threshold)
        if not np.isfinite(t) or t <= 0:
            raise ValueError(f"threshold must be finite and > 0, got {threshold!r}")
        es = np.sort(e)
        recall = np.arange(1, es.size + 1) / n
        es = np.r_[0.0, es]
        recall = np.r_[0.0, recall]
        last = int(np.searchsorted(es, t))
        r = np.r_[recall[:last], recall[last - 1]]
        x = np.r_[es[:last], t]
        return float(np.trapezoid(r, x=x) / t)
    raise ValueError(f"method must be 'histogram' or 'trapezoid', got {method!r}")
