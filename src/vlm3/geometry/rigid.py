"""Rigid transforms: a 4x4 matrix from (R, t), its inverse, and rotations from quaternions.

Conventions (docs/CONTRACTS.md): 4x4 row-major float64 matrices [[R, t], [0, 0, 0, 1]], metres.
The loaders build `cam_to_world` with these; `vlm3.geometry.pose.relative_pose` and the
covisibility test (`vlm3.geometry.covisibility`) move points between cameras with `invert_rigid`.

`invert_rigid` is the exact transpose formula [[R^T, -R^T t], [0, 1]], not `np.linalg.inv` and not
scipy's `RigidTransform.inv()` (which re-orthonormalises R through a quaternion): the pose QA's
answers are computed from it and must stay bit-for-bit the same. Quaternions go through scipy's
`Rotation`.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def rigid_matrix(R, t) -> np.ndarray:
    """4x4 [[R, t], [0, 0, 0, 1]] from a 3x3 rotation and a 3-vector."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.asarray(t, dtype=np.float64).ravel()
    return T


def invert_rigid(T) -> np.ndarray:
    """Inverse of a 4x4 rigid transform: [[R^T, -R^T t], [0, 0, 0, 1]] (16-element lists accepted)."""
    T = np.asarray(T, dtype=np.float64).reshape(4, 4)
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def quat_to_rotation(w: float, x: float, y: float, z: float) -> np.ndarray:
    """3x3 rotation of a quaternion given scalar-first (w, x, y, z), normalised first.

    COLMAP, nuScenes, DDAD and Argoverse 2 store quaternions scalar-first; TartanAir stores
    (qx, qy, qz, qw), so its loader passes them reordered.
    """
    q = np.array([w, x, y, z], dtype=np.float64)
    n = np.linalg.norm(q)
    if not np.isfinite(n) or n == 0:
        raise ValueError(f"degenerate quaternion {q.tolist()}")
    return Rotation.from_quat(q, scalar_first=True).as_matrix()
