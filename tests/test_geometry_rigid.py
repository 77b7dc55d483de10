"""Rigid transforms (vlm3.geometry.rigid): (R, t) -> 4x4, exact inverse, quaternions."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm3.geometry import invert_rigid, quat_to_rotation, relative_pose, rigid_matrix, ypr_to_rotation

S = math.sqrt(0.5)


def test_quaternion_known_rotations():
    np.testing.assert_array_equal(quat_to_rotation(1, 0, 0, 0), np.eye(3))
    # 90 degrees about Z (scalar first): X -> Y, Y -> -X
    np.testing.assert_allclose(quat_to_rotation(S, 0, 0, S), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)
    # 180 degrees about X
    np.testing.assert_allclose(quat_to_rotation(0, 1, 0, 0), np.diag([1.0, -1.0, -1.0]), atol=1e-15)
    # not normalised: the same rotation; q and -q: the same rotation
    np.testing.assert_allclose(quat_to_rotation(2 * S, 0, 0, 2 * S), quat_to_rotation(S, 0, 0, S), atol=1e-15)
    np.testing.assert_allclose(quat_to_rotation(-S, 0, 0, -S), quat_to_rotation(S, 0, 0, S), atol=1e-15)


@pytest.mark.parametrize("q", [(0, 0, 0, 0), (float("nan"), 0, 0, 1), (float("inf"), 0, 0, 0)])
def test_degenerate_quaternion_is_an_error(q):
    with pytest.raises(ValueError, match="degenerate quaternion"):
        quat_to_rotation(*q)


def test_rigid_matrix_and_inverse():
    R = quat_to_rotation(S, 0, 0, S)
    T = rigid_matrix(R, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(T[:3, :3], R)
    np.testing.assert_array_equal(T[3], [0, 0, 0, 1])
    inv = invert_rigid(T)
    np.testing.assert_array_equal(inv[:3, :3], R.T)  # exact transpose, not an LU inverse
    np.testing.assert_allclose(inv[:3, 3], [-2.0, 1.0, -3.0], atol=1e-15)  # -R^T t
    np.testing.assert_allclose(inv @ T, np.eye(4), atol=1e-15)
    np.testing.assert_array_equal(invert_rigid(T.ravel().tolist()), inv)  # 16-element lists too


@settings(max_examples=50, deadline=None)
@given(ypr=st.tuples(*[st.floats(-180, 180)] * 3), t=st.tuples(*[st.floats(-100, 100)] * 3))
def test_inverse_round_trip(ypr, t):
    T = rigid_matrix(ypr_to_rotation(*ypr), t)
    np.testing.assert_allclose(invert_rigid(invert_rigid(T)), T, atol=1e-12)
    np.testing.assert_allclose(T @ invert_rigid(T), np.eye(4), atol=1e-12)
    # relative pose of a camera to itself is the identity; to the world origin its own inverse
    np.testing.assert_allclose(relative_pose(T, T), np.eye(4), atol=1e-12)
    np.testing.assert_array_equal(relative_pose(T, np.eye(4)), invert_rigid(T))
