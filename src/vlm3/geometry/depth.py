"""Depth kinds (camera z vs ray distance) and sparse depth maps from 3D points.

`z` is the camera-frame Z coordinate, `ray` the Euclidean distance to the camera centre, metres.
For the pixel centre (u, v): ray = z * sqrt(((u - cx) / fx)^2 + ((v - cy) / fy)^2 + 1).
Invalid pixels are 0 (non-finite inputs become 0 as well).
"""

from __future__ import annotations

import numpy as np

from vlm3.geometry.camera import check_K, project


def ray_factor(K, width: int, height: int) -> np.ndarray:
    """(H, W) float64 map of ray / z for every pixel centre of a W x H image."""
    K = check_K(K)
    if int(width) <= 0 or int(height) <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    u = (np.arange(int(width), dtype=np.float64) - K[0, 2]) / K[0, 0]
    v = (np.arange(int(height), dtype=np.float64) - K[1, 2]) / K[1, 1]
    return np.sqrt(u[None, :] ** 2 + v[:, None] ** 2 + 1.0)


def _dense(depth, name: str) -> np.ndarray:
    d = np.asarray(depth)
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"{name} must be a non-empty (H, W) array, got shape {d.shape}")
    d = d.astype(np.float64)
    d[~np.isfinite(d) | (d <= 0)] = 0.0
    return d


def z_to_ray(depth_z, K) -> np.ndarray:
    """Camera-z depth map (H, W) -> ray-distance map (float32); invalid (0/non-finite) -> 0."""
    d = _dense(depth_z, "depth_z")
    return (d * ray_factor(K, d.shape[1], d.shape[0])).astype(np.float32)


def ray_to_z(depth_ray, K) -> np.ndarray:
    """Ray-distance depth map (H, W) -> camera-z map (float32); invalid (0/non-finite) -> 0."""
    d = _dense(depth_ray, "depth_ray")
    return (d / ray_factor(K, d.shape[1], d.shape[0])).astype(np.float32)


def unify_points(points_cam, K_new) -> tuple[np.ndarray, np.ndarray]:
    """Re-project camera-frame points (e.g. lidar) into the unified camera K_new.

    Undistortion and focal unification do not move the camera, so the points stay as they are and
    only their projection changes. Returns (uv (N, 2) float64 pixels, z (N,)); uv is NaN for
    points with z <= 0.
    """
    p = np.asarray(points_cam, dtype=np.float64)
    uv = project(p, K_new)
    return uv, p.reshape(-1, 3)[:, 2].copy()


def sparse_depth_map(points_cam, K, width: int, height: int, kind: str = "z") -> np.ndarray:
    """Rasterise (N, 3) camera-frame points into an (H, W) float32 depth map, 0 = no point.

    Each point lands on the pixel whose centre is nearest to its projection (round(u), round(v));
    points with z <= 0, non-finite coordinates or outside the image are dropped; when several
    points land on one pixel the nearest (smallest stored value) wins. kind "z" stores z, "ray" the distance.
    """
    if kind not in ("z", "ray"):
        raise ValueError(f"kind must be 'z' or 'ray', got {kind!r}")
    W, H = int(width), int(height)
    if W <= 0 or H <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    p = np.asarray(points_cam, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points_cam must have shape (N, 3), got {p.shape}")
    z = p[:, 2]
    p = p[(z > 0) & (z < np.inf) & np.isfinite(p[:, 0]) & np.isfinite(p[:, 1])]  # NaN z fails z > 0
    uv = project(p, K) if len(p) else np.zeros((0, 2))
    # round half up, consistent with the pixel-centre convention (pixel u spans [u-0.5, u+0.5))
    iu = np.floor(uv[:, 0] + 0.5).astype(np.int64)
    iv = np.floor(uv[:, 1] + 0.5).astype(np.int64)
    keep = (iu >= 0) & (iu < W) & (iv >= 0) & (iv < H)
    p, iu, iv = p[keep], iu[keep], iv[keep]
    val = p[:, 2] if kind == "z" else np.linalg.norm(p, axis=1)
    # z-buffer over the hit pixels only (a full-size float64 map would cost 3 passes over ~1 Mpx
    # for ~15 k lidar points): np.minimum.at is unbuffered, so repeated pixels keep the smallest
    # value deterministically; float32 rounding is monotone, so min-then-round = round-then-min.
    out = np.zeros(H * W, np.float32)
    if val.size:
        pix, inv = np.unique(iv * W + iu, return_inverse=True)
        best = np.full(pix.size, np.inf)
        np.minimum.at(best, inv, val)
        best[best == np.inf] = 0.0  # a ray length that overflowed float64
        out[pix] = best
    return out.reshape(H, W)
