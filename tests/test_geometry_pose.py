"""Relative pose, yaw/pitch/roll convention, rotation angle, translation words."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm3.geometry import (
    relative_pose,
    rotation_angle_deg,
    rotation_to_ypr,
    translation_direction,
    translation_words,
    ypr_to_rotation,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vlm3-samples"

# VLM3 sample_data/pose_labels.json ground truth (also read from the file when present)
YAW, PITCH, ROLL, ANGLE = 89.60077227075526, 2.598684372865458, 6.072327841623985, 89.6547345694857


def Rx(d):
    a = np.radians(d)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def Ry(d):
    a = np.radians(d)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def Rz(d):
    a = np.radians(d)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def test_vlm3_label_angle_matches_composition():
    R = ypr_to_rotation(YAW, PITCH, ROLL)
    assert rotation_angle_deg(R) == pytest.approx(ANGLE, abs=1e-6)
    # the other composition order (extrinsic) or a flipped roll gives 89.93 deg, far off
    assert rotation_angle_deg(Rz(ROLL) @ Rx(PITCH) @ Ry(YAW)) == pytest.approx(89.9295345, abs=1e-5)
    assert rotation_angle_deg(Ry(YAW) @ Rx(PITCH) @ Rz(-ROLL)) == pytest.approx(89.9295345, abs=1e-5)
    np.testing.assert_allclose(rotation_to_ypr(R), (YAW, PITCH, ROLL), atol=1e-9)


def test_vlm3_label_file():
    path = SAMPLES / "pose_labels.json"
    if not path.exists():
        pytest.skip(f"reference file {path} not present (../shared/data is optional)")
    gt = json.loads(path.read_text())["ground_truth_pose"]
    R = ypr_to_rotation(gt["yaw_deg"], gt["pitch_deg"], gt["roll_deg"])
    assert rotation_angle_deg(R) == pytest.approx(gt["rotation_angle_deg"], abs=1e-6)
    u = np.array([float(v) for v in gt["translation_unit_vector"].strip("()").split(",")])
    words, unit = translation_direction(u * gt["translation_distance_m"])
    assert words == gt["translation_direction"] == "left, forward"
    np.testing.assert_allclose(unit, u / np.linalg.norm(u), atol=1e-12)


def test_ypr_signs():
    fwd, right = np.array([0, 0, 1.0]), np.array([1.0, 0, 0])
    # yaw > 0 turns right: forward goes to +X
    np.testing.assert_allclose(ypr_to_rotation(90, 0, 0) @ fwd, [1, 0, 0], atol=1e-12)
    # pitch > 0 looks up: forward goes to -Y
    np.testing.assert_allclose(ypr_to_rotation(0, 90, 0) @ fwd, [0, -1, 0], atol=1e-12)
    # roll > 0 banks right: the right axis dips to +Y (down)
    np.testing.assert_allclose(ypr_to_rotation(0, 0, 90) @ right, [0, 1, 0], atol=1e-12)
    # intrinsic order: R = R_yaw R_pitch R_roll
    np.testing.assert_allclose(ypr_to_rotation(30, -20, 10), Ry(30) @ Rx(-20) @ Rz(10), atol=1e-12)
    # hand-computed: yaw 90 then pitch 90: forward = R_y(90) [0, -1, 0] = [0, -1, 0]
    np.testing.assert_allclose(ypr_to_rotation(90, 90, 0) @ fwd, [0, -1, 0], atol=1e-12)
    assert rotation_to_ypr(np.eye(3)) == (0.0, 0.0, 0.0)


def test_yaw_from_relative_pose_of_turning_camera():
    """Camera 2 at the same place, turned right by 30 deg about the world down axis."""
    c2w_1 = np.eye(4)
    c2w_2 = np.eye(4)
    c2w_2[:3, :3] = Ry(30)
    yaw, pitch, roll = rotation_to_ypr(relative_pose(c2w_1, c2w_2)[:3, :3])
    assert (yaw, pitch, roll) == pytest.approx((30, 0, 0), abs=1e-12)


def _wrap(d):
    return (d + 180.0) % 360.0 - 180.0


def test_gimbal_lock():
    for yaw, roll in ((40, 25), (-120, 70)):
        R = ypr_to_rotation(yaw, 90, roll)
        y, p, r = rotation_to_ypr(R)
        assert p == pytest.approx(90, abs=1e-6) and r == 0.0
        assert _wrap(y - (yaw - roll)) == pytest.approx(0, abs=1e-6)  # only yaw - roll is defined
        np.testing.assert_allclose(ypr_to_rotation(y, p, r), R, atol=1e-9)
        R = ypr_to_rotation(yaw, -90, roll)
        y, p, r = rotation_to_ypr(R)
        assert p == pytest.approx(-90, abs=1e-6) and r == 0.0
        assert _wrap(y - (yaw + roll)) == pytest.approx(0, abs=1e-6)  # only yaw + roll is defined
        np.testing.assert_allclose(ypr_to_rotation(y, p, r), R, atol=1e-9)


angles = st.floats(-179.9, 179.9)


@settings(max_examples=300, deadline=None)
@given(yaw=angles, pitch=st.floats(-89.0, 89.0), roll=angles)
def test_ypr_roundtrip(yaw, pitch, roll):
    R = ypr_to_rotation(yaw, pitch, roll)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(rotation_to_ypr(R), (yaw, pitch, roll), atol=1e-7)


def test_rotation_angle():
    assert rotation_angle_deg(np.eye(3)) == 0.0
    assert rotation_angle_deg(Rz(37.5)) == pytest.approx(37.5, abs=1e-12)
    assert rotation_angle_deg(Rx(-120)) == pytest.approx(120, abs=1e-12)
    assert rotation_angle_deg(Ry(180)) == pytest.approx(180, abs=1e-9)
    assert rotation_angle_deg(Rz(1e-6)) == pytest.approx(1e-6, rel=1e-6)


def _c2w(R, c):
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = R, c
    return m


def test_relative_pose_hand():
    # camera 1 at (1, 0, 0) looking along world +Z; camera 2 at (0, 0, 2), turned
    c2w_1 = _c2w(np.eye(3), [1, 0, 0])
    c2w_2 = _c2w(Ry(90), [0, 0, 2])
    T = relative_pose(c2w_1, c2w_2)
    np.testing.assert_allclose(T[:3, 3], [-1, 0, 2], atol=1e-12)  # centre of 2 in camera 1
    np.testing.assert_allclose(T[:3, :3], Ry(90), atol=1e-12)
    assert translation_words(T[:3, 3]) == "left, forward"
    # flat 16-element lists work (index rows)
    T2 = relative_pose(c2w_1.reshape(-1).tolist(), c2w_2.reshape(-1).tolist())
    np.testing.assert_array_equal(T, T2)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-170, 170), min_size=9, max_size=9),
    st.lists(st.floats(-10, 10), min_size=9, max_size=9),
)
def test_relative_pose_properties(a, c):
    m = [_c2w(ypr_to_rotation(*a[3 * i : 3 * i + 3]), c[3 * i : 3 * i + 3]) for i in range(3)]
    np.testing.assert_allclose(relative_pose(m[0], m[0]), np.eye(4), atol=1e-12)
    T12, T23, T13 = relative_pose(m[0], m[1]), relative_pose(m[1], m[2]), relative_pose(m[0], m[2])
    np.testing.assert_allclose(T12 @ T23, T13, atol=1e-9)
    # translation column = camera 2's centre expressed in camera 1's frame
    c2_in_1 = m[0][:3, :3].T @ (np.array(c[3:6]) - np.array(c[0:3]))
    np.testing.assert_allclose(T12[:3, 3], c2_in_1, atol=1e-9)


def test_translation_direction_words():
    assert translation_direction([-0.69, 0.02, 0.72])[0] == "left, forward"
    assert translation_words([1, 1, -1]) == "right, down, backward"
    assert translation_words([0, -3, 0]) == "up"
    assert translation_words([0.2, 0.0, -1.0]) == "backward"  # 0.196 < 0.25
    assert translation_words([0.3, 0.0, -1.0]) == "right, backward"  # 0.287 >= 0.25
    words, u = translation_direction([0, 0, 0])
    assert words == "none" and np.array_equal(u, np.zeros(3))
    np.testing.assert_allclose(translation_direction([3, 0, 4])[1], [0.6, 0, 0.8])


@pytest.mark.parametrize(
    "call",
    [
        lambda: relative_pose(np.eye(3), np.eye(4)),
        lambda: relative_pose(np.full((4, 4), np.nan), np.eye(4)),
        lambda: relative_pose(np.diag([2.0, 1, 1, 1]), np.eye(4)),
        lambda: rotation_to_ypr(np.diag([1.0, 1, -1])),
        lambda: ypr_to_rotation(np.nan, 0, 0),
        lambda: translation_direction([1, 2]),
        lambda: translation_direction([np.inf, 0, 0]),
        lambda: rotation_angle_deg(np.zeros((3, 3))),
    ],
)
def test_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()
