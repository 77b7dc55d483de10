"""DepthLM curated JSONL (real 40-image iBims-1 slice when shared/ exists) and the iBims-1 PNG release."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import vlm3.datasets.readers  # noqa: F401  (registers the dataset readers)
from vlm3.datasets import load_index
from vlm3.geometry.depth import sparse_depth_map
from vlm3.io.depth import is_sparse, read_depth

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "ibims1-depthlm"


def _png(path: Path, w: int, h: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/ibims1-depthlm absent (real DepthLM slice)")
def test_real_depthlm_ibims_slice():
    images, pairs = load_index("depthlm_jsonl", SHARED, "val", jsonl="ibims1_val.jsonl")
    assert pairs is None and len(images) == 40
    r = images.set_index("image_id").loc["corridor_01"]
    assert (r.fx, r.fy, r.cx, r.cy, r.width, r.height) == (559.62, 558.14, 361.87, 241.99, 640, 480)
    assert r.scene_id == "corridor" and r.depth_kind == "z" and r.n_labels == 100
    rec = [json.loads(ln) for ln in open(SHARED / "ibims1_val.jsonl")]
    idx = [i for i, x in enumerate(rec) if x["image"] == "rgb/corridor_01.png"][0]
    assert r.depth_format == f"depthlm_points:{idx}:z" and is_sparse(r.depth_format)
    pts = read_depth(r.depth_path, r.depth_format)
    K = np.array([[r.fx, 0, r.cx], [0, r.fy, r.cy], [0, 0, 1]])
    dmap = sparse_depth_map(pts, K, 640, 480)
    for (x, y), d in zip(rec[idx]["pixel_coords"], rec[idx]["depth"]):
        assert dmap[y, x] == pytest.approx(d, rel=1e-6)
    # the labels are exactly the PNG release's z quantisation v * 50 / 65535 (so: camera z, not ray)
    allv = np.concatenate([x["depth"] for x in rec]) * 65535 / 50
    assert np.abs(allv - np.round(allv)).max() < 1e-6


def _write_jsonl(tmp: Path, recs: list[dict]) -> Path:
    for r in recs:
        _png(tmp / r["image"], r["intrinsics"][4], r["intrinsics"][5])
    p = tmp / "val.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return p


def test_depthlm_jsonl_fixture_ray_points(tmp_path):
    rec = {"image": "rgb/lab_02.png", "intrinsics": [100.0, 100.0, 20.0, 10.0, 40, 20],
           "pixel_coords": [[20, 10], [23, 14]], "depth": [2.0, 5.0]}
    _write_jsonl(tmp_path, [rec])
    images, _ = load_index("depthlm_jsonl", tmp_path, "val", depth_kind="ray")
    r = images.iloc[0]
    assert r.image_id == "lab_02" and r.scene_id == "lab" and r.depth_format == "depthlm_points:0:ray"
    pts = read_depth(r.depth_path, r.depth_format)
    # centre pixel: ray == z; (23, 14): x = 0.03, y = 0.04 -> z = 5 / sqrt(1.0025)
    assert pts[0].tolist() == [0.0, 0.0, 2.0]
    z = 5.0 / np.sqrt(1 + 0.03 ** 2 + 0.04 ** 2)
    np.testing.assert_allclose(pts[1], [0.03 * z, 0.04 * z, z], rtol=1e-6)
    assert np.linalg.norm(pts[1]) == pytest.approx(5.0, rel=1e-6)


@pytest.mark.parametrize("bad, msg", [
    ({"pixel_coords": [[40, 0]]}, "outside"),
    ({"depth": [1.0, 2.0]}, "1 pixel_coords but 2 depth"),
    ({"depth": [0.0]}, "non-positive"),
])
def test_depthlm_jsonl_rejects_bad_records(tmp_path, bad, msg):
    rec = {"image": "rgb/a_01.png", "intrinsics": [10.0, 10.0, 20.0, 10.0, 40, 20],
           "pixel_coords": [[1, 1]], "depth": [1.0]}
    rec.update(bad)
    p = _write_jsonl(tmp_path, [rec])
    with pytest.raises(ValueError, match=f"{p}:1: .*{msg}"):
        load_index("depthlm_jsonl", tmp_path, "val")


def _ibims_fixture(root: Path, calib: str) -> np.ndarray:
    core = root / "ibims1_core_raw"
    _png(core / "rgb" / "corridor_01.png", 16, 12)
    v = (np.arange(16 * 12, dtype=np.uint16).reshape(12, 16) * 300).astype(np.uint16)
    v[0, 0] = 0
    (core / "depth").mkdir()
    cv2.imwrite(str(core / "depth" / "corridor_01.png"), v)
    inv = np.ones((12, 16), bool)
    inv[5, 7] = False
    tr = np.ones((12, 16), bool)
    tr[2, :3] = False
    for name, m in (("mask_invalid", inv), ("mask_transp", tr)):
        (core / name).mkdir()
        Image.fromarray(m).convert("1").save(core / name / "corridor_01.png")  # 1-bit like the release
    (core / "calib").mkdir()
    (core / "calib" / "corridor_01.txt").write_text(calib)
    (root / "imagelist.txt").write_text("corridor_01.mat\n")
    out = v.astype(np.float64) * 50 / 65535
    out[~inv | ~tr] = 0
    return out.astype(np.float32)


@pytest.mark.parametrize("calib", ["559.62,558.14,361.87,241.99\n",
                                   "559.62 0 0\n0 558.14 0\n361.87 241.99 1\n"])  # MATLAB-transposed
def test_ibims1_png_release(tmp_path, calib):
    expect = _ibims_fixture(tmp_path, calib)
    images, _ = load_index("ibims1", tmp_path, "test")
    r = images.iloc[0]
    assert (r.image_id, r.scene_id, r.width, r.height) == ("corridor_01", "corridor", 16, 12)
    # 1-based principal point of the official script -> 0-based pixel centres
    assert (r.fx, r.fy, r.cx, r.cy) == (559.62, 558.14, pytest.approx(360.87), pytest.approx(240.99))
    assert r.depth_kind == "z" and r.depth_format == "ibims_masked"
    d = read_depth(r.depth_path, r.depth_format, shape=(12, 16))
    np.testing.assert_array_equal(d, expect)
    assert d[1, 0] == np.float32(16 * 300 * 50 / 65535) and d[5, 7] == 0 and d[2, 1] == 0 and d[0, 0] == 0


def test_ibims1_keeps_raw_pp_on_request_and_rejects_split(tmp_path):
    _ibims_fixture(tmp_path, "559.62,558.14,361.87,241.99")
    images, _ = load_index("ibims1", tmp_path, "test", one_based_pp=False)
    assert (images.cx[0], images.cy[0]) == (361.87, 241.99)
    with pytest.raises(ValueError, match="split 'test'"):
        load_index("ibims1", tmp_path, "train")
    (tmp_path / "ibims1_core_raw" / "calib" / "corridor_01.txt").write_text("1,2,3")
    with pytest.raises(ValueError, match="corridor_01.txt: expected"):
        load_index("ibims1", tmp_path, "test")


def test_ibims1_mat_release(tmp_path):
    import scipy.io

    expect = _ibims_fixture(tmp_path, "559.62,558.14,361.87,241.99")
    core = tmp_path / "ibims1_core_raw"
    depth = cv2.imread(str(core / "depth" / "corridor_01.png"), cv2.IMREAD_UNCHANGED).astype(np.float64) * 50 / 65535
    inv = (np.array(Image.open(core / "mask_invalid" / "corridor_01.png")) > 0).astype(np.uint8)
    tr = (np.array(Image.open(core / "mask_transp" / "corridor_01.png")) > 0).astype(np.uint8)
    calib = np.array([[559.62, 0, 0], [0, 558.14, 0], [361.87, 241.99, 1]])  # stored transposed (MATLAB)
    (tmp_path / "ibims1_core_mat").mkdir()
    mat = tmp_path / "ibims1_core_mat" / "corridor_01.mat"
    scipy.io.savemat(mat, {"data": {"rgb": np.zeros((12, 16, 3), np.uint8), "depth": depth, "calib": calib,
                                    "mask_invalid": inv, "mask_transp": tr}})
    images, _ = load_index("ibims1", tmp_path, "test", depth_source="mat")
    r = images.iloc[0]
    assert (r.fx, r.fy, r.cx, r.cy) == (559.62, 558.14, pytest.approx(360.87), pytest.approx(240.99))
    assert r.depth_format == "ibims_mat"
    np.testing.assert_allclose(read_depth(r.depth_path, r.depth_format), expect, rtol=1e-6)
    (core / "calib" / "corridor_01.txt").unlink()  # calib from the .mat alone
    assert load_index("ibims1", tmp_path, "test")[0].cx[0] == pytest.approx(360.87)
    (core / "calib" / "corridor_01.txt").write_text("559.62,558.14,362.87,241.99")
    with pytest.raises(ValueError, match="disagrees with the .mat"):
        load_index("ibims1", tmp_path, "test")


@pytest.mark.parametrize("mask", ["mask_transp", "mask_invalid"])
def test_ibims1_missing_mask_is_an_error(tmp_path, mask):
    _ibims_fixture(tmp_path, "559.62,558.14,361.87,241.99")
    core = tmp_path / "ibims1_core_raw"
    r = load_index("ibims1", tmp_path, "test")[0].iloc[0]
    (core / mask / "corridor_01.png").unlink()
    with pytest.raises(ValueError) as e:
        load_index("ibims1", tmp_path, "test")
    assert str(e.value) == f"ibims1 {mask} (mask of depth/corridor_01.png): {core / mask / 'corridor_01.png'} not found"
    with pytest.raises(ValueError) as e:  # an index made before the mask went missing
        read_depth(r.depth_path, r.depth_format, shape=(12, 16))
    assert str(e.value) == (f"depth {core / 'depth' / 'corridor_01.png'}: mask {core / mask / 'corridor_01.png'} "
                            "not found (without it, masked pixels would count as valid)")


def test_ibims1_truncated_mat_names_the_file(tmp_path):
    import scipy.io

    _ibims_fixture(tmp_path, "559.62,558.14,361.87,241.99")
    (tmp_path / "ibims1_core_mat").mkdir()
    mat = tmp_path / "ibims1_core_mat" / "corridor_01.mat"
    scipy.io.savemat(mat, {"data": {"depth": np.ones((12, 16)), "calib": np.eye(3),
                                    "mask_invalid": np.ones((12, 16)), "mask_transp": np.ones((12, 16))}})
    mat.write_bytes(mat.read_bytes()[:300])
    with pytest.raises(ValueError, match=rf"^{mat}: unreadable iBims-1 \.mat \(.+\)$"):
        load_index("ibims1", tmp_path, "test")
    with pytest.raises(ValueError, match=rf"^{mat}: unreadable iBims-1 \.mat \(.+\)$"):
        read_depth(mat, "ibims_mat")
