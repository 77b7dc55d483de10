"""Covisibility of two views: the share of view 1 that view 2 sees, from depth maps and poses.

Definition (the one rule for every dataset, synthetic and real): covisibility(1 -> 2) is the share
of view-1 pixels with valid depth whose 3D point
  * lies in front of camera 2 (camera-2 z > 0),
  * projects inside image 2: (u2, v2) in [-0.5, W2 - 0.5) x [-0.5, H2 - 0.5), i.e. its nearest
    pixel exists, and
  * has a consistent depth there: its camera-2 z lies in [min * (1 - tol), max * (1 + tol)] of the
    valid view-2 depths at the 2x2 pixel centres around (u2, v2).
The 2x2 cell (rather than the nearest pixel) keeps slanted surfaces (a floor at a grazing angle)
from failing on the sub-pixel offset, while a point behind an occluder (all four depths in front)
still fails. View-2 pixels without depth never match: where view 2 has no depth around the point,
nothing says it is seen, so the share is a lower bound (the correspondence QA likewise asks only
about points with view-2 depth). Covisibility therefore needs dense view-2 depth with small holes
(rendered, laser-scan or RGB-D depth); a sparse LiDAR map would score near 0. Not symmetric:
1 -> 2 and 2 -> 1 differ.

Tolerance: `COVISIBILITY_TOL` = 2 % relative depth, the correspondence QA's occlusion tolerance.
Sampling: every view-1 pixel (`stride` 1) or every `stride`-th pixel in both directions (pixels
(i * stride, j * stride)), against view 2's full depth map. To bound memory on large maps, callers
may instead subsample both maps and scale K to the coarse grid (`vlm3.datasets.pairs.scene_pairs`).

Conventions: depth is camera z in metres (0 or non-finite = invalid); K in the pixel-centre
convention (integer coordinates are pixel centres); poses are 4x4 OpenCV camera-to-world.
"""

from __future__ import annotations

import numpy as np

from vlm3.geometry.pose import relative_pose

COVISIBILITY_TOL = 0.02


def reproject(depth1: np.ndarray, K1, c2w1, K2, c2w2, stride: int = 1):
    """Map view-1 pixels (every `stride`-th row and column) into view 2.

    Returns (u2, v2, z2, valid1) on the sampled grid: float64 pixel coordinates and camera-2 z of
    the unprojected view-1 points, and the mask of valid view-1 depth.
    """
    K1, K2 = np.asarray(K1, dtype=np.float64), np.asarray(K2, dtype=np.float64)
    depth1 = np.asarray(depth1)[::stride, ::stride]  # subsample before converting (large maps)
    H, W = depth1.shape
    z = depth1.astype(np.float64)
    valid = np.isfinite(z) & (z > 0)
    z = np.where(valid, z, 0.0)
    x = ((np.arange(W) * stride - K1[0, 2]) / K1[0, 0])[None, :] * z  # camera-1 coordinates
    y = ((np.arange(H) * stride - K1[1, 2]) / K1[1, 1])[:, None] * z
    T = relative_pose(c2w2, c2w1)  # camera 1 in camera 2's frame
    x2, y2, z2 = (T[k, 0] * x + T[k, 1] * y + T[k, 2] * z + T[k, 3] for k in range(3))
    with np.errstate(divide="ignore", invalid="ignore"):
        u2 = K2[0, 0] * x2 / z2 + K2[0, 2]
        v2 = K2[1, 1] * y2 / z2 + K2[1, 2]
    return u2, v2, z2, valid


def visible_mask(depth1, K1, c2w1, depth2, K2, c2w2, tol: float = COVISIBILITY_TOL,
                 stride: int = 1) -> np.ndarray:
    """Bool mask on view 1's sampled grid: valid pixels seen, unoccluded, by view 2 (module rule)."""
    u2, v2, z2, valid = reproject(depth1, K1, c2w1, K2, c2w2, stride)
    depth2 = np.asarray(depth2)
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


def covisibility(depth1, K1, c2w1, depth2, K2, c2w2, tol: float = COVISIBILITY_TOL,
                 stride: int = 1) -> float:
    """Share of valid view-1 pixels (sampled every `stride` px) visible in view 2; 0.0 if none is valid."""
    vis = visible_mask(depth1, K1, c2w1, depth2, K2, c2w2, tol, stride)
    d = np.asarray(depth1)[::stride, ::stride]
    n = int((np.isfinite(d) & (d > 0)).sum())
    if n == 0:
        return 0.0
    return float(vis.sum()) / n
