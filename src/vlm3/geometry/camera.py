"""Pinhole intrinsics: validation, projection and unprojection.

K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in the pixel-centre convention of docs/CONTRACTS.md
(integer (u, v) are pixel centres, the top-left pixel's centre is (0, 0)). Points are in the
OpenCV camera frame (X right, Y down, Z forward), metres.
"""

from __future__ import annotations

import numpy as np


def check_K(K, name: str = "K") -> np.ndarray:
    """Return K as a float64 3x3 array; ValueError if it is not a finite pinhole matrix.

    Requires fx, fy finite and > 0, cx, cy finite, zero skew and last row [0, 0, 1].
    """
    a = np.asarray(K, dtype=np.float64)
    if a.shape != (3, 3):
        raise ValueError(f"{name} must be a 3x3 matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {a.tolist()}")
    if not (a[0, 0] > 0 and a[1, 1] > 0):
        raise ValueError(f"{name} focal lengths must be > 0, got fx={a[0, 0]}, fy={a[1, 1]}")
    if a[0, 1] != 0 or a[1, 0] != 0 or not np.array_equal(a[2], [0.0, 0.0, 1.0]):
        raise ValueError(f"{name} must be [[fx,0,cx],[0,fy,cy],[0,0,1]] (no skew), got {a.tolist()}")
    return a


def make_K(fx, fy, cx, cy) -> np.ndarray:
    """Build and validate a 3x3 K from its four numbers."""
    return check_K(np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64))


def _points(p, n_cols: int, name: str) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim == 1 and a.size == n_cols:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != n_cols:
        raise ValueError(f"{name} must have shape (N, {n_cols}), got {a.shape}")
    return a


def project(points_cam, K) -> np.ndarray:
    """(N, 3) camera-frame points -> (N, 2) pixel coordinates u = fx x / z + cx, v = fy y / z + cy.

    Points with z <= 0 (behind the camera) get NaN.
    """
    K = check_K(K)
    p = _points(points_cam, 3, "points_cam")
    z = p[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = K[0, 0] * p[:, 0] / z + K[0, 2]
        v = K[1, 1] * p[:, 1] / z + K[1, 2]
    uv = np.stack([u, v], axis=1)
    uv[~(z > 0)] = np.nan
    return uv


def unproject(uv, depth, K, kind: str = "z") -> np.ndarray:
    """(N, 2) pixels + (N,) depth -> (N, 3) camera-frame points.

    kind "z": depth is the camera z; kind "ray": depth is the Euclidean distance to the centre.
    """
    K = check_K(K)
    uv = _points(uv, 2, "uv")
    d = np.asarray(depth, dtype=np.float64).reshape(-1)
    if d.shape[0] != uv.shape[0]:
        raise ValueError(f"depth has {d.shape[0]} values for {uv.shape[0]} pixels")
    rays = np.stack(
        [(uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1], np.ones(len(uv))], axis=1
    )
    if kind == "z":
        return rays * d[:, None]
    if kind == "ray":
        return rays / np.linalg.norm(rays, axis=1, keepdims=True) * d[:, None]
    raise ValueError(f"kind must be 'z' or 'ray', got {kind!r}")
