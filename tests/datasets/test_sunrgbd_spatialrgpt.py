"""SUN RGB-D / NYUv2 (SUN RGB-D layout + allsplit.mat / splits.mat) and SpatialRGPT-Bench (json + RLE)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from vlm3.datasets import load_index
from vlm3.datasets.spatialrgpt_bench import rle_counts, rle_decode, rle_encode_string
from vlm3.io.depth import read_depth

K_TXT = "529.5 0 365.0\n0 529.5 265.0\n0 0 1\n"


def _scene(root: Path, rel: str, mm: np.ndarray, w=8, h=6):
    d = root / "SUNRGBD" / rel
    for sub in ("image", "depth", "depth_bfx"):
        (d / sub).mkdir(parents=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(d / "image" / "0000103.jpg")
    v = mm.astype(np.uint32)
    stored = (((v << 3) | (v >> 13)) & 0xFFFF).astype(np.uint16)  # SUN RGB-D rotates the bits by 3
    cv2.imwrite(str(d / "depth" / "0000103.png"), stored)
    cv2.imwrite(str(d / "depth_bfx" / "0000103.png"), stored)
    (d / "intrinsics.txt").write_text(K_TXT)


def _cell(paths):
    a = np.empty((1, len(paths)), dtype=object)
    for i, p in enumerate(paths):
        a[0, i] = np.array([p])
    return a


@pytest.fixture()
def sun(tmp_path):
    mm = np.arange(48, dtype=np.uint16).reshape(6, 8) * 100
    mm[0, 0] = 0
    for rel in ("kv1/NYUdata/NYU0001", "kv1/NYUdata/NYU0002", "kv2/kinect2data/000002_2014-05-26",
                "xtion/sun3ddata/mit_lab/seq1/0000089"):
        _scene(tmp_path, rel, mm)
    tb = tmp_path / "SUNRGBDtoolbox" / "traintestSUNRGBD"
    tb.mkdir(parents=True)
    pre = "/n/fs/sun3d/data/SUNRGBD/"
    scipy.io.savemat(tb / "allsplit.mat", {
        "alltest": _cell([pre + "kv2/kinect2data/000002_2014-05-26", pre + "kv1/NYUdata/NYU0002"]),
        "alltrain": _cell([pre + "xtion/sun3ddata/mit_lab/seq1/0000089/", pre + "kv1/NYUdata/NYU0001"])})
    scipy.io.savemat(tmp_path / "splits.mat", {"testNdxs": np.array([[2]]), "trainNdxs": np.array([[1]])})
    return tmp_path, mm


def test_sunrgbd_split_units_and_intrinsics(sun):
    root, mm = sun
    test, _ = load_index("sunrgbd", root, "test")
    assert list(test.image_id) == ["kv2/kinect2data/000002_2014-05-26"]  # NYU part excluded
    r = test.iloc[0]
    assert (r.fx, r.fy, r.cx, r.cy) == (529.5, 529.5, 364.0, 264.0)  # 1-based toolbox centre -> 0-based
    assert (r.depth_format, r.depth_kind, r.sensor, r.width, r.height) == ("sunrgbd", "z", "kv2", 8, 6)
    assert r.depth_path.endswith("depth_bfx/0000103.png")
    d = read_depth(r.depth_path, r.depth_format)
    np.testing.assert_array_equal(d, mm.astype(np.float32) / 1000)
    assert d[0, 0] == 0 and d[5, 7] == np.float32(4.7)
    train, _ = load_index("sunrgbd", root, "train", depth_dir="depth")
    assert list(train.image_id) == ["xtion/sun3ddata/mit_lab/seq1/0000089"]
    assert len(load_index("sunrgbd", root, "all", include_nyu=True)[0]) == 4
    with pytest.raises(ValueError, match="split must be"):
        load_index("sunrgbd", root, "val")


def test_nyuv2_official_split(sun):
    root, mm = sun
    test, _ = load_index("nyuv2", root, "test")
    assert list(test.image_id) == ["NYU0002"] and test.scene_id[0] == "kv1/NYUdata/NYU0002"
    assert list(load_index("nyuv2", root, "all")[0].image_id) == ["NYU0001", "NYU0002"]
    (root / "splits.mat").unlink()
    with pytest.raises(ValueError, match="splits.mat not found"):
        load_index("nyuv2", root, "test")


# ------------------------------------------------------------------------------ COCO RLE
def test_rle_hand_examples():
    assert rle_encode_string([1, 3]) == "13"
    assert rle_counts("13") == [1, 3]
    # 40 needs two 5-bit groups ('X' = 8 | continue, '1' = 1 << 5); the 4th count is stored as 50 - 40
    assert rle_encode_string([5, 40, 3, 50]) == "5X13:"
    assert rle_counts("5X13:") == [5, 40, 3, 50]
    m = rle_decode({"size": [2, 2], "counts": "13"})  # column-major: (0,0)=0, (1,0)=1, (0,1)=1, (1,1)=1
    np.testing.assert_array_equal(m, [[0, 1], [1, 1]])
    np.testing.assert_array_equal(rle_decode({"size": [2, 2], "counts": [1, 3]}), m)
    with pytest.raises(ValueError, match="sum to 3"):
        rle_decode({"size": [2, 2], "counts": [1, 2]})


def _encode(mask: np.ndarray) -> dict:
    flat = mask.T.ravel()
    counts, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            counts.append(n)
            cur, n = v, 0
        n += 1
    counts.append(n)
    return {"size": list(mask.shape), "counts": rle_encode_string(counts)}


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.data())
def test_rle_round_trip(h, w, data):
    mask = np.array(data.draw(st.lists(st.integers(0, 1), min_size=h * w, max_size=h * w)), np.uint8).reshape(h, w)
    np.testing.assert_array_equal(rle_decode(_encode(mask)), mask)


# ------------------------------------------------------------------------------ SpatialRGPT-Bench
def _bench(root: Path):
    fp = "SUNRGBD/kv2/kinect2data/000065/image/0000065.jpg"
    (root / "images" / Path(fp).parent).mkdir(parents=True)
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(root / "images" / fp)
    m0 = np.zeros((30, 40), np.uint8)
    m0[5:10, 2:8] = 1
    m1 = np.zeros((30, 40), np.uint8)
    m1[20:25, 30:39] = 1
    rec = {"id": "q0001", "image_info": {"file_path": fp}, "text_q": "Is Region [0] behind Region [1]?",
           "qa_info": {"type": "qualitative", "category": "behind_predicate"},
           "conversations": [{"from": "human", "value": "<image>\nIs <mask> <depth> behind <mask> <depth>?"},
                             {"from": "gpt", "value": "No."}],
           "rle": [_encode(m0), _encode(m1)], "bbox": [[2, 5, 7, 9], [30, 20, 38, 24]]}
    (root / "SpatialRGPT-Bench_v1.json").write_text(json.dumps([rec]))
    (root / "Omni3D_json").mkdir()
    (root / "Omni3D_json" / "SUNRGBD_test.json").write_text(json.dumps({"images": [
        {"id": 1, "file_path": "SUNRGBD/kv2/kinect2data/000065/image/0000065.jpg", "width": 40, "height": 30,
         "K": [[529.5, 0, 365.0], [0, 529.5, 262.5], [0, 0, 1]]},
        {"id": 2, "file_path": "SUNRGBD/kv2/other/image/0000065.jpg", "width": 40, "height": 30,
         "K": [[1.0, 0, 1.0], [0, 1.0, 1.0], [0, 0, 1]]}]}))
    return rec, (m0, m1)


def test_spatialrgpt_bench(tmp_path):
    rec, masks = _bench(tmp_path)
    images, pairs = load_index("spatialrgpt_bench", tmp_path, "test")
    assert pairs is None and len(images) == 1
    r = images.iloc[0]
    assert (r.image_id, r.width, r.height) == ("q0001", 40, 30)
    assert (r.fx, r.fy, r.cx, r.cy) == (529.5, 529.5, 365.0, 262.5)  # longest-suffix Omni3D match
    assert (r.question, r.answer, r.qa_type, r.qa_category) == (
        rec["text_q"], "No.", "qualitative", "behind_predicate")
    assert json.loads(r.conversations) == rec["conversations"]
    objs = json.loads(r.objects)
    assert [o["name"] for o in objs] == ["Region [0]", "Region [1]"]
    assert [o["box2d"] for o in objs] == [[2, 5, 7, 9], [30, 20, 38, 24]]
    assert all(set(o) == {"name", "category", "box2d", "center", "size", "yaw", "mask_path"} for o in objs)
    for o, rle, m in zip(objs, json.loads(r.region_rle), masks):
        dm = rle_decode(rle)
        np.testing.assert_array_equal(dm, m)
        ys, xs = np.nonzero(dm)
        assert [xs.min(), ys.min(), xs.max(), ys.max()] == o["box2d"]


def test_spatialrgpt_bench_bad_box_and_missing_k(tmp_path):
    rec, _ = _bench(tmp_path)
    (tmp_path / "Omni3D_json" / "SUNRGBD_test.json").unlink()
    images, _ = load_index("spatialrgpt_bench", tmp_path, "test")
    assert np.isnan(images.fx[0])  # no intrinsics: left for the calibrate stage
    rec["bbox"][0] = [2, 5, 70, 9]
    (tmp_path / "SpatialRGPT-Bench_v1.json").write_text(json.dumps([rec]))
    with pytest.raises(ValueError, match="q0001.*inside 40x30"):
        load_index("spatialrgpt_bench", tmp_path, "test")


def test_sunrgbd_scene_without_intrinsics_is_an_error(sun):
    root, _ = sun
    scene = root / "SUNRGBD" / "kv2" / "kinect2data" / "000002_2014-05-26"
    (scene / "intrinsics.txt").unlink()
    with pytest.raises(ValueError) as e:
        load_index("sunrgbd", root, "test")
    assert str(e.value) == (f"sunrgbd {scene}: scene without intrinsics.txt (its image/*.jpg cannot be "
                            "calibrated from metadata); restore the file or remove the scene")
    assert list(load_index("sunrgbd", root, "train")[0].image_id) == ["xtion/sun3ddata/mit_lab/seq1/0000089"]
