"""Classical expert geometry: SIFT transfer on a known homography, pose from exact projections."""

import cv2
import numpy as np
import pytest

from vlm3.baselines import geometry_expert as ge


def _texture(h=192, w=256, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 2.0)
    img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return np.dstack([img] * 3)


H = np.array([[1.04, 0.05, -6.0], [-0.04, 1.02, 4.0], [0.0, 0.0, 1.0]])


def _apply(Hm, p):
    v = Hm @ np.array([p[0], p[1], 1.0])
    return v[:2] / v[2]


def test_sift_transfer_on_homography():
    img1 = _texture()
    img2 = cv2.warpPerspective(img1, H, (256, 192), flags=cv2.INTER_LINEAR)
    p1, p2 = ge.sift_matches(img1, img2)
    assert len(p1) > 50
    i1, i2, F = ge.fundamental_inliers(p1, p2, seed=0)
    assert len(i1) > 40
    errs = []
    for q in [(60.0, 50.0), (128.0, 96.0), (200.0, 140.0), (90.0, 150.0)]:
        errs.append(np.linalg.norm(ge.transfer_point(np.array(q), i1, i2, F) - _apply(H, q)))
        # without F (pure local affine) it is as good on a plane
        assert np.linalg.norm(ge.transfer_point(np.array(q), i1, i2) - _apply(H, q)) < 1.0
    assert max(errs) < 1.0
    # deterministic
    again = ge.fundamental_inliers(*ge.sift_matches(img1, img2), seed=0)
    assert np.array_equal(again[0], i1) and np.array_equal(again[2], F)


def test_transfer_fallbacks():
    q = np.array([10.0, 20.0])
    assert np.array_equal(ge.transfer_point(q, np.zeros((0, 2)), np.zeros((0, 2))), q)
    # two neighbours: mean displacement (3, -1) and (5, 1) -> (4, 0)
    a = np.array([[0.0, 0.0], [1.0, 1.0]])
    b = a + np.array([[3.0, -1.0], [5.0, 1.0]])
    assert np.allclose(ge.transfer_point(q, a, b), [14.0, 20.0])
    # collinear neighbours fall back to the mean displacement too
    a = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    assert np.allclose(ge.transfer_point(q, a, a + [2.0, 2.0]), [12.0, 22.0])
    # an exact affine map is reproduced
    A = np.array([[1.1, 0.2], [-0.1, 0.9]])
    a = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
    b = a @ A.T + [7.0, -3.0]
    assert np.allclose(ge.transfer_point(q, a, b), A @ q + [7.0, -3.0])
    # epipolar projection: line y = 20 (F q = (0, 1, -20)) moves the estimate onto it
    F = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    F = np.zeros((3, 3)); F[1, 2] = 1.0; F[2, 2] = -20.0  # F @ (x, y, 1) = (0, 1, -20)
    assert np.allclose(ge.transfer_point(q, a, b, F), [(A @ q)[0] + 7.0, 20.0])
    assert len(ge.fundamental_inliers(a, b)[0]) == 4 and ge.fundamental_inliers(a, b)[2] is None


def _rot(yaw, pitch):
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return Ry @ Rx


@pytest.mark.parametrize("t_dir", [(1.0, 0.0, 0.3), (-0.5, 0.1, 1.0)])
def test_relative_pose_matches_contract(t_dir):
    rng = np.random.default_rng(1)
    X1 = np.column_stack([rng.uniform(-2, 2, 200), rng.uniform(-1.5, 1.5, 200), rng.uniform(3, 8, 200)])
    R12 = _rot(0.2, -0.1)                   # camera 2 axes in camera-1 frame
    c2 = 0.8 * np.array(t_dir) / np.linalg.norm(t_dir)  # camera 2 centre in camera-1 frame
    X2 = (X1 - c2) @ R12                    # R12^T (X1 - c2), row-wise
    K1 = np.array([[128.0, 0, 160.0], [0, 128.0, 120.0], [0, 0, 1]])
    K2 = np.array([[128.0, 0, 128.0], [0, 128.0, 96.0], [0, 0, 1]])
    p1 = (X1 / X1[:, 2:]) @ K1.T
    p2 = (X2 / X2[:, 2:]) @ K2.T
    R, t = ge.relative_pose(p1[:, :2], p2[:, :2], K1, K2, seed=0)
    ang = np.degrees(np.arccos(np.clip((np.trace(R.T @ R12) - 1) / 2, -1, 1)))
    assert ang < 0.05
    assert np.degrees(np.arccos(np.clip(t @ (c2 / 0.8), -1, 1))) < 0.1
    R2, t2 = ge.relative_pose(p1[:, :2], p2[:, :2], K1, K2, seed=0)
    assert np.array_equal(R, R2) and np.array_equal(t, t2)
    assert ge.relative_pose(p1[:4, :2], p2[:4, :2], K1, K2) is None
