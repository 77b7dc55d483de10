"""Relative camera pose, rotation angle, yaw/pitch/roll and translation-direction words.

Conventions (docs/CONTRACTS.md, VLM3's pose_labels.json): OpenCV camera axes, X right, Y down,
Z forward. `cam_to_world` 4x4 matrices; the relative pose of view 2 w.r.t. view 1 is
T_12 = inv(c2w_1) @ c2w_2: its rotation R_12 has camera 2's axes (in camera-1 coordinates) as
columns, its translation is camera 2's centre in camera-1 coordinates.

Yaw/pitch/roll (degrees) are intrinsic yaw -> pitch -> roll about camera 1's body axes:
    R_12 = R_y(yaw) @ R_x(pitch) @ R_z(roll)
with the right-handed elementary rotations R_x, R_y, R_z. Signs, derived from the definitions:
  * yaw about the (down) Y axis, yaw > 0 = turn right: R_y(+a) @ [0, 0, 1] = [sin a, 0, cos a],
    the forward axis swings toward +X (right).
  * pitch about the lateral X axis, pitch > 0 = look up: R_x(+b) @ [0, 0, 1] = [0, -sin b, cos b],
    the forward axis swings toward -Y (up).
  * roll about the optical Z axis, roll > 0 = bank right: R_z(+c) @ [1, 0, 0] = [cos c, sin c, 0],
    the camera's right axis dips toward +Y (down), like an aircraft banking right.
This is scipy's intrinsic "YXZ" sequence. The composition order and signs are checked against VLM3's
released label (yaw 89.60, pitch 2.60, roll 6.07 -> rotation angle 89.6547 deg); any other order
or a flipped roll sign gives 89.93 deg.

Gimbal lock: at pitch = +-90 deg, yaw and roll rotate about the same axis and only their
difference (pitch +90) or sum (pitch -90) is defined; `rotation_to_ypr` then returns roll = 0 and
puts the whole in-plane angle into yaw (scipy's convention). Ranges: yaw, roll in (-180, 180],
pitch in [-90, 90].
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.spatial.transform import Rotation

from vlm3.geometry.rigid import invert_rigid

# A unit-vector component is named in words when |u_i| >= this. 0.25 (about 14.5 degrees off the
# perpendicular plane) turns VLM3's sample (-0.69, +0.02, +0.72) into "left, forward". A unit
# vector always has a component >= 1/sqrt(3) = 0.577, so at least one word is always produced.
DIRECTION_THRESHOLD = 0.25
# Translations shorter than this (metres) have no direction: words "none", unit vector zeros.
MIN_TRANSLATION = 1e-9


def _as_matrix(m, shape, name) -> np.ndarray:
    a = np.asarray(m, dtype=np.float64)
    if a.shape != shape:
        if a.size == int(np.prod(shape)):
            a = a.reshape(shape)
        else:
            raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def _as_rotation(R, name="R") -> np.ndarray:
    R = _as_matrix(R, (3, 3), name)
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-5) or np.linalg.det(R) < 0:
        raise ValueError(f"{name} is not a rotation matrix (R R^T != I or det < 0)")
    return R


def relative_pose(c2w_1, c2w_2) -> np.ndarray:
    """T_12 = inv(c2w_1) @ c2w_2 (4x4): camera 2 in camera 1's frame. Accepts 16-element lists."""
    a = _as_matrix(c2w_1, (4, 4), "c2w_1")
    b = _as_matrix(c2w_2, (4, 4), "c2w_2")
    for name, m in (("c2w_1", a), ("c2w_2", b)):
        if not np.allclose(m[3], [0, 0, 0, 1]):
            raise ValueError(f"{name} last row must be [0, 0, 0, 1], got {m[3].tolist()}")
        _as_rotation(m[:3, :3], f"{name} rotation")
    return invert_rigid(a) @ b


def rotation_angle_deg(R) -> float:
    """Total rotation angle of R in degrees, in [0, 180] (the axis-angle magnitude).

    Uses scipy's quaternion path, accurate near 0 and 180 where arccos((tr - 1) / 2) is not.
    """
    return float(np.degrees(Rotation.from_matrix(_as_rotation(R)).magnitude()))


def ypr_to_rotation(yaw, pitch, roll) -> np.ndarray:
    """R = R_y(yaw) @ R_x(pitch) @ R_z(roll), degrees, see the module docstring for signs."""
    vals = np.array([yaw, pitch, roll], dtype=np.float64)
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"yaw/pitch/roll must be finite, got {vals.tolist()}")
    return Rotation.from_euler("YXZ", vals, degrees=True).as_matrix()


def rotation_to_ypr(R) -> tuple[float, float, float]:
    """(yaw, pitch, roll) degrees of a rotation, inverse of `ypr_to_rotation`.

    At gimbal lock (|pitch| = 90) roll is 0 and yaw carries the in-plane angle.
    """
    rot = Rotation.from_matrix(_as_rotation(R))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Gg]imbal lock.*")
        yaw, pitch, roll = rot.as_euler("YXZ", degrees=True)
    # Report -180 as +180 so the range is (-180, 180].
    yaw = 180.0 if yaw <= -180.0 else float(yaw)
    roll = 180.0 if roll <= -180.0 else float(roll)
    return yaw, float(pitch), roll


def translation_direction(t, threshold: float = DIRECTION_THRESHOLD) -> tuple[str, np.ndarray]:
    """Words and unit vector of a translation in camera-1 axes.

    Words list the significant components (|u_i| >= threshold) in X, Y, Z order:
    x < 0 "left" / x > 0 "right", y < 0 "up" / y > 0 "down", z > 0 "forward" / z < 0 "backward",
    joined by ", ". (-0.69, +0.02, +0.72) -> "left, forward". A translation shorter than
    MIN_TRANSLATION has no direction: returns ("none", zeros(3)).
    """
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    if t.shape != (3,) or not np.all(np.isfinite(t)):
        raise ValueError(f"translation must be 3 finite numbers, got {t.tolist()}")
    if not 0.0 < threshold <= 1.0 / np.sqrt(3.0):
        raise ValueError(f"threshold must be in (0, 1/sqrt(3)], got {threshold}")
    n = float(np.linalg.norm(t))
    if n < MIN_TRANSLATION:
        return "none", np.zeros(3)
    u = t / n
    names = (("left", "right"), ("up", "down"), ("backward", "forward"))
    words = [names[i][1 if u[i] > 0 else 0] for i in range(3) if abs(u[i]) >= threshold]
    return ", ".join(words), u


def translation_words(t, threshold: float = DIRECTION_THRESHOLD) -> str:
    """Just the words of `translation_direction` (name listed in docs/CONTRACTS.md)."""
    return translation_direction(t, threshold)[0]
