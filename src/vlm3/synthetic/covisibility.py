"""Re-projection of a depth map into another view, and the covisibility score of a view pair.

Conventions: depth is camera z in metres (0 or non-finite = invalid); K in the pixel-centre
convention; poses are 4x4 OpenCV camera-to-world. A view-1 pixel is visible in view 2 when it
re-projects in front of camera 2, inside the image, and its view-2 z agrees with view 2's depth
around that point within a relative tolerance (so occluded points do not count).
"""

from __future__ import annotations

import numpy as np


def reproject(depth1: np.ndarray, K1: np.ndarray, c2w1: np.ndarray, K2: np.ndarray,
              c2w2: np.ndarray):
    """Map every pixel of view 1 into view 2.

    Returns (u2, v2, z2, valid1): (H1, W1) float64 pixel coordinates and camera-2 z of the
    unprojected view-1 points, and the mask of valid view-1 depth.
    """
    H, W = depth1.shape
    z = depth1.astype(np.float64)
    valid = np.isfinite(z) & (z > 0)
    z = np.where(valid, z, 0.0)
    x = ((np.arange(W) - K1[0, 2]) / K1[0, 0])[None, :] * z  # camera-1 coordinates
    y = ((np.arange(H) - K1[1, 2]) / K1[1, 1])[:, None] * z
    T = np.linalg.inv(c2w2) @ c2w1  # camera 1 -> camera 2
    x2, y2, z2 = (T[k, 0] * x + T[k, 1] * y + T[k, 2] * z + T[k, 3] for k in range(3))
    with np.errstate(divide="ignore", invalid="ignore"):
        u2 = K2[0, 0] * x2 / z2 + K2[0, 2]
        v2 = K2[1, 1] * y2 / z2 + K2[1, 2]
    return u2, v2, z2, valid


def visible_mask(depth1, K1, c2w1, depth2, K2, c2w2, tol: float = 0.02) -> np.ndarray:
    """(H1, W1) bool: valid view-1 pixels that are seen, unoccluded, by view 2.

    A point re-projected to (u2, v2) inside view 2's image ([-0.5, W2 - 0.5) x [-0.5, H2 - 0.5))
    is visible when its camera-2 z lies within [min * (1 - tol), max * (1 + tol)] of the valid
    view-2 depths at the 2x2 pixel centres around (u2, v2). Comparing with the cell rather than
    the nearest pixel keeps slanted surfaces (a floor at grazing angles) from failing on the
    sub-pixel offset, while a point behind an occluder (all four depths in front) still fails.
    """
    u2, v2, z2, valid = reproject(depth1, K1, c2w1, K2, c2w2)
    H2, W2 = depth2.shape
    with np.errstate(invalid="ignore"):
        inside = valid & (z2 > 0) & (u2 >= -0.5) & (u2 < W2 - 0.5) & (v2 >= -0.5) & (v2 < H2 - 0.5)
    # Work on the whole grid (cheaper than compacting); outside pixels are masked at the end.
    u0 = np.clip(np.floor(np.nan_to_num(u2, nan=0.0, posinf=0.0, neginf=0.0)), 0, max(W2 - 2, 0)).astype(np.int64)
    v0 = np.clip(np.floor(np.nan_to_num(v2, nan=0.0, posinf=0.0, neginf=0.0)), 0, max(H2 - 2, 0)).astype(np.int64)
    du, dv = int(W2 > 1), W2 * int(H2 > 1)
    d2 = depth2.astype(np.float64).ravel()
    ok2 = np.isfinite(d2) & (d2 > 0)
    d_lo, d_hi = np.where(ok2, d2, np.inf), np.where(ok2, d2, -np.inf)
    flat = v0 * W2 + u0
    lo, hi = d_lo[flat], d_hi[flat]
    for off in (du, dv, du + dv):
        lo = np.minimum(lo, d_lo[flat + off])
        hi = np.maximum(hi, d_hi[flat + off])
    with np.errstate(invalid="ignore"):
        seen = (z2 >= lo * (1 - tol)) & (z2 <= hi * (1 + tol))
    return inside & seen


def covisibility(depth1, K1, c2w1, depth2, K2, c2w2, tol: float = 0.02) -> float:
    """Fraction of valid view-1 pixels visible, unoccluded, in view 2 (0.0 if none is valid)."""
    valid = np.isfinite(depth1) & (depth1 > 0)
    n = int(valid.sum())
    if n == 0:
        return 0.0
    return float(visible_mask(depth1, K1, c2w1, depth2, K2, c2w2, tol).sum()) / n
