"""The resize stage on a tiny calibrated index written here (values checked by hand)."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from vlm3.datasets import INDEX_COLUMNS
from vlm3.geometry import make_K, project, sparse_depth_map, unify_focal, unify_focal_K
from vlm3.io.depth import clean_depth
from vlm3.io.image import read_image, write_png
from vlm3.resize import main


def _row(iid, img, w, h, fx, fy, cx, cy, depth=None, fmt=None, kind=None, dist=("none", []), objects=()):
    return {"image_id": iid, "scene_id": "s0", "image_path": str(img), "width": w, "height": h,
            "fx": fx, "fy": fy, "cx": cx, "cy": cy, "dist_model": dist[0], "dist_params": list(dist[1]),
            "depth_path": None if depth is None else str(depth), "depth_format": fmt, "depth_kind": kind,
            "depth_min": 0.5, "depth_max": 9.0, "cam_to_world": list(np.eye(4).ravel()),
            "objects": json.dumps(list(objects)), "source": "metadata", "view": 1}


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    # A: 64x48, f = 80, dense z depth, one object with an instance mask
    write_png(tmp_path / "a.png", rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    depth = rng.uniform(1, 5, (48, 64)).astype(np.float32)
    depth[0, :] = 0
    np.save(tmp_path / "a.npy", depth)
    mask = np.zeros((48, 64), np.uint8)
    mask[6:22, 10:30] = 1
    cv2.imwrite(str(tmp_path / "a_mask.png"), mask)
    obj = {"name": "the red box", "category": "box", "box2d": [10, 6, 29, 21], "center": [0, 0, 3],
           "size": [1, 1, 1], "yaw": 0.0, "mask_path": str(tmp_path / "a_mask.png")}
    # B: 80x60 with OpenCV distortion and lidar-like points in the camera frame
    write_png(tmp_path / "b.png", rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
    pts = np.stack([rng.uniform(-2, 2, 300), rng.uniform(-1.5, 1.5, 300), rng.uniform(2, 8, 300)], 1)
    np.save(tmp_path / "b_pts.npy", pts.astype(np.float32))
    # C: fx != fy, no depth
    write_png(tmp_path / "c.png", rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    rows = [
        _row("a", tmp_path / "a.png", 64, 48, 80.0, 80.0, 31.5, 23.5, tmp_path / "a.npy", "npy", "z", objects=[obj]),
        _row("b", tmp_path / "b.png", 80, 60, 70.0, 70.0, 39.5, 29.5, tmp_path / "b_pts.npy", "points_npy", "ray",
             dist=("opencv", [-0.1, 0.01, 0.0, 0.0])),
        _row("c", tmp_path / "c.png", 50, 40, 80.0, 100.0, 24.5, 19.5),
    ]
    df = pd.DataFrame(rows)
    df.to_parquet(tmp_path / "calib.parquet", index=False)
    pd.DataFrame({"pair_id": ["p0"], "image_id_1": ["a"], "image_id_2": ["c"], "covisibility": [0.5]}).to_parquet(
        tmp_path / "pairs.parquet", index=False)
    return tmp_path, depth, mask, pts


def _run(t, out, workers=1, target=40.0, calib="calib.parquet"):
    main(["--calib", str(t / calib), "--pairs", str(t / "pairs.parquet"), "--out", str(out),
          "--target-focal", str(target), "--workers", str(workers)])


def test_uncleaned_dense_depth_comes_out_clean(data):
    """The stage reads dense depth without `clean_depth` (unify_focal tests validity on the pixels it
    gathers): NaN / inf / negative input gives the same bytes as the cleaned input."""
    t, depth, _, _ = data
    dirty = depth.copy()
    dirty[5, :], dirty[7, ::3], dirty[9, ::2], dirty[11, 1::2] = np.nan, np.inf, -1.0, -np.inf
    np.save(t / "a.npy", dirty)  # the file the index names
    _run(t, t / "out")
    a = pd.read_parquet(t / "out" / "index.parquet").set_index("image_id").loc["a"]
    d = np.load(a.depth_path)
    img = read_image(t / "a.png")
    want = unify_focal(img, make_K(80.0, 80.0, 31.5, 23.5), 40.0, None, clean_depth(dirty))[2]
    assert d.tobytes() == want.tobytes() and np.isfinite(d).all() and (d >= 0).all()
    # output row 2 samples source y = 4.5, nearest row 5 (all NaN): the footprint's nearest valid
    # pixel is row 4, at x = 2u' (dx = -1 ties with dx = 0 and comes first in (dy, dx) order)
    np.testing.assert_array_equal(d[2], depth[4, 0::2])

def test_pinhole_halving_exact(data):
    t, depth, mask, _ = data
    out = t / "out"
    _run(t, out)
    idx = pd.read_parquet(out / "index.parquet")
    assert list(idx.columns[:len(INDEX_COLUMNS)]) == INDEX_COLUMNS
    assert {"source", "scale", "view"} <= set(idx.columns)
    a = idx.set_index("image_id").loc["a"]
    # s = 40 / 80: 64x48 -> 32x24; cx' = (31.5 + 0.5) * 0.5 - 0.5 = 15.5
    assert (a.width, a.height, a.fx, a.fy, a.cx, a.cy, a.scale) == (32, 24, 40.0, 40.0, 15.5, 11.5, 0.5)
    assert a.image_path == str(out / "images" / "a.png") and a.dist_model == "none" and len(a.dist_params) == 0
    assert a.source == "metadata" and a.depth_kind == "z" and a.depth_format == "npy"
    assert read_image(a.image_path).shape == (24, 32, 3)
    # output pixel u' samples source 2u' + 0.5: nearest source pixel 2u' + 1 (values copied, never blended)
    d = np.load(a.depth_path)
    assert d.dtype == np.float32 and d.shape == (24, 32)
    np.testing.assert_array_equal(d, depth[1::2, 1::2])
    obj = json.loads(a.objects)[0]
    # box corners are pixel-centre coordinates: x' = (x + 0.5) * 0.5 - 0.5
    assert obj["box2d"] == [4.75, 2.75, 14.25, 10.25]
    m = cv2.imread(obj["mask_path"], cv2.IMREAD_UNCHANGED)
    assert obj["mask_path"] == str(out / "masks" / "a.png")
    np.testing.assert_array_equal(m, mask[1::2, 1::2])
    assert (out / "pairs.parquet").read_bytes() == (t / "pairs.parquet").read_bytes()


def test_anisotropic_focal(data):
    t, *_ = data
    out = t / "out"
    _run(t, out)
    c = pd.read_parquet(out / "index.parquet").set_index("image_id").loc["c"]
    # sx = 40 / 80 = 0.5, sy = 40 / 100 = 0.4: 50x40 -> 25x16
    assert (c.width, c.height, c.fx, c.fy) == (25, 16, 40.0, 40.0)
    assert c.cx == pytest.approx(12.0) and c.cy == pytest.approx(7.5)
    assert c.scale == 0.5 and pd.isna(c.depth_path)


def test_distorted_sparse_points_reprojected(data):
    t, _, _, pts = data
    out = t / "out"
    _run(t, out)
    b = pd.read_parquet(out / "index.parquet").set_index("image_id").loc["b"]
    K_new, w, h = unify_focal_K(make_K(70, 70, 39.5, 29.5), 80, 60, 40.0, ("opencv", [-0.1, 0.01, 0, 0]))
    assert (b.width, b.height) == (w, h) and b.fx == 40.0 and b.dist_model == "none"
    np.testing.assert_allclose([b.cx, b.cy], K_new[:2, 2])
    d = np.load(b.depth_path)
    np.testing.assert_array_equal(d, sparse_depth_map(pts.astype(np.float32), K_new, w, h, kind="ray"))
    # a point that lands alone on its pixel stores its Euclidean distance there
    uv = project(pts.astype(np.float64), K_new)
    iu, iv = np.floor(uv[:, 0] + 0.5).astype(int), np.floor(uv[:, 1] + 0.5).astype(int)
    inside = (iu >= 0) & (iu < w) & (iv >= 0) & (iv < h)
    assert inside.sum() > 50
    keys = iv[inside] * w + iu[inside]
    uniq, counts = np.unique(keys, return_counts=True)
    alone = np.flatnonzero(inside)[np.isin(keys, uniq[counts == 1])]
    assert len(alone) > 20
    for k in alone[:5]:
        assert d[iv[k], iu[k]] == pytest.approx(np.linalg.norm(pts[k].astype(np.float64)), rel=1e-6)
    assert b.scale == pytest.approx(40 / 70)


def test_workers_do_not_change_bytes(data):
    t, *_ = data
    _run(t, t / "o1", workers=1)
    _run(t, t / "o2", workers=2)
    f1 = sorted(p.relative_to(t / "o1") for p in (t / "o1").rglob("*") if p.is_file())
    f2 = sorted(p.relative_to(t / "o2") for p in (t / "o2").rglob("*") if p.is_file())
    assert f1 == f2 and len(f1) == 8  # index, pairs, 3 images, 2 depth maps, 1 mask
    for f in f1:
        if f.name == "index.parquet":  # paths inside differ by folder name; compare content
            a = pd.read_parquet(t / "o1" / f).drop(columns=["image_path", "depth_path", "objects"])
            b = pd.read_parquet(t / "o2" / f).drop(columns=["image_path", "depth_path", "objects"])
            pd.testing.assert_frame_equal(a, b)
        else:
            assert (t / "o1" / f).read_bytes() == (t / "o2" / f).read_bytes(), f
    # same folder twice -> byte-identical index too
    _run(t, t / "o1", workers=2)
    _run(t, t / "o3", workers=1)
    x = (t / "o1" / "index.parquet").read_bytes()
    _run(t, t / "o1", workers=1)
    assert (t / "o1" / "index.parquet").read_bytes() == x


def test_failure_leaves_nothing(data):
    t, *_ = data
    df = pd.read_parquet(t / "calib.parquet")
    df.loc[2, "image_path"] = str(t / "missing.png")
    df.to_parquet(t / "bad.parquet", index=False)
    with pytest.raises(ValueError, match="missing.png: file not found"):
        _run(t, t / "out", calib="bad.parquet")
    assert not (t / "out").exists()
    assert not [p for p in t.iterdir() if p.name.startswith(".out")]


def test_bad_inputs(data):
    t, *_ = data
    df = pd.read_parquet(t / "calib.parquet")
    df.loc[0, "fx"] = np.nan
    df.to_parquet(t / "nan.parquet", index=False)
    with pytest.raises(ValueError, match="image 'a' has no intrinsics"):
        _run(t, t / "out", calib="nan.parquet")
    pd.DataFrame({"pair_id": ["p"], "image_id_1": ["a"], "image_id_2": ["zz"], "covisibility": [1.0]}).to_parquet(
        t / "pairs.parquet", index=False)
    with pytest.raises(ValueError, match=r"names images not in .*\['zz'\]"):
        _run(t, t / "out")
    df = pd.read_parquet(t / "calib.parquet")
    df.loc[0, "width"] = 65
    df.to_parquet(t / "size.parquet", index=False)
    main_args = ["--calib", str(t / "size.parquet"), "--out", str(t / "out2"), "--target-focal", "40"]
    with pytest.raises(ValueError, match="image 'a'.*64x48 but the index says 65x48"):
        main(main_args)


def test_target_focal_none_keeps_each_cameras_focal(data):
    """`--target-focal none` (the focal-unification ablation): pinhole images, depth, masks and boxes
    come out unchanged; a distorted image is only undistorted (fx = fy = its own 70 px); fx != fy
    keeps fx and resamples the vertical axis to square pixels; scale = 1 everywhere."""
    t, depth, mask, pts = data
    out = t / "native"
    _run(t, out, target="none")
    idx = pd.read_parquet(out / "index.parquet").set_index("image_id")
    a, b, c = idx.loc["a"], idx.loc["b"], idx.loc["c"]
    assert (a.width, a.height, a.fx, a.fy, a.cx, a.cy, a.scale) == (64, 48, 80.0, 80.0, 31.5, 23.5, 1.0)
    assert read_image(a.image_path).tobytes() == read_image(t / "a.png").tobytes()
    np.testing.assert_array_equal(np.load(a.depth_path), depth)  # row 0 is 0 (invalid) in both
    obj = json.loads(a.objects)[0]
    assert obj["box2d"] == [10.0, 6.0, 29.0, 21.0]
    np.testing.assert_array_equal(cv2.imread(obj["mask_path"], cv2.IMREAD_UNCHANGED), mask)
    K_b = make_K(70, 70, 39.5, 29.5)
    dist = ("opencv", [-0.1, 0.01, 0.0, 0.0])
    img_b, K_new, _ = unify_focal(read_image(t / "b.png"), K_b, 70.0, dist)
    assert (b.fx, b.fy, b.scale, b.dist_model) == (70.0, 70.0, 1.0, "none")
    # undistorted at its own focal: about the source's 80x60 (barrel k1 < 0: the inner rectangle is wider)
    assert (b.width, b.height) == (img_b.shape[1], img_b.shape[0]) == (82, 61)
    np.testing.assert_array_equal([b.cx, b.cy], K_new[:2, 2])
    assert read_image(b.image_path).tobytes() == img_b.tobytes()
    np.testing.assert_array_equal(np.load(b.depth_path),
                                  sparse_depth_map(pts.astype(np.float32), K_new, b.width, b.height, kind="ray"))
    # fx = 80 kept, sy = 80 / 100: 50x40 -> 50x32, cy' = (19.5 + 0.5) * 0.8 - 0.5 = 15.5
    assert (c.width, c.height, c.fx, c.fy, c.cx, c.scale) == (50, 32, 80.0, 80.0, 24.5, 1.0)
    assert c.cy == pytest.approx(15.5, abs=1e-12)


def test_target_focal_must_be_positive_or_none(data):
    t, *_ = data
    for bad in ("0", "-3", "nan"):
        with pytest.raises(ValueError, match="--target-focal must be > 0 or none"):
            _run(t, t / "out", target=bad)
    with pytest.raises(SystemExit):
        _run(t, t / "out", target="native")
    assert not (t / "out").exists()
