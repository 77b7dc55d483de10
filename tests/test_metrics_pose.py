"""Pose errors and both AUC definitions, hand-computed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm3.geometry import ypr_to_rotation
from vlm3.metrics import pose_auc, pose_error, pose_pair_error, rotation_error_deg, translation_angle_deg

NAN = float("nan")


def test_histogram_auc_hand():
    # bins [0,1):1, [1,2):1, [10,11):1; 40 and NaN never counted; n = 5
    # cumsum / 5 = 0.2 (t=1), 0.4 (t=2..10), 0.6 (t=11..30) -> (0.2 + 9 * 0.4 + 20 * 0.6) / 30
    e = [0.5, 1.5, 10.0, 40.0, NAN]
    assert pose_auc(e, 30) == pytest.approx(15.8 / 30)
    # the last bin is closed: an error of exactly 30 counts, 30.0001 does not
    assert pose_auc([30.0], 30) == pytest.approx(1 / 30)
    assert pose_auc([30.0001], 30) == 0.0
    assert pose_auc([0.0, 0.0], 30) == 1.0
    assert pose_auc([2.0], 5) == pytest.approx(3 / 5)


def test_trapezoid_auc_hand():
    # sorted (0, 0.5, 1.5, 10, 40, inf), recall (0, .2, .4, .6, .8, 1); cut at 30 holding 0.6:
    # 0.5 * 0.1 + 1.0 * 0.3 + 8.5 * 0.5 + 20 * 0.6 = 16.6
    e = [0.5, 1.5, 10.0, 40.0, NAN]
    assert pose_auc(e, 30, method="trapezoid") == pytest.approx(16.6 / 30)
    # one pair with error 10 at threshold 20: triangle 0..10 (area 5) + rectangle 10..20 (10)
    assert pose_auc([10.0], 20, method="trapezoid") == pytest.approx(15 / 20)
    assert pose_auc([0.0, 0.0], 30, method="trapezoid") == 1.0
    assert pose_auc([NAN, 45.0], 30, method="trapezoid") == 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 60), st.just(NAN)), min_size=1, max_size=30))
def test_auc_bounds_and_histogram_below_trapezoid_for_integers(e):
    h, t = pose_auc(e, 30), pose_auc(e, 30, method="trapezoid")
    assert 0.0 <= h <= 1.0 and 0.0 <= t <= 1.0 + 1e-12
    # (an error of exactly 30 is inside the histogram's closed last bin but has zero trapezoid area)
    ints = [NAN if np.isnan(x) else float(np.ceil(x)) for x in e]
    ints = [31.0 if x == 30.0 else x for x in ints]
    # with integer errors the histogram (left Riemann sum of a step curve) never exceeds the trapezoid
    assert pose_auc(ints, 30) <= pose_auc(ints, 30, method="trapezoid") + 1e-12


def test_pose_errors_hand():
    R = ypr_to_rotation(10, 0, 0)
    assert rotation_error_deg(R, np.eye(3)) == pytest.approx(10)
    assert translation_angle_deg([1, 0, 0], [0, 0, 2]) == pytest.approx(90)
    assert translation_angle_deg([0, 0, -1], [0, 0, 2]) == pytest.approx(180)
    assert translation_angle_deg([0, 0, -1], [0, 0, 2], ambiguous=True) == pytest.approx(0)
    assert np.isnan(translation_angle_deg([0, 0, 0], [0, 0, 1]))
    r, t = pose_error(R, [1, 0, 1], np.eye(3), [0, 0, 1])
    assert (r, t) == (pytest.approx(10), pytest.approx(45))
    assert pose_pair_error(R, [1, 0, 1], np.eye(3), [0, 0, 1]) == pytest.approx(45)
    assert np.isnan(pose_pair_error(R, [0, 0, 0], np.eye(3), [0, 0, 1]))
    assert translation_angle_deg([1e-9, 0, 1], [0, 0, 1]) == pytest.approx(np.degrees(1e-9), rel=1e-6)


@pytest.mark.parametrize(
    "call",
    [
        lambda: pose_auc([], 30),
        lambda: pose_auc([-1.0], 30),
        lambda: pose_auc([1.0], 30, method="riemann"),
        lambda: pose_auc([1.0], 2.5),
        lambda: pose_auc([1.0], 0, method="trapezoid"),
        lambda: translation_angle_deg([1, 0, 0], [0, 0, 0]),
        lambda: rotation_error_deg(np.eye(2), np.eye(3)),
    ],
)
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()
