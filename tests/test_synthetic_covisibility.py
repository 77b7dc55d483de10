"""Covisibility of view pairs: exact cases, occlusion, tolerance, and generated pairs."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm3.synthetic.covisibility import covisibility, reproject, visible_mask
from vlm3.synthetic.generate import generate_split
from vlm3.synthetic.raycast import render
from vlm3.synthetic.scene import Camera, Room, Scene, SyntheticParams, look_at
from vlm3.synthetic.textures import random_texture
from vlm3.utils import rng_for

W, H = 64, 48


def _K(f, cx=(W - 1) / 2, cy=(H - 1) / 2):
    return np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])


def _room_scene():
    t = random_texture(rng_for(0, "cov"), (0.5, 0.5, 0.5), (0.3, 0.3, 0.3), 0.5)
    return Scene("c", Room(6.0, 6.0, 3.0, t, t, t), (), (0.0, 0.0, 1.0))


def test_same_view_is_fully_covisible_and_opposite_view_not():
    scene = _room_scene()
    T = look_at([0, -2, 1.6], [0, 1, 0.5])
    r = render(scene, Camera(W, H, 40.0, 40.0, 31.5, 23.5, T))
    assert covisibility(r.depth, _K(40), T, r.depth, _K(40), T) == 1.0
    T_back = look_at([0, -2, 1.6], [0, -5, 0.5])
    r2 = render(scene, Camera(W, H, 40.0, 40.0, 31.5, 23.5, T_back))
    assert covisibility(r.depth, _K(40), T, r2.depth, _K(40), T_back) == 0.0


def test_zoom_covers_the_central_quarter():
    """Same pose, focal doubled: view 2 sees columns 16..47 and rows 12..35 of view 1 (1/4)."""
    scene = _room_scene()
    T = look_at([0, -2, 1.6], [0, 1, 0.5])
    r1 = render(scene, Camera(W, H, 40.0, 40.0, 31.5, 23.5, T))
    r2 = render(scene, Camera(W, H, 80.0, 80.0, 31.5, 23.5, T))
    vis = visible_mask(r1.depth, _K(40), T, r2.depth, _K(80), T)
    expected = np.zeros((H, W), bool)
    expected[12:36, 16:48] = True
    np.testing.assert_array_equal(vis, expected)
    assert covisibility(r2.depth, _K(80), T, r1.depth, _K(40), T) >= 0.99


def test_occlusion_and_tolerance_on_crafted_depth():
    """Same pose, view 2's principal point shifted by (+0.5, +0.5) px: view-1 pixel (u, v) lands
    at (u + 0.5, v + 0.5), the middle of view 2's cell of pixels u..u+1 x v..v+1."""
    T = np.eye(4)
    K1 = _K(50, 31.5, 23.5)
    K2 = _K(50, 32.0, 24.0)
    d1 = np.full((H, W), 5.0, np.float32)
    d2 = d1.copy()
    d2[10:20, 5:25] = 2.0  # an occluder (rows 10..19, cols 5..24) in view 2 only
    # In the image: u + 0.5 < W - 0.5 drops the last column and row -> 63 x 47 pixels; hidden:
    # pixels whose whole cell is occluder, rows 10..18 x cols 5..23 = 9 x 19.
    assert covisibility(d1, K1, T, d2, K2, T) == pytest.approx((63 * 47 - 9 * 19) / (H * W))
    # Relative depth tolerance: 1 % off passes at tol 2 %, 3 % off does not.
    assert covisibility(d1, K1, T, d1 * 1.01, K2, T, tol=0.02) == pytest.approx(63 * 47 / (H * W))
    assert covisibility(d1, K1, T, d1 * 1.03, K2, T, tol=0.02) == 0.0
    # Invalid view-1 pixels are not counted; invalid view-2 pixels never match.
    d1[:, :32] = 0.0
    d2 = np.full((H, W), 5.0, np.float32)
    d2[:, 48:] = np.inf
    # Valid view-1 columns 32..63; visible: cells touching a finite column (u <= 47), rows 0..46.
    assert covisibility(d1, K1, T, d2, K2, T) == pytest.approx(16 * 47 / (32 * H))
    assert covisibility(np.zeros((H, W)), K1, T, d2, K2, T) == 0.0


@settings(max_examples=30, deadline=None)
@given(f=st.floats(20, 200), z=st.floats(0.5, 50), dz=st.floats(-0.4, 0.4),
       yaw=st.floats(-math.pi, math.pi), tx=st.floats(-5, 5))
def test_reproject_identity_and_forward_motion(f, z, dz, yaw, tx):
    c2w = look_at([tx, 0, 1.0], [tx + math.cos(yaw), math.sin(yaw), 1.0])
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


def _truth_K(im, truth):
    intr = im["intrinsics"] or truth[im["image_id"]]
    return _K(intr["fx"], intr["cx"], intr["cy"])


def test_generated_pairs_are_consistent(tmp_path):
    p = SyntheticParams(views=3, sizes=((48, 36),), focal_range=(30.0, 60.0))
    folder = generate_split(tmp_path, "train", 3, seed=1, params=p)
    pairs = json.loads((folder / "pairs.json").read_text())
    meta = {im["image_id"]: im for im in json.loads((folder / "meta.json").read_text())["images"]}
    truth = json.loads((folder / "intrinsics_withheld.json").read_text())
    assert len(pairs) == 9
    for pr in pairs:
        a, b = meta[pr["image_id_1"]], meta[pr["image_id_2"]]
        assert a["scene_id"] == b["scene_id"] and a["view"] < b["view"]
        Ka, Kb = (_truth_K(x, truth) for x in (a, b))
        da, db = np.load(folder / a["depth"]), np.load(folder / b["depth"])
        Ta, Tb = (np.array(x["cam_to_world"]).reshape(4, 4) for x in (a, b))
        assert pr["covisibility"] == covisibility(da, Ka, Ta, db, Kb, Tb, p.cov_tol)
        assert pr["covisibility_21"] == covisibility(db, Kb, Tb, da, Ka, Ta, p.cov_tol)
        c12, c21 = pr["covisibility"], pr["covisibility_21"]
        assert 0.0 <= c12 <= 1.0 and 0.0 <= c21 <= 1.0
        # Symmetric-ish: a clearly shared surface is seen from both sides.
        if c12 > 0.05:
            assert c21 > 0.0
        if c21 > 0.05:
            assert c12 > 0.0
    assert max(pr["covisibility"] for pr in pairs) > 0.2  # views look into the same scene
