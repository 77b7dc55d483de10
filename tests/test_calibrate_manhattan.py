"""Collinear merging and the joint Manhattan-frame + focal refinement used by `vanishing`."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from vlm3.calibrate.manhattan import consistency, frame_from_vps, merge_collinear, refine_frame

sys.path.insert(0, str(Path(__file__).parent))
from _manhattan import rot


def test_merge_collinear_hand_cases():
    a = np.array([[0.0, 5.0, 10.0, 5.0], [11.0, 5.0, 20.0, 5.0]])  # 1 px gap, same line
    np.testing.assert_allclose(merge_collinear(a), [[0.0, 5.0, 20.0, 5.0]], atol=1e-9)
    # opposite orientation (LSD polarity flip) merges too
    b = np.array([[0.0, 5.0, 10.0, 5.0], [20.0, 5.0, 12.0, 5.0]])
    out = merge_collinear(b)
    assert out.shape == (1, 4) and sorted([out[0, 0], out[0, 2]]) == pytest.approx([0.0, 20.0])
    for other in ([14.5, 5.0, 20.0, 5.0],      # 4.5 px gap > 3
                  [11.0, 7.0, 20.0, 7.0],      # parallel, 2 px off the line
                  [11.0, 5.0, 20.0, 5.0 + 9 * math.tan(math.radians(5))]):  # 5 deg off
        np.testing.assert_array_equal(merge_collinear(np.array([a[0], other])), [a[0], other])


def test_merge_collinear_chain_fits_all_pieces():
    # pieces of the line y = 0.3 x + 2 with alternating tiny offsets: one segment, exact direction
    xs = np.arange(0, 60, 6.0)
    segs = np.array([[x, 0.3 * x + 2 + s, x + 5, 0.3 * (x + 5) + 2 + s]
                     for x, s in zip(xs, np.tile([0.05, -0.05], 5))])
    out = merge_collinear(segs)
    assert out.shape == (1, 4)
    assert (out[0, 3] - out[0, 1]) / (out[0, 2] - out[0, 0]) == pytest.approx(0.3, abs=1e-3)


def _frame_segments(f, R, w, h, rng, n_per_axis=25, noise=0.0, n_out=0):
    """Image segments of 3D lines along the frame's axes (camera frame, centre at the origin)."""
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    segs = []
    for a in range(3):
        while sum(1 for s in segs if s[1] == a) < n_per_axis:
            P = rng.uniform([-3, -2, 4], [3, 2, 9])
            Q = P + R[:, a] * rng.uniform(0.5, 1.5)
            if Q[2] < 1:
                continue
            p, q = f * P[:2] / P[2] + c, f * Q[:2] / Q[2] + c
            if np.hypot(*(q - p)) < 15 or not (np.all((p > 0) & (p < [w, h])) and np.all((q > 0) & (q < [w, h]))):
                continue
            segs.append((np.r_[p, q] + rng.normal(0, noise, 4), a))
    out = [s for s, _ in segs]
    for _ in range(n_out):  # clutter in random directions
        p = rng.uniform([0, 0], [w, h])
        ang = rng.uniform(0, np.pi)
        out.append(np.r_[p, p + 25 * np.array([math.cos(ang), math.sin(ang)])])
    return np.array(out), c


@pytest.mark.parametrize("f,angles", [(500.0, (30, -15, 2)), (900.0, (20, -10, -3)), (300.0, (40, -22, 0))])
def test_refine_frame_recovers_focal_and_rotation(f, angles):
    w, h = 640, 480
    R = rot(*angles)  # world-to-camera: columns = world axes (Y vertical) in the camera frame
    rng = np.random.default_rng(0)
    segs, c = _frame_segments(f, R, w, h, rng)
    scale = float(max(w, h))
    R0 = rot(angles[0] + 2, angles[1] - 2, angles[2] + 1)
    fit = refine_frame(segs, c, scale, 1.15 * f / scale, R0)
    assert fit is not None
    assert fit.f * scale == pytest.approx(f, rel=1e-6)
    assert np.abs(np.abs(np.diag(fit.R.T @ R)) - 1).max() < 1e-8
    # noisy endpoints (0.3 px) and 40 % clutter: within 2 %
    segs, c = _frame_segments(f, R, w, h, rng, noise=0.3, n_out=50)
    fit = refine_frame(segs, c, scale, 1.15 * f / scale, R0)
    assert fit is not None and abs(fit.f * scale / f - 1) < 0.02 and fit.sigma < 0.02


def test_refine_frame_rejects_non_upright_and_too_few():
    w, h = 640, 480
    R = rot(30, -15, 2)
    segs, c = _frame_segments(500.0, R, w, h, np.random.default_rng(1))
    assert refine_frame(segs[:3], c, 640.0, 0.8, R) is None  # fewer than 4 labelled segments
    tilted = rot(30, -15, 60)  # 60 deg roll: no axis near the image vertical
    segs, c = _frame_segments(500.0, tilted, w, h, np.random.default_rng(1))
    assert refine_frame(segs, c, 640.0, 500 / 640, tilted) is None


def test_frame_from_vps_is_orthonormal_and_points_at_the_vps():
    f = 0.9
    R = rot(25, -12, 3)
    v1 = np.array([f * R[0, 0], f * R[1, 0], R[2, 0]])
    v2 = np.array([f * R[0, 2], f * R[1, 2], R[2, 2]])
    F = frame_from_vps(v1, v2, f)
    np.testing.assert_allclose(F.T @ F, np.eye(3), atol=1e-12)
    assert np.linalg.det(F) == pytest.approx(1.0)
    np.testing.assert_allclose(np.abs(F[:, 0] @ R[:, 0]), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(F[:, 1] @ R[:, 2]), 1.0, atol=1e-12)
    assert frame_from_vps(v1, 2 * v1, f) is None  # same VP twice: no frame


def test_consistency_hand_value():
    # segment along +x through (0, 0); VP at (1, 1) (w = 1): 45 deg -> |sin| = sqrt(1/2)
    c = consistency(np.array([[1.0, 1.0, 1.0]]), np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]))
    assert c.shape == (1, 1) and c[0, 0] == pytest.approx(math.sqrt(0.5))


def test_vanishing_on_rendered_synthetic_rooms(tmp_path):
    """Regression guard on the project's own renderer (6 easy scenes, 18 images 320x240, seed 7,
    f in [300, 900] px; never used for tuning): measured median |rel f error| 0.079 and 12 / 18
    within 20 % (the previous calibrator: 0.247 and 8 / 18)."""
    import cv2

    from vlm3.calibrate.vanishing import VanishingCalibrator
    from vlm3.datasets.synthetic import load
    from vlm3.synthetic.generate import generate_split
    from vlm3.synthetic.scene import SyntheticParams

    generate_split(tmp_path, "test", 6, seed=7,
                   params=SyntheticParams(sizes=((320, 240),), focal_range=(300.0, 900.0), withheld=1.0))
    truth = __import__("json").loads((tmp_path / "test" / "intrinsics_withheld.json").read_text())
    index, _ = load(tmp_path, "test")
    cal = VanishingCalibrator()
    err = []
    for r in index.to_dict("records"):
        img = cv2.cvtColor(cv2.imread(str(r["image_path"])), cv2.COLOR_BGR2RGB)
        est = cal.estimate(img, r, r["image_path"])
        f = truth[r["image_id"]]["fx"]
        err.append(1.0 if est is None else abs(est.fx - f) / f)
    err = np.array(err)
    assert len(err) == 18
    assert np.median(err) < 0.10 and (err < 0.2).sum() >= 12, np.round(err, 3)
