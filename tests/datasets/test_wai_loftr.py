"""MapAnything WAI scenes (scene_meta.json + EXR depth) and LoFTR ScanNet-1500 / MegaDepth-1500 npz pairs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest
from PIL import Image

import vlm3.datasets.readers  # noqa: F401
from vlm3.datasets import load_index
from vlm3.io.depth import read_depth


def _img(p: Path, w=8, h=6):
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(p)


def _exr(p: Path, d: np.ndarray, channel="Y"):
    p.parent.mkdir(parents=True, exist_ok=True)
    hdr = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(hdr, {channel: d.astype(np.float32)}) as f:
        f.write(str(p))


def _wai(root: Path, t2=(1.0, 0.0, 0.0)):
    sc = root / "courtyard"
    frames = []
    for i, t in enumerate([(0.0, 0.0, 0.0), t2]):
        c2w = np.eye(4)
        c2w[:3, 3] = t
        _img(sc / "images" / f"DSC_000{i}.png", 4, 4)
        _exr(sc / "depth" / f"DSC_000{i}.exr", np.full((4, 4), 2.0))
        frames.append({"frame_name": f"DSC_000{i}", "image": f"images/DSC_000{i}.png",
                       "file_path": f"images/DSC_000{i}.png", "depth": f"depth/DSC_000{i}.exr",
                       "transform_matrix": c2w.tolist(), "h": 4, "w": 4, "fl_x": 2.0, "fl_y": 2.0,
                       "cx": 1.5, "cy": 1.5})
    meta = {"scene_name": "courtyard", "dataset_name": "eth3d", "version": "0.1", "shared_intrinsics": False,
            "camera_model": "PINHOLE", "camera_convention": "opencv", "scale_type": "metric",
            "frames": frames, "frame_modalities": {}}
    (sc / "scene_meta.json").write_text(json.dumps(meta))
    return meta


def test_wai_scene_and_pairs(tmp_path):
    _wai(tmp_path)
    images, pairs = load_index("wai", tmp_path, "test", min_covisibility=0.0, covis_stride=1)
    assert list(images.image_id) == ["courtyard/DSC_0000", "courtyard/DSC_0001"]
    r = images.iloc[1]
    assert (r.fx, r.fy, r.cx, r.cy, r.width, r.height) == (2.0, 2.0, 1.5, 1.5, 4, 4)
    assert np.reshape(r.cam_to_world, (4, 4))[0, 3] == 1.0
    assert (r.depth_format, r.depth_kind) == ("exr", "z")
    np.testing.assert_array_equal(read_depth(r.depth_path, r.depth_format, shape=(4, 4)), np.full((4, 4), 2.0))
    # camera 2 is 1 m to the right at f = 2 px, depth 2 m: view-1 columns shift by one pixel
    # (3 of 4 columns stay inside), and symmetrically for 2 -> 1
    cov = dict(zip(pairs.pair_id, pairs.covisibility))
    assert cov == {"courtyard/DSC_0000__courtyard/DSC_0001": 0.75, "courtyard/DSC_0001__courtyard/DSC_0000": 0.75}
    _, kept = load_index("wai", tmp_path, "test", min_covisibility=0.8, covis_stride=1)
    assert kept.empty
    (tmp_path / "val.txt").write_text("nowhere\n")  # a split's scene list names the scenes to load
    with pytest.raises(ValueError, match="nowhere/scene_meta.json not found"):
        load_index("wai", tmp_path, "val")


def test_wai_pairs_file_and_conventions(tmp_path):
    meta = _wai(tmp_path)
    (tmp_path / "pairs.json").write_text(json.dumps([["courtyard", "DSC_0001", "DSC_0000"]]))
    _, pairs = load_index("wai", tmp_path, "test", covis_stride=1)
    assert list(pairs.pair_id) == ["courtyard/DSC_0001__courtyard/DSC_0000"] and pairs.covisibility[0] == 0.75
    (tmp_path / "pairs.json").write_text(json.dumps([["courtyard", "DSC_0001", "DSC_9"]]))
    with pytest.raises(ValueError, match="unknown frame"):
        load_index("wai", tmp_path, "test")
    meta["camera_convention"] = "opengl"
    (tmp_path / "courtyard" / "scene_meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="camera_convention 'opengl'"):
        load_index("wai", tmp_path, "test", pairs=False)


def test_loftr_scannet1500(tmp_path):
    np.savez(tmp_path / "test.npz", name=np.array([[707, 0, 15, 30]]), score=np.array([0.5]))
    K = np.array([[2.0, 0, 1.5], [0, 2.0, 1.5], [0, 0, 1]])
    np.savez(tmp_path / "intrinsics.npz", scene0707_00=K)
    sc = tmp_path / "scene0707_00"
    for f, x in ((15, 0.0), (30, 1.0)):
        _img(sc / "color" / f"{f}.jpg", 4, 4)
        (sc / "depth").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(sc / "depth" / f"{f}.png"), np.full((4, 4), 2000, np.uint16))
        c2w = np.eye(4)
        c2w[0, 3] = x
        (sc / "pose").mkdir(exist_ok=True)
        np.savetxt(sc / "pose" / f"{f}.txt", c2w)
    images, pairs = load_index("loftr_scannet", tmp_path, "test", covis_stride=1)
    assert list(images.image_id) == ["scene0707_00/15", "scene0707_00/30"]
    assert (images.fx[0], images.cx[0], images.depth_format[0]) == (2.0, 1.5, "png_mm")
    assert list(pairs.pair_id) == ["scene0707_00/15__scene0707_00/30"] and pairs.covisibility[0] == 0.75


def test_loftr_megadepth1500(tmp_path):
    w2c = np.eye(4)
    w2c[:3, 3] = [1.0, 2.0, 3.0]
    ips = np.array(["Undistorted_SfM/0015/images/a.jpg", "Undistorted_SfM/0015/images/b.jpg", None], dtype=object)
    dps = np.array(["phoenix/S6/zl548/MegaDepth_v1/0015/dense0/depths/a.h5",
                    "phoenix/S6/zl548/MegaDepth_v1/0015/dense0/depths/b.h5", None], dtype=object)
    for p in ips[:2]:
        _img(tmp_path / p, 10, 6)
    K = np.array([[[5.0, 0, 4.5], [0, 6.0, 2.5], [0, 0, 1]]] * 3)
    info = np.empty(1, dtype=object)
    info[0] = ((0, 1), 0.42, np.zeros((0, 2)))
    np.savez(tmp_path / "0015_0.1_0.3.npz", image_paths=ips, depth_paths=dps, intrinsics=K,
             poses=np.stack([w2c, np.eye(4), np.eye(4)]), pair_infos=info)
    images, pairs = load_index("loftr_megadepth", tmp_path, "test")
    assert list(images.image_id) == ["0015/a", "0015/b"]
    r = images.iloc[0]
    assert (r.width, r.height, r.fx, r.fy, r.cx, r.cy) == (10, 6, 5.0, 6.0, 4.5, 2.5)
    assert np.reshape(r.cam_to_world, (4, 4))[:3, 3].tolist() == [-1.0, -2.0, -3.0]  # inverse of w2c
    assert r.depth_path.endswith("MegaDepth_v1/0015/dense0/depths/a.h5") and "phoenix" not in r.depth_path
    assert list(pairs.covisibility) == [0.42] and pairs.image_id_1[0] == "0015/a"
