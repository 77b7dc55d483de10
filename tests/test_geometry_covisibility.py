"""The covisibility rule (vlm3.geometry.covisibility) on hand-built views with exact answers."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm3.geometry import COVISIBILITY_TOL, covisibility, reproject, visible_mask

W, H = 8, 6
F, Z = 4.0, 2.0  # a fronto-parallel wall 2 m ahead; 1 m of sideways motion shifts it F * 1 / Z = 2 px


def _K(f=F, cx=(W - 1) / 2, cy=(H - 1) / 2):
    return np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])


def _moved(tx=0.0, ty=0.0, tz=0.0, yaw_deg=0.0):
    """Camera-to-world of a camera at (tx, ty, tz) turned by yaw about its Y axis."""
    a = math.radians(yaw_deg)
    T = np.eye(4)
    T[:3, :3] = [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]]
    T[:3, 3] = tx, ty, tz
    return T


WALL = np.full((H, W), Z)


def test_identity_pose_is_fully_covisible():
    assert covisibility(WALL, _K(), np.eye(4), WALL, _K(), np.eye(4)) == 1.0
    rng = np.random.default_rng(0)
    bumpy = rng.uniform(1.0, 5.0, (H, W))  # any depth map is fully visible from its own camera
    assert covisibility(bumpy, _K(), _moved(3, 1, 2), bumpy, _K(), _moved(3, 1, 2)) == 1.0


def test_camera_looking_away_sees_nothing():
    assert covisibility(WALL, _K(), np.eye(4), WALL, _K(), _moved(yaw_deg=180)) == 0.0
    # turned 90 degrees: the wall is beside camera 2, all points at camera-2 z <= 0 or outside
    assert covisibility(WALL, _K(), np.eye(4), WALL, _K(), _moved(yaw_deg=90)) == 0.0


def test_half_overlap_translation():
    """Camera 2 two metres to the right: view-1 pixel u lands on u - 4; columns 4..7 of 8 stay in."""
    vis = visible_mask(WALL, _K(), np.eye(4), WALL, _K(), _moved(tx=2.0))
    expected = np.zeros((H, W), bool)
    expected[:, 4:] = True
    np.testing.assert_array_equal(vis, expected)
    assert covisibility(WALL, _K(), np.eye(4), WALL, _K(), _moved(tx=2.0)) == 0.5
    # one metre: u -> u - 2, columns 2..7 = 6 of 8; the other way round, columns 0..5
    assert covisibility(WALL, _K(), np.eye(4), WALL, _K(), _moved(tx=1.0)) == 0.75
    assert covisibility(WALL, _K(), _moved(tx=1.0), WALL, _K(), np.eye(4)) == 0.75
    # sampled every 2nd pixel: columns 0, 2, 4, 6 of which 4 and 6 stay in
    assert covisibility(WALL, _K(), np.eye(4), WALL, _K(), _moved(tx=2.0), stride=2) == 0.5


def test_occluder_hides_points_whose_whole_cell_is_in_front():
    """u -> u - 4 lands on pixel centres: the 2x2 cell of u2 is columns u2, u2 + 1. View 2 has
    something 1 m away in columns 0..1: u = 4 (cell 0..1, all occluder) is hidden; u = 5 (cell 1..2)
    still touches the wall, so it counts as seen (the cell tolerates sub-pixel edges)."""
    occl = WALL.copy()
    occl[:, :2] = 1.0
    vis = visible_mask(WALL, _K(), np.eye(4), occl, _K(), _moved(tx=2.0))
    expected = np.zeros((H, W), bool)
    expected[:, 5:] = True
    np.testing.assert_array_equal(vis, expected)
    assert covisibility(WALL, _K(), np.eye(4), occl, _K(), _moved(tx=2.0)) == 3 / 8
    occl[:, :3] = 1.0  # now u = 5's cell (columns 1..2) is all occluder too
    assert covisibility(WALL, _K(), np.eye(4), occl, _K(), _moved(tx=2.0)) == 2 / 8


def test_occlusion_and_tolerance_on_crafted_depth():
    """Same pose, view 2's principal point shifted by (+0.5, +0.5) px: view-1 pixel (u, v) lands
    at (u + 0.5, v + 0.5), the middle of view 2's cell of pixels u..u+1 x v..v+1."""
    W, H = 64, 48
    T = np.eye(4)
    K1 = _K(50, 31.5, 23.5)
    K2 = _K(50, 32.0, 24.0)
    d1 = np.full((H, W), 5.0, np.float32)
    d2 = d1.copy()
    d2[10:20, 5:25] = 2.0  # an occluder (rows 10..19, cols 5..24) in view 2 only
    # In the image: u + 0.5 < W - 0.5 drops the last column and row -> 63 x 47 pixels; hidden:
    # pixels whose whole cell is occluder, rows 10..18 x cols 5..23 = 9 x 19.
    assert covisibility(d1, K1, T, d2, K2, T) == pytest.approx((63 * 47 - 9 * 19) / (H * W))
    # Relative depth tolerance (COVISIBILITY_TOL, 2 %): 1 % off passes, 3 % off does not.
    assert COVISIBILITY_TOL == 0.02
    assert covisibility(d1, K1, T, d1 * 1.01, K2, T) == pytest.approx(63 * 47 / (H * W))
    assert covisibility(d1, K1, T, d1 * 1.03, K2, T) == 0.0
    assert covisibility(d1, K1, T, d1 * 1.03, K2, T, tol=0.05) == pytest.approx(63 * 47 / (H * W))
    # Invalid view-1 pixels are not counted; invalid view-2 pixels never match.
    d1[:, :32] = 0.0
    d2 = np.full((H, W), 5.0, np.float32)
    d2[:, 48:] = np.inf
    # Valid view-1 columns 32..63; visible: cells touching a finite column (u <= 47), rows 0..46.
    assert covisibility(d1, K1, T, d2, K2, T) == pytest.approx(16 * 47 / (32 * H))
    assert covisibility(np.zeros((H, W)), K1, T, d2, K2, T) == 0.0


def test_stride_samples_the_view1_grid():
    """stride s keeps pixels (i s, j s) of view 1 and tests them against view 2's full map."""
    rng = np.random.default_rng(1)
    d1 = rng.uniform(1.5, 2.5, (H, W))
    c2w2 = _moved(tx=0.3, yaw_deg=5)
    full = visible_mask(d1, _K(), np.eye(4), WALL, _K(), c2w2, tol=0.1)  # a mix of seen and not
    sub = visible_mask(d1, _K(), np.eye(4), WALL, _K(), c2w2, tol=0.1, stride=2)
    np.testing.assert_array_equal(sub, full[::2, ::2])
    assert 0 < sub.sum() < sub.size
    assert covisibility(d1, _K(), np.eye(4), WALL, _K(), c2w2, tol=0.1, stride=2) == sub.sum() / sub.size


@settings(max_examples=30, deadline=None)
@given(f=st.floats(20, 200), z=st.floats(0.5, 50), dz=st.floats(-0.4, 0.4),
       yaw=st.floats(-math.pi, math.pi), tx=st.floats(-5, 5))
def test_reproject_identity_and_forward_motion(f, z, dz, yaw, tx):
    c2w = _moved(tx=tx, yaw_deg=math.degrees(yaw))
    depth = np.full((6, 8), z, np.float32)
    K = np.array([[f, 0, 3.7], [0, f, 2.2], [0, 0, 1.0]])
    u2, v2, z2, valid = reproject(depth, K, c2w, K, c2w)
    u, v = np.meshgrid(np.arange(8.0), np.arange(6.0))
    assert valid.all()
    np.testing.assert_allclose(u2, u, atol=1e-9 * f * 50)
    np.testing.assert_allclose(v2, v, atol=1e-9 * f * 50)
    np.testing.assert_allclose(z2, np.float32(z), rtol=1e-12)
    # Camera 2 moved forward by dz * z along its optical axis: z shrinks, pixels scale about (cx, cy).
    c2w2 = c2w.copy()
    c2w2[:3, 3] += c2w[:3, 2] * dz * z
    u2, v2, z2, _ = reproject(depth, K, c2w, K, c2w2)
    zf = float(np.float32(z))
    np.testing.assert_allclose(z2, zf - dz * z, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(u2, (u - 3.7) * zf / (zf - dz * z) + 3.7, rtol=1e-9, atol=1e-7)
