"""Covisibility on rendered synthetic views and generated pairs (the rule itself: test_geometry_covisibility)."""

import json

import numpy as np

from vlm3.geometry.covisibility import covisibility, visible_mask
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
