"""The generated raw split: geometric self-consistency, objects, determinism, splits, loader."""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from vlm3.datasets import load_index
from vlm3.geometry.covisibility import reproject
from vlm3.synthetic.generate import build_params, generate_split, is_withheld, main
from vlm3.synthetic.scene import SyntheticParams

TINY = dict(views=3, sizes=((64, 48), (48, 36)), focal_range=(35.0, 90.0), withheld=0.25)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn")
    generate_split(out, "train", 3, seed=7, params=SyntheticParams(**TINY))
    generate_split(out, "test", 2, seed=7, params=SyntheticParams(**TINY))
    generate_split(out, "hard", 3, seed=7, params=SyntheticParams(difficulty="hard", **TINY))
    return out


def _meta(raw, split):
    return json.loads((raw / split / "meta.json").read_text())


def _truth_K(raw, split, im):
    intr = im["intrinsics"] or json.loads((raw / split / "intrinsics_withheld.json").read_text())[im["image_id"]]
    return np.array([[intr["fx"], 0, intr["cx"]], [0, intr["fy"], intr["cy"]], [0, 0, 1.0]])


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("split", ["train", "hard"])
def test_depth_reprojects_onto_the_same_surface(raw, split):
    """View A's depth, unprojected and re-projected into view B, agrees with B's depth within 1 %
    wherever the point is visible in B; occluded points have B depth in front, never behind."""
    meta = _meta(raw, split)
    by_scene = {}
    for im in meta["images"]:
        by_scene.setdefault(im["scene_id"], []).append(im)
    n_smooth, n_behind, rel_visible = 0, 0, []
    for ims in by_scene.values():
        for a in ims:
            for b in ims:
                if a is b:
                    continue
                da = np.load(raw / split / a["depth"])
                db = np.load(raw / split / b["depth"]).astype(np.float64)
                Ta = np.array(a["cam_to_world"]).reshape(4, 4)
                Tb = np.array(b["cam_to_world"]).reshape(4, 4)
                u2, v2, z2, valid = reproject(da, _truth_K(raw, split, a), Ta, _truth_K(raw, split, b), Tb)
                Hb, Wb = db.shape
                inside = valid & (z2 > 0) & (u2 >= 0) & (u2 <= Wb - 1) & (v2 >= 0) & (v2 <= Hb - 1)
                u, v, z = u2[inside], v2[inside], z2[inside]
                # Interpolate 1/z bilinearly (exact on planes); skip 2x2 cells spanning an edge.
                u0 = np.minimum(np.floor(u).astype(int), Wb - 2)
                v0 = np.minimum(np.floor(v).astype(int), Hb - 2)
                fu, fv = u - u0, v - v0
                q = [db[v0, u0], db[v0, u0 + 1], db[v0 + 1, u0], db[v0 + 1, u0 + 1]]
                smooth = (np.max(q, axis=0) / np.min(q, axis=0)) < 1.01
                inv = ((1 - fu) * (1 - fv) / q[0] + fu * (1 - fv) / q[1]
                       + (1 - fu) * fv / q[2] + fu * fv / q[3])
                rel = (1.0 / inv - z) / z
                visible = smooth & (np.abs(rel) <= 0.01)
                behind = smooth & (rel > 0.01)  # B sees past the point: only sub-pixel slivers
                n_smooth += int(smooth.sum())
                n_behind += int(behind.sum())
                rel_visible.append(rel[visible])
    rel_visible = np.concatenate(rel_visible)
    assert rel_visible.size > 500
    assert n_behind <= 0.002 * n_smooth
    assert np.median(np.abs(rel_visible)) < 1e-6  # exact (interpolating 1/z) on planes


def test_objects_box2d_mask_and_3d_box(raw):
    n_full, n_obj = 0, 0
    for split in ("train", "hard"):
        for im in _meta(raw, split)["images"]:
            mask = cv2.imread(str(raw / split / im["mask"]), cv2.IMREAD_UNCHANGED)
            depth = np.load(raw / split / im["depth"]).astype(np.float64)
            K = _truth_K(raw, split, im)
            assert mask.dtype == np.uint8 and mask.shape == depth.shape
            present = sorted(int(i) for i in np.unique(mask) if i)
            assert [o["instance_id"] for o in im["objects"]] == present
            for o in im["objects"]:
                n_obj += 1
                ys, xs = np.nonzero(mask == o["instance_id"])
                assert o["box2d"] == [xs.min(), ys.min(), xs.max(), ys.max()]
                assert o["visible_px"] == xs.size <= o["hit_px"]
                assert o["name"] == f"the {o['color']} {o['category']}"
                # Every visible pixel, unprojected, lies inside the object's 3D box.
                z = depth[ys, xs]
                pc = np.stack([(xs - K[0, 2]) / K[0, 0] * z, (ys - K[1, 2]) / K[1, 1] * z, z], 1)
                Rm = np.array(o["rotation"]).reshape(3, 3)
                local = (pc - np.array(o["center"])) @ Rm
                assert (np.abs(local) <= np.array(o["size"]) / 2 + 1e-4).all()
                # Camera-frame centre = world centre through the pose.
                T = np.array(im["cam_to_world"]).reshape(4, 4)
                np.testing.assert_allclose(T[:3, :3] @ o["center"] + T[:3, 3], o["center_world"], atol=1e-9)
                if not o["truncated"] and o["occlusion"] == 0.0:
                    n_full += 1
                    x, y, zc = o["center"]
                    u, v = K[0, 0] * x / zc + K[0, 2], K[1, 1] * y / zc + K[1, 2]
                    x1, y1, x2, y2 = o["box2d"]
                    assert x1 - 0.5 <= u <= x2 + 0.5 and y1 - 0.5 <= v <= y2 + 0.5
    assert n_obj >= 10 and n_full >= 3


def test_easy_camera_height_and_scene_layout(raw):
    meta = _meta(raw, "train")
    assert len(meta["scenes"]) == 3
    for im in meta["images"]:
        T = np.array(im["cam_to_world"]).reshape(4, 4)
        assert T[2, 3] == pytest.approx(1.6)  # easy: fixed, known camera height
        np.testing.assert_allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-12)
        assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)
        assert (im["width"], im["height"]) in [(64, 48), (48, 36)]
        d = np.load(raw / "train" / im["depth"])
        assert d.dtype == np.float32 and (d > 0).all()  # the room is closed: every pixel is valid
        assert im["depth_min"] == float(d.min()) and im["depth_max"] == float(d.max())
    for sc in meta["scenes"]:
        assert 1 <= len(sc["objects"]) <= 3
        names = [o["name"] for o in sc["objects"]]
        assert len(set(names)) == len(names)


def test_withheld_fraction_and_truth_file(raw):
    for split in ("train", "test", "hard"):
        meta = _meta(raw, split)
        truth = json.loads((raw / split / "intrinsics_withheld.json").read_text())
        ims = meta["images"]
        withheld = {im["image_id"] for im in ims if im["withheld"]}
        assert withheld == set(truth)
        assert abs(len(withheld) - 0.25 * len(ims)) < 1
        for im in ims:
            assert (im["intrinsics"] is None) == im["withheld"]
        for v in truth.values():
            assert v["fx"] == v["fy"] and 35.0 <= v["fx"] <= 90.0
    # The stratified rule keeps the count within one of n * p for every prefix.
    for p in (0.0, 0.1, 0.25, 0.5, 1.0):
        cum = np.cumsum([is_withheld(k, p, 0.37) for k in range(200)])
        assert np.all(np.abs(cum - p * np.arange(1, 201)) < 1)


def test_loader_validates_and_maps_withheld_to_nan(raw):
    images, pairs = load_index("synthetic", raw, "train")
    assert len(images) == 9 and len(pairs) == 9
    meta = _meta(raw, "train")
    for row, im in zip(images.itertuples(), meta["images"]):
        assert row.image_id == im["image_id"]
        assert Path(row.image_path) == raw / "train" / im["image"] and Path(row.image_path).is_file()
        assert row.depth_format == "npy" and row.depth_kind == "z" and row.dist_model == "none"
        if im["withheld"]:
            assert all(math.isnan(x) for x in (row.fx, row.fy, row.cx, row.cy))
        else:
            assert row.fx == im["intrinsics"]["fx"] and row.cy == im["intrinsics"]["cy"]
        objs = json.loads(row.objects)
        assert [o["name"] for o in objs] == [o["name"] for o in im["objects"]]
        for o in objs:
            assert set(o) >= {"name", "category", "box2d", "center", "size", "yaw", "mask_path"}
            assert Path(o["mask_path"]).is_file()
    assert images["width"].dtype == np.int32 and images["fx"].dtype == np.float64
    assert ((pairs["covisibility"] >= 0) & (pairs["covisibility"] <= 1)).all()
    with pytest.raises(ValueError, match="does not exist"):
        load_index("synthetic", raw, "nosuchsplit")


def test_index_cli_writes_contract_types(raw, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vlm3.index import main as index_main
    out, pout = tmp_path / "train.parquet", tmp_path / "train_pairs.parquet"
    index_main(["--type", "synthetic", "--raw", str(raw), "--split", "train", "--out", str(out),
                "--pairs-out", str(pout)])
    schema = pq.read_schema(out)
    assert schema.field("dist_params").type == pa.list_(pa.float64())
    assert schema.field("cam_to_world").type == pa.list_(pa.float64())
    assert schema.field("width").type == pa.int32()
    assert pq.read_table(pout).num_rows == 9
    back = pd.read_parquet(out)  # plain pandas reads it back (no extension dtypes in the file)
    assert len(back) == 9 and list(back["dist_params"][0]) == []


def test_splits_are_disjoint_and_independent(raw, tmp_path):
    train, test = _meta(raw, "train"), _meta(raw, "test")
    assert not {s["scene_id"] for s in train["scenes"]} & {s["scene_id"] for s in test["scenes"]}
    a = (raw / "train/scenes/train_00000/0.png").read_bytes()
    b = (raw / "test/scenes/test_00000/0.png").read_bytes()
    assert a != b
    # More train scenes leave the first ones untouched; test is generated by its own stream.
    generate_split(tmp_path, "train", 4, seed=7, params=SyntheticParams(**TINY))
    small, big = _files(raw / "train" / "scenes"), _files(tmp_path / "train" / "scenes")
    assert all(big[k] == v for k, v in small.items()) and len(big) == len(small) + 9


def test_determinism_workers_and_seed(raw, tmp_path):
    generate_split(tmp_path / "w2", "train", 3, seed=7, params=SyntheticParams(**TINY), workers=2)
    assert _files(tmp_path / "w2" / "train") == _files(raw / "train")
    generate_split(tmp_path / "s8", "train", 3, seed=8, params=SyntheticParams(**TINY))
    other = _files(tmp_path / "s8" / "train")
    assert other["meta.json"] != _files(raw / "train")["meta.json"]
    assert other["scenes/train_00000/0.png"] != (raw / "train/scenes/train_00000/0.png").read_bytes()
    # Regenerating over an existing split replaces it atomically and leaves no temp folders.
    generate_split(tmp_path / "w2", "train", 2, seed=7, params=SyntheticParams(**TINY))
    assert sorted(p.name for p in (tmp_path / "w2").iterdir()) == ["train"]
    assert len(json.loads((tmp_path / "w2/train/meta.json").read_text())["images"]) == 6


def test_fov_range_sets_focal_from_width(tmp_path):
    params, _ = build_params({"fov_range": "40,90", "sizes": "64x48,32x24", "withheld": 0.0}, "arguments")
    meta = json.loads((generate_split(tmp_path, "train", 4, seed=2, params=params) / "meta.json").read_text())
    for im in meta["images"]:
        fov = 2 * math.degrees(math.atan(0.5 * im["width"] / im["intrinsics"]["fx"]))
        assert 40.0 <= fov <= 90.0
    assert len({im["width"] for im in meta["images"]}) == 2


def test_loader_names_a_missing_file(tmp_path):
    folder = generate_split(tmp_path, "test", 1, seed=0, params=SyntheticParams(**TINY))
    (folder / "scenes/test_00000/1_depth.npy").unlink()
    with pytest.raises(ValueError, match=r"1_depth\.npy \(depth of test_00000_v1"):
        load_index("synthetic", tmp_path, "test")
    (folder / "meta.json").write_text("{}")
    with pytest.raises(ValueError, match="not a vlm3-synthetic/1 meta file"):
        load_index("synthetic", tmp_path, "test")


def test_cli_params_file_and_bad_input(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("n_scenes: 1\nviews: 2\nsizes: ['40x30']\nfocal_range: [30, 40]\nwithheld: 0.5\n")
    main(["--out", str(tmp_path / "raw"), "--split", "train", "--params", str(cfg), "--seed", "3",
          "--views", "3"])
    meta = json.loads((tmp_path / "raw/train/meta.json").read_text())
    assert len(meta["images"]) == 3 and meta["seed"] == 3  # the flag overrides the file
    assert {(im["width"], im["height"]) for im in meta["images"]} == {(40, 30)}
    assert meta["params"]["withheld"] == 0.5
    cfg.write_text("n_scene: 1\n")
    with pytest.raises(ValueError, match=r"p\.yaml.*n_scene"):
        main(["--out", str(tmp_path / "raw2"), "--split", "train", "--params", str(cfg)])
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        build_params({"sizes": "64by48"}, "arguments")
    with pytest.raises(ValueError, match="difficulty"):
        build_params({"difficulty": "medium"}, "arguments")
    with pytest.raises(ValueError, match="fov_range"):
        build_params({"fov_range": "60,200"}, "arguments")
    with pytest.raises(ValueError, match="camera_height"):
        build_params({"camera_height": 3.0}, "arguments")
    with pytest.raises(ValueError, match="focal_range"):
        build_params({"focal_range": [100, 50]}, "arguments")
    with pytest.raises(ValueError, match="n-scenes"):
        generate_split(tmp_path / "raw3", "train", 0)
    assert not (tmp_path / "raw2").exists() or not any((tmp_path / "raw2").iterdir())
