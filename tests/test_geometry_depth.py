"""Projection, unprojection, z/ray conversion and sparse depth rasterisation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm3.geometry import (
    make_K,
    project,
    ray_to_z,
    sparse_depth_map,
    unify_focal_K,
    unify_points,
    unproject,
    z_to_ray,
)

K = make_K(100.0, 100.0, 1.0, 1.0)


def test_project_hand():
    uv = project([[0, 0, 2], [1, -1, 2], [0, 0, -1]], K)
    np.testing.assert_allclose(uv[:2], [[1, 1], [51, -49]])
    assert np.isnan(uv[2]).all()


def test_unproject_hand():
    p = unproject([[101, 1]], [2.0], K, kind="z")
    np.testing.assert_allclose(p, [[2, 0, 2]])
    p = unproject([[101, 1]], [2.0], K, kind="ray")
    np.testing.assert_allclose(p, [[np.sqrt(2), 0, np.sqrt(2)]])
    with pytest.raises(ValueError):
        unproject([[1, 1]], [1.0], K, kind="euclid")
    with pytest.raises(ValueError):
        unproject([[1, 1], [2, 2]], [1.0], K)


def test_z_ray_hand():
    z = np.zeros((3, 102), np.float32)
    z[1, 1] = 2.0  # principal point: ray == z
    z[1, 101] = 2.0  # 45 degrees off axis: ray = sqrt(2) z
    z[0, 0] = np.nan
    z[2, 0] = np.inf
    r = z_to_ray(z, K)
    assert r.dtype == np.float32
    assert r[1, 1] == 2.0 and r[1, 101] == pytest.approx(2 * np.sqrt(2), rel=1e-7)
    assert r[0, 0] == 0 and r[2, 0] == 0 and np.count_nonzero(r) == 2
    np.testing.assert_allclose(ray_to_z(r, K), np.nan_to_num(z, posinf=0.0), rtol=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    f=st.floats(50, 3000),
    cx=st.floats(-20, 80),
    cy=st.floats(-20, 60),
    seed=st.integers(0, 2**31),
)
def test_z_ray_roundtrip(f, cx, cy, seed):
    Kr = make_K(f, f * 1.1, cx, cy)
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.1, 100, size=(40, 60)).astype(np.float32)
    z[rng.random(z.shape) < 0.2] = 0
    back = ray_to_z(z_to_ray(z, Kr), Kr)
    np.testing.assert_allclose(back, z, rtol=1e-6)
    assert np.array_equal(back == 0, z == 0)


@settings(max_examples=100, deadline=None)
@given(
    pts=st.lists(
        st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(0.1, 50)), min_size=1, max_size=20
    ),
    f=st.floats(50, 3000),
)
def test_project_unproject_roundtrip(pts, f):
    Kr = make_K(f, f, 320.0, 240.0)
    p = np.array(pts)
    uv = project(p, Kr)
    np.testing.assert_allclose(unproject(uv, p[:, 2], Kr, "z"), p, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(unproject(uv, np.linalg.norm(p, axis=1), Kr, "ray"), p, rtol=1e-9, atol=1e-9)


def test_sparse_depth_map_hand():
    Ks = make_K(10.0, 10.0, 2.0, 1.0)
    pts = np.array(
        [
            [0.0, 0.0, 1.0],  # -> (2, 1)
            [0.0, 0.0, 3.0],  # same pixel, farther: loses
            [0.1, 0.1, 1.0],  # -> (3, 2)
            [0.149, 0.0, 1.0],  # u = 3.49 -> pixel 3 ... but row 1
            [0.0, 0.0, -1.0],  # behind
            [1.0, 0.0, 1.0],  # u = 12, outside W = 5
            [np.nan, 0.0, 1.0],  # non-finite
        ]
    )
    d = sparse_depth_map(pts, Ks, 5, 3)
    want = np.zeros((3, 5), np.float32)
    want[1, 2], want[2, 3], want[1, 3] = 1.0, 1.0, 1.0
    np.testing.assert_array_equal(d, want)
    r = sparse_depth_map(pts, Ks, 5, 3, kind="ray")
    assert r[2, 3] == pytest.approx(np.sqrt(1.02)) and r[1, 2] == 1.0
    with pytest.raises(ValueError):
        sparse_depth_map(pts[:, :2], Ks, 5, 3)
    with pytest.raises(ValueError):
        sparse_depth_map(pts, Ks, 0, 3)


@pytest.mark.parametrize("kind", ["z", "ray"])
def test_sparse_depth_map_matches_a_python_z_buffer(kind):
    """Random points with many collisions (rounded coordinates), non-finite rows, points behind
    the camera, a z that overflows float32 and a ray length that overflows float64: equal to a
    per-point python loop (nearest pixel centre, smallest value wins, float32 of it, 0 = none)."""
    rng = np.random.default_rng(3)
    n = 3000
    p = np.round(np.stack([rng.uniform(-3, 3, n), rng.uniform(-3, 3, n), rng.uniform(-1, 10, n)], 1), 1)
    p[:5, 0], p[5:8, 2], p[8, 1], p[9] = np.nan, np.inf, -np.inf, [0.0, 0.0, 1e39]
    p[10] = [1e306, 1e305, 1e308]  # projects inside, |p| overflows float64 (ray -> invalid)
    K, W, H = make_K(50.0, 60.0, 20.3, 15.7), 41, 33
    want = np.full((H, W), np.inf)
    for x, y, z in p:
        if not (np.isfinite([x, y, z]).all() and z > 0):
            continue
        with np.errstate(over="ignore"):
            uf, vf = np.floor(50.0 * x / z + 20.3 + 0.5), np.floor(60.0 * y / z + 15.7 + 0.5)
        if 0 <= uf < W and 0 <= vf < H:
            u, v = int(uf), int(vf)
            with np.errstate(over="ignore"):
                val = z if kind == "z" else np.sqrt(x * x + y * y + z * z)
                want[v, u] = min(want[v, u], val)
    want[want == np.inf] = 0
    with np.errstate(over="ignore"):
        want = want.astype(np.float32)
        got = sparse_depth_map(p, K, W, H, kind=kind)
    assert (got > 0).sum() > 200 and got.tobytes() == want.tobytes()
    with np.errstate(over="ignore"):  # alone on their pixels: 1e39 / 1e308 are finite in float64,
        big = sparse_depth_map(p[9:11], K, W, H, kind=kind)  # inf in float32; the overflowed ray: 0
    assert big[16, 20] == np.inf and big[16, 21] == (np.inf if kind == "z" else 0) and (big > 0).sum() == 1 + (kind == "z")


def test_sparse_points_after_focal_unification():
    """Lidar points are re-projected into the unified camera, never resampled."""
    K0 = make_K(1266.4, 1266.4, 816.3, 491.5)  # nuScenes CAM_FRONT-like
    K1, W1, H1 = unify_focal_K(K0, 1600, 900, 1000.0)
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(-10, 10, 500), rng.uniform(-2, 2, 500), rng.uniform(1, 60, 500)]
    uv, z = unify_points(pts, K1)
    np.testing.assert_array_equal(z, pts[:, 2])
    d = sparse_depth_map(pts, K1, W1, H1)
    iu, iv = np.floor(uv[:, 0] + 0.5).astype(int), np.floor(uv[:, 1] + 0.5).astype(int)
    inside = (iu >= 0) & (iu < W1) & (iv >= 0) & (iv < H1)
    for i in np.flatnonzero(inside):
        assert 0 < d[iv[i], iu[i]] <= np.float32(z[i])
    assert np.count_nonzero(d) == len({(a, b) for a, b in zip(iu[inside], iv[inside])})
