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
    # matched positions (mapped back from the upscaled working image) agree with H
    assert np.median(np.linalg.norm(np.array([_apply(H, p) for p in p1]) - p2, axis=1)) < 0.5
    i1, i2, F = ge.fundamental_inliers(p1, p2, seed=0)
    assert len(i1) > 40
    for q in [(60.0, 50.0), (128.0, 96.0), (200.0, 140.0), (90.0, 150.0)]:
        true = _apply(H, q)
        assert np.linalg.norm(ge.transfer_point(np.array(q), i1, i2) - true) < 2.5  # local translation
        assert np.linalg.norm(ge.transfer_point(np.array(q), i1, i2, affine=True) - true) < 1.0
        assert np.linalg.norm(ge.transfer_point(np.array(q), i1, i2, F, affine=True) - true) < 1.0
    # deterministic
    again = ge.fundamental_inliers(*ge.sift_matches(img1, img2), seed=0)
    assert np.array_equal(again[0], i1) and np.array_equal(again[2], F)


def test_small_images_are_upscaled_for_sift():
    img1 = cv2.resize(_texture(), (64, 48), interpolation=cv2.INTER_AREA)
    img2 = cv2.warpAffine(img1, np.float32([[1, 0, 3], [0, 1, -2]]), (64, 48))
    p1, p2 = ge.sift_matches(img1, img2)
    assert len(p1) >= 8
    assert np.allclose(np.median(p2 - p1, axis=0), [3.0, -2.0], atol=0.3)
    assert len(ge.sift_matches(img1, img2, work_size=0)[0]) < len(p1)


def test_transfer_fallbacks():
    q = np.array([10.0, 20.0])
    assert np.array_equal(ge.transfer_point(q, np.zeros((0, 2)), np.zeros((0, 2))), q)
    # median displacement of the neighbours: (3, -1), (5, 1), (40, 40) -> (5, 1)
    a = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    b = a + np.array([[3.0, -1.0], [5.0, 1.0], [40.0, 40.0]])
    assert np.allclose(ge.transfer_point(q, a, b), [15.0, 21.0])
    assert np.allclose(ge.transfer_point(q, a, b, affine=True), [15.0, 21.0])  # < MIN_AFFINE: median
    # collinear neighbours fall back to the median displacement too
    a = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0], [5.0, 0.0]])
    assert np.allclose(ge.transfer_point(q, a, a + [2.0, 2.0], affine=True), [12.0, 22.0])
    # an exact affine map is reproduced
    A = np.array([[1.1, 0.2], [-0.1, 0.9]])
    a = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0], [2.0, 1.0], [1.0, 3.0]])
    b = a @ A.T + [7.0, -3.0]
    assert np.allclose(ge.transfer_point(q, a, b, affine=True), A @ q + [7.0, -3.0])
    # epipolar projection: F q = (0, 1, -20) is the line y = 20; the estimate moves onto it
    F = np.zeros((3, 3))
    F[1, 2], F[2, 2] = 1.0, -20.0
    assert np.allclose(ge.transfer_point(q, a, b, F, affine=True), [(A @ q)[0] + 7.0, 20.0])
    assert len(ge.fundamental_inliers(a[:4], b[:4])[0]) == 4 and ge.fundamental_inliers(a[:4], b[:4])[2] is None


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
