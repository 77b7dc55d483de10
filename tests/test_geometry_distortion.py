"""Distortion models: numpy formulas against OpenCV, inverse by Newton, COLMAP thin prism."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm3.geometry import check_dist, distort, undistort

OPENCV_PARAMS = [
    [-0.28, 0.07, 0.001, -0.0015],
    [-0.28, 0.07, 0.001, -0.0015, 0.02],
    [0.3, -0.1, 0.002, 0.001, 0.01, 0.05, 0.01, 0.002],
]
FISHEYE_PARAMS = [0.03, -0.01, 0.002, -0.0005]
# ETH3D-like THIN_PRISM_FISHEYE coefficients (k1 k2 p1 p2 k3 k4 sx1 sy1)
THIN_PRISM = [0.067, -0.074, -2.4e-4, 6.1e-4, 0.072, -0.018, 2.1e-4, -3.4e-4]


def _grid(lim=0.8, n=21):
    a = np.linspace(-lim, lim, n)
    return np.stack(np.meshgrid(a, a), -1).reshape(-1, 2)


@pytest.mark.parametrize("params", OPENCV_PARAMS)
def test_opencv_model_matches_cv2(params):
    xy = _grid()
    pts = np.c_[xy, np.ones(len(xy))]
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), np.eye(3), np.array(params))
    np.testing.assert_allclose(distort("opencv", params, xy), ref[:, 0], atol=1e-12)


def test_fisheye_model_matches_cv2():
    xy = _grid(2.0)
    pts = np.c_[xy, np.ones(len(xy))][:, None]
    ref, _ = cv2.fisheye.projectPoints(pts, np.zeros(3), np.zeros(3), np.eye(3), np.array(FISHEYE_PARAMS))
    np.testing.assert_allclose(distort("fisheye", FISHEYE_PARAMS, xy), ref[:, 0], atol=1e-12)


def test_thin_prism_reduces_to_fisheye_and_hand_value():
    xy = _grid(1.5)
    k1, k2, k3, k4 = FISHEYE_PARAMS
    tp = [k1, k2, 0, 0, k3, k4, 0, 0]
    np.testing.assert_allclose(distort("thin_prism_fisheye", tp, xy), distort("fisheye", FISHEYE_PARAMS, xy), atol=1e-14)
    # hand value: x = (1, 0) -> theta = pi/4, u = pi/4, r2 = pi^2/16; only p2 and sx1 act on x
    r2 = np.pi**2 / 16
    got = distort("thin_prism_fisheye", [0, 0, 0, 0.01, 0, 0, 0.02, 0.03], [[1.0, 0.0]])[0]
    want_x = np.pi / 4 + 0.01 * (r2 + 2 * r2) + 0.02 * r2
    want_y = 0.0 + 0.03 * r2
    np.testing.assert_allclose(got, [want_x, want_y], atol=1e-15)


@pytest.mark.parametrize(
    "model,params,lim",
    [("opencv", p, 0.7) for p in OPENCV_PARAMS]
    + [("fisheye", FISHEYE_PARAMS, 2.5), ("thin_prism_fisheye", THIN_PRISM, 1.2)],
)
def test_undistort_inverts_distort(model, params, lim):
    xy = _grid(lim, 31)
    back = undistort(model, params, distort(model, params, xy))
    np.testing.assert_allclose(back, xy, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    k=st.lists(st.floats(-0.08, 0.08), min_size=8, max_size=8),
    x=st.floats(-0.9, 0.9),
    y=st.floats(-0.9, 0.9),
)
def test_undistort_property_thin_prism(k, x, y):
    p = k[:2] + [k[2] / 20, k[3] / 20] + k[4:6] + [k[6] / 20, k[7] / 20]
    d = distort("thin_prism_fisheye", p, [[x, y]])
    np.testing.assert_allclose(undistort("thin_prism_fisheye", p, d), [[x, y]], atol=1e-9)


def test_undistort_marks_impossible_points_nan():
    # equidistant fisheye without coefficients: theta_d = 2.0 rad > pi/2 has no pinhole point
    out = undistort("fisheye", [0, 0, 0, 0], [[2.0, 0.0], [0.5, 0.0]])
    assert np.isnan(out[0]).all()
    assert out[1, 0] == pytest.approx(np.tan(0.5), abs=1e-12)


def test_check_dist():
    assert check_dist(None) is None
    assert check_dist(("none", [])) is None
    assert check_dist(("opencv", [0, 0, 0, 0])) is None
    model, p = check_dist(("fisheye", FISHEYE_PARAMS))
    assert model == "fisheye" and p.tolist() == FISHEYE_PARAMS
    for bad in [("opencv", [0.1, 0.2, 0.3]), ("kb", [0.1] * 4), ("fisheye", [np.nan] * 4),
                ("thin_prism_fisheye", [0.1] * 12), ("none", [0.1]), "opencv"]:
        with pytest.raises(ValueError):
            check_dist(bad)
