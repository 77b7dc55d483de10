"""Normalised text coordinates for pixels and boxes (VLM3's prompt/answer conventions).

Points: x_n = round(x / W * scale), clipped to the released range of that scale (`point_max`):
depth pixels [0, 2000), clipped to 1999 (VLM3/DepthLM "coord2k" depth labels); correspondence
pixels [0, 1000], closed as in VLM3's released correspondence labels (x = 1023.9 in a 1024-wide
image -> round(999.9) = 1000). Other scales are half-open, [0, scale).
Boxes use [0, 1000] with truncation: int(x / W * 1000), as in VLM3's released SpatialRGPT labels.
Pixel coordinates follow docs/CONTRACTS.md: integer (u, v) name pixel centres, top-left is (0, 0).
Both formulas are evaluated literally in float64 in the published order (x / W * scale), with
Python's `round` (half to even, as numpy's) and `int` (truncation), so results match a Python
implementation of the paper's formula bit for bit, exact .5 cases included (x = 1, W = 800:
2.5 -> 2; x = 3: 7.5 -> 8).
"""

from __future__ import annotations

import math

import numpy as np


def _check_size(width, height, name="width/height") -> tuple[float, float]:
    w, h = float(width), float(height)
    if not (math.isfinite(w) and math.isfinite(h)) or w <= 0 or h <= 0:
        raise ValueError(f"{name} must be finite and > 0, got width={width!r}, height={height!r}")
    return w, h


def _check_scale(scale) -> int:
    if int(scale) != scale or scale <= 0:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    return int(scale)


def _finite(name: str, *vals) -> None:
    for v in vals:
        if not math.isfinite(float(v)):
            raise ValueError(f"{name} must be finite, got {vals!r}")


# Scales whose released range includes `scale` itself: VLM3's correspondence labels, [0, 1000].
CLOSED_SCALES = frozenset({1000})


def point_max(scale: int) -> int:
    """The largest normalised point coordinate of `scale`: `scale` for the closed released ranges
    (`CLOSED_SCALES`: correspondence [0, 1000]), else `scale - 1` (depth [0, 2000))."""
    s = _check_scale(scale)
    return s if s in CLOSED_SCALES else s - 1


def normalize_point(x, y, width, height, scale: int = 2000) -> tuple[int, int]:
    """Pixel (x, y) of a W x H image -> integers round(x / W * scale), clipped to [0, point_max(scale)].

    Depth's [0, 2000) clips a sub-pixel input near the right/bottom edge that rounds to 2000 to
    1999; correspondence's [0, 1000] keeps 1000 there, as VLM3's released formula gives it.
    Check: (10, 488) in 1215x920 -> (16, 1061).
    """
    w, h = _check_size(width, height)
    s = _check_scale(scale)
    top = point_max(s)
    _finite("point (x, y)", x, y)
    xn = round(float(x) / w * s)
    yn = round(float(y) / h * s)
    return int(min(max(xn, 0), top)), int(min(max(yn, 0), top))


def denormalize_point(xn, yn, width, height, scale: int = 2000) -> tuple[float, float]:
    """Inverse of `normalize_point`: xn / scale * W (float pixel coordinates, not rounded).

    `normalize_point(*denormalize_point(xn, yn, W, H), W, H) == (xn, yn)` for integers in range.
    """
    w, h = _check_size(width, height)
    s = _check_scale(scale)
    _finite("normalised point (xn, yn)", xn, yn)
    return float(xn) / s * w, float(yn) / s * h


def normalize_box(box, width, height, scale: int = 1000) -> tuple[int, int, int, int]:
    """Pixel box [x1, y1, x2, y2] -> ints in [0, scale]: int(x / W * scale) (truncation).

    Truncation (not rounding) matches VLM3's released labels (740 / 1134 * 1000 = 652.6 -> 652).
    Negative inputs are clipped to 0 and results to `scale`.
    """
    w, h = _check_size(width, height)
    s = _check_scale(scale)
    b = [float(v) for v in box]
    if len(b) != 4:
        raise ValueError(f"box must have 4 values [x1, y1, x2, y2], got {box!r}")
    _finite("box", *b)
    out = [b[0] / w * s, b[1] / h * s, b[2] / w * s, b[3] / h * s]
    return tuple(min(max(int(v), 0), s) for v in out)  # type: ignore[return-value]


def denormalize_box(box_n, width, height, scale: int = 1000) -> tuple[float, float, float, float]:
    """Inverse of `normalize_box`: the centre of each truncation bin, (v + 0.5) / scale * W,
    capped at W (floats; v = scale maps to W).

    `normalize_box(denormalize_box(b, W, H), W, H) == b` for integer boxes in [0, scale].
    """
    w, h = _check_size(width, height)
    s = _check_scale(scale)
    b = [float(v) for v in box_n]
    if len(b) != 4:
        raise ValueError(f"box must have 4 values [x1, y1, x2, y2], got {box_n!r}")
    _finite("normalised box", *b)
    return (
        min((b[0] + 0.5) / s * w, w),
        min((b[1] + 0.5) / s * h, h),
        min((b[2] + 0.5) / s * w, w),
        min((b[3] + 0.5) / s * h, h),
    )


def normalize_points(xy, width, height, scale: int = 2000) -> np.ndarray:
    """Vectorised `normalize_point` for an (N, 2) array; returns int64 (N, 2)."""
    w, h = _check_size(width, height)
    s = _check_scale(scale)
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(xy)):
        raise ValueError("points must be finite")
    n = np.round(xy / np.array([w, h]) * s)  # half to even, like Python's round
    return np.clip(n, 0, point_max(s)).astype(np.int64)
