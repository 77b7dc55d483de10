"""Re-projection of a depth map into another view, and the covisibility score of a view pair.

Conventions: depth is camera z in metres (0 or non-finite = invalid); K in the pixel-centre
convention; poses are 4x4 OpenCV camera-to-world. A view-1 pixel is visible in view 2 when it
re-projects in front of camera 2, inside the image (nearest pixel centre), and its view-2 z agrees
with view 2's depth there within a relative tolerance (so occluded points do not count).
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
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    pc1 = np.stack([(u - K1[0, 2]) / K1[0, 0] * z, (v - K1[1, 2]) / K1[1, 1] * z, z], axis=-1)
    T = np.linalg.inv(c2w2) @ c2w1  # camera 1 -> camera 2
    pc2 = pc1 @ T[:3, :3].T + T[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        u2 = K2[0, 0] * pc2[..., 0] / pc2[..., 2] + K2[0, 2]
        v2 = K2[1, 1] * pc2[..., 1] / pc2[..., 2] + K2[1, 2]
    return u2, v2, pc2[..., 2], valid


def visible_mask(depth1, K1, c2w1, depth2, K2, c2w2, tol: float = 0.02) -> np.ndarray:
    """(H1, W1) bool: valid view-1 pixels that are seen, unoccluded, by view 2."""
    u2, v2, z2, valid = reproject(depth1, K1, c2w1, K2, c2w2)
    H2, W2 = depth2.shape
    with np.errstate(invalid="ignore"):
        ui = np.floor(u2 + 0.5)
        vi = np.floor(v2 + 0.5)
        inside = valid & (z2 > 0) & (ui >= 0) & (ui < W2) & (vi >= 0) & (vi < H2)
    d2 = np.zeros_like(z2)
    d2[inside] = depth2[vi[inside].astype(np.int64), ui[inside].astype(np.int64)]
    ok = inside & np.isfinite(d2) & (d2 > 0)
    ok &= np.abs(z2 - np.where(ok, d2, 0.0)) <= tol * np.where(ok, z2, 0.0)
    return ok


def covisibility(depth1, K1, c2w1, depth2, K2, c2w2, tol: float = 0.02) -> float:
    """Fraction of valid view-1 pixels visible, unoccluded, in view 2 (0.0 if none is valid)."""
    valid = np.isfinite(depth1) & (depth1 > 0)
    n = int(valid.sum())
    if n == 0:
        return 0.0
    return float(visible_mask(depth1, K1, c2w1, depth2, K2, c2w2, tol).sum()) / n
