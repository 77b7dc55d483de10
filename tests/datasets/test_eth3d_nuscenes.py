"""ETH3D (COLMAP text + raw float32 depth) and nuScenes (13 json tables + .pcd.bin) fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vlm3.datasets.readers  # noqa: F401  (registers the dataset readers)
from vlm3.datasets import load_index
from vlm3.datasets.eth3d import raw_depth_bytes
from vlm3.io.depth import read_depth

S = np.sqrt(0.5)


def _img(path: Path, w=8, h=6, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path, format=fmt)


def _eth3d(root: Path):
    sc = root / "courtyard"
    cal = sc / "dslr_calibration_jpg"
    cal.mkdir(parents=True)
    (cal / "cameras.txt").write_text(
        "# Camera list with one line of data per camera:\n# CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
        "# Number of cameras: 1\n"
        "0 THIN_PRISM_FISHEYE 12 8 10.5 10.25 6.5 4.5 0.01 -0.02 0.001 0.002 0.003 0.004 0.0005 0.0006\n")
    (cal / "images.txt").write_text(
        "# Image list with two lines of data per image:\n#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n"
        "#   POINTS2D[] as (X, Y, POINT3D_ID)\n# Number of images: 2\n"
        f"1 {S} 0 {S} 0 1 2 3 0 dslr_images/DSC_0001.JPG\n1.0 2.0 -1\n"
        f"2 {S} 0 {S} 0 1 2 3 0 dslr_images/DSC_0002.JPG\n\n")
    depth = np.full((8, 12), 4.0, np.float32)
    depth[0, 0] = np.inf
    for n in ("DSC_0001", "DSC_0002"):
        _img(sc / "images" / "dslr_images" / f"{n}.JPG", 12, 8, "JPEG")
        p = sc / "ground_truth_depth" / "dslr_images" / f"{n}.JPG"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(raw_depth_bytes(depth))


def test_eth3d_colmap_conventions(tmp_path):
    _eth3d(tmp_path)
    images, pairs = load_index("eth3d", tmp_path, "test")
    assert pairs is None and list(images.image_id) == ["courtyard/DSC_0001", "courtyard/DSC_0002"]
    r = images.iloc[0]
    assert (r.width, r.height, r.fx, r.fy) == (12, 8, 10.5, 10.25)
    assert (r.cx, r.cy) == (6.0, 4.0)  # COLMAP (0.5, 0.5) pixel-centre origin -> 0-based centres
    assert r.dist_model == "thin_prism_fisheye"
    assert list(r.dist_params) == [0.01, -0.02, 0.001, 0.002, 0.003, 0.004, 0.0005, 0.0006]
    # world-to-camera R = Ry(90 deg), t = (1, 2, 3) -> cam_to_world = [R^T | -R^T t]
    c2w = np.reshape(r.cam_to_world, (4, 4))
    np.testing.assert_allclose(c2w, [[0, 0, -1, 3], [0, 1, 0, -2], [1, 0, 0, -1], [0, 0, 0, 1]], atol=1e-12)
    d = read_depth(r.depth_path, r.depth_format, shape=(r.height, r.width))
    assert d.shape == (8, 12) and d[0, 0] == 0 and d[3, 5] == 4.0 and r.depth_kind == "z"


def test_eth3d_missing_depth_is_an_error(tmp_path):
    _eth3d(tmp_path)
    (tmp_path / "courtyard/ground_truth_depth/dslr_images/DSC_0002.JPG").unlink()
    with pytest.raises(ValueError, match="DSC_0002.JPG not found"):
        load_index("eth3d", tmp_path, "test")


def test_eth3d_degenerate_quaternion_names_file_and_image(tmp_path):
    _eth3d(tmp_path)
    images_txt = tmp_path / "courtyard/dslr_calibration_jpg/images.txt"
    images_txt.write_text(images_txt.read_text().replace(f"2 {S} 0 {S} 0 ", "2 0 0 0 0 "))
    with pytest.raises(ValueError, match=r"images.txt: image 2: degenerate quaternion \[0.0, 0.0, 0.0, 0.0\]"):
        load_index("eth3d", tmp_path, "test")


def test_eth3d_pairs_from_depth(tmp_path):
    _eth3d(tmp_path)
    _, pairs = load_index("eth3d", tmp_path, "test", pairs=True, covis_stride=1)
    # both views share one pose and one depth map: every valid pixel is covisible, both directions
    assert list(pairs.pair_id) == ["courtyard/DSC_0001__courtyard/DSC_0002", "courtyard/DSC_0002__courtyard/DSC_0001"]
    assert list(pairs.covisibility) == [1.0, 1.0]
    _, few = load_index("eth3d", tmp_path, "test", pairs=True, covis_stride=1, max_pairs_per_scene=1, seed=3)
    assert len(few) == 1 and few.pair_id[0] in set(pairs.pair_id)


# ---------------------------------------------------------------------------------------- nuScenes
def _tok(s):
    return f"{s:0>32}"


def _nuscenes(root: Path):
    v = root / "v1.0-mini"
    v.mkdir(parents=True)
    cam_file, lid_file = "samples/CAM_FRONT/n015-cam.jpg", "samples/LIDAR_TOP/n015-lidar.pcd.bin"
    _img(root / cam_file, fmt="JPEG")
    pts = np.array([[20, 0, -0.3, 1, 0], [10, -2, 0.7, 1, 1], [-5, 0, 0, 1, 2], [2.9, 0, -0.3, 1, 3],
                    [100, 0, -0.3, 1, 4]], np.float32)
    (root / lid_file).parent.mkdir(parents=True)
    pts.tofile(root / lid_file)
    tables = {
        "attribute": [], "category": [], "instance": [], "sample_annotation": [], "visibility": [],
        "log": [{"token": _tok("log"), "logfile": "n015", "vehicle": "n015", "date_captured": "2018-07-24",
                 "location": "singapore-onenorth"}],
        "map": [{"token": _tok("map"), "log_tokens": [_tok("log")], "category": "semantic_prior",
                 "filename": "maps/x.png"}],
        "scene": [{"token": _tok("scene"), "log_token": _tok("log"), "nbr_samples": 1, "name": "scene-0061",
                   "first_sample_token": _tok("s1"), "last_sample_token": _tok("s1"), "description": "x"}],
        "sample": [{"token": _tok("s1"), "timestamp": 1000, "prev": "", "next": "", "scene_token": _tok("scene")}],
        "sensor": [{"token": _tok("cam"), "channel": "CAM_FRONT", "modality": "camera"},
                   {"token": _tok("lid"), "channel": "LIDAR_TOP", "modality": "lidar"}],
        "calibrated_sensor": [
            {"token": _tok("cscam"), "sensor_token": _tok("cam"), "translation": [1.5, 0, 1.5],
             "rotation": [0.5, -0.5, 0.5, -0.5],
             "camera_intrinsic": [[1000.0, 0, 800.0], [0, 1000.0, 450.0], [0, 0, 1]]},
            {"token": _tok("cslid"), "sensor_token": _tok("lid"), "translation": [0, 0, 1.8],
             "rotation": [1, 0, 0, 0], "camera_intrinsic": []}],
        "ego_pose": [{"token": _tok("egocam"), "timestamp": 1010, "rotation": [1, 0, 0, 0], "translation": [10.5, 0, 0]},
                     {"token": _tok("egolid"), "timestamp": 1000, "rotation": [1, 0, 0, 0], "translation": [10, 0, 0]}],
        "sample_data": [
            {"token": _tok("sdcam"), "sample_token": _tok("s1"), "ego_pose_token": _tok("egocam"),
             "calibrated_sensor_token": _tok("cscam"), "timestamp": 1010, "fileformat": "jpg",
             "is_key_frame": True, "height": 900, "width": 1600, "filename": cam_file, "prev": "", "next": ""},
            {"token": _tok("sdlid"), "sample_token": _tok("s1"), "ego_pose_token": _tok("egolid"),
             "calibrated_sensor_token": _tok("cslid"), "timestamp": 1000, "fileformat": "pcd",
             "is_key_frame": True, "height": 0, "width": 0, "filename": lid_file, "prev": "", "next": ""}],
    }
    for name, recs in tables.items():
        (v / f"{name}.json").write_text(json.dumps(recs))


def test_nuscenes_projection_by_hand(tmp_path):
    _nuscenes(tmp_path)
    images, pairs = load_index("nuscenes", tmp_path, "mini")
    assert pairs is None and len(images) == 1
    r = images.iloc[0]
    assert (r.width, r.height, r.fx, r.fy, r.cx, r.cy) == (1600, 900, 1000.0, 1000.0, 800.0, 450.0)
    assert (r.scene_id, r.channel, r.depth_kind, r.depth_min, r.depth_max) == ("scene-0061", "CAM_FRONT", "z", 1.0, 80.0)
    c2w = np.reshape(r.cam_to_world, (4, 4))
    np.testing.assert_allclose(c2w, [[0, 0, 1, 12], [-1, 0, 0, 0], [0, -1, 0, 1.5], [0, 0, 0, 1]], atol=1e-12)
    pts = read_depth(r.depth_path, r.depth_format)
    # lidar (20,0,-.3) -> ego(lidar) (20,0,1.5) -> global (30,0,1.5) -> ego(cam) (19.5,0,1.5) -> cam (0,0,18);
    # (10,-2,.7) -> cam (2,-1,8); behind, too close (z .9) and too far (z 98) points are dropped
    np.testing.assert_allclose(pts, [[0, 0, 18], [2, -1, 8]], atol=1e-5)
    np.testing.assert_allclose(np.reshape(r.lidar_to_cam, (4, 4))[:3, 3], [0, -0.3, -2.0], atol=1e-12)  # lidar origin -> cam
    assert load_index("nuscenes", tmp_path, "train")[0].shape[0] == 1  # scene-0061 is in mini_train
    with pytest.raises(ValueError, match="no images"):
        load_index("nuscenes", tmp_path, "val")


def test_nuscenes_empty_map_and_missing_table(tmp_path):
    _nuscenes(tmp_path)
    (tmp_path / "v1.0-mini" / "map.json").write_text("[]")
    with pytest.raises(ValueError, match="map.json: empty"):
        load_index("nuscenes", tmp_path, "mini")
    (tmp_path / "v1.0-mini" / "visibility.json").unlink()
    with pytest.raises(ValueError, match="visibility"):
        load_index("nuscenes", tmp_path, "mini")


def test_nuscenes_devkit_border_and_float64_projection(tmp_path):
    """nuscenes-devkit map_pointcloud_to_image keeps 1 < u < W-1, 1 < v < H-1 (float64): border points
    go, and a projection at v = 10.500000033 stays in row 11 (float32 points would put it in row 10)."""
    from vlm3.geometry import sparse_depth_map
    _nuscenes(tmp_path)
    # cam = (-y, -z - 0.3, x - 2); u = 125 (-y) * 8 / z_cam + 800 at x = 10, v = 1000 y_cam / z_cam + 450
    pts = np.array([[10, 6.3928, -0.3],  # u = 0.9: dropped (u <= 1)
                    [10, 6.3904, -0.3],  # u = 1.2: kept
                    [10, -6.3936, -0.3],  # u = 1599.2: dropped (u >= W - 1 = 1599)
                    [10, 0, 3.2944],  # v = 0.7: dropped
                    [10, 0, -3.8944],  # v = 899.3: dropped (v >= H - 1 = 899)
                    [30.899991989135742, 0, 12.401546478271484]],  # v = 10.500000033
                   np.float32)
    np.concatenate([pts, np.zeros((6, 2), np.float32)], 1).tofile(tmp_path / "samples/LIDAR_TOP/n015-lidar.pcd.bin")
    r = load_index("nuscenes", tmp_path, "mini")[0].iloc[0]
    assert r.depth_format.endswith(",1000.0,1000.0,800.0,450.0,1600,900")
    got = read_depth(r.depth_path, r.depth_format)
    assert got.dtype == np.float64
    M = np.reshape(r.lidar_to_cam, (4, 4))[:3]
    assert got.tolist() == (pts[[1, 5]].astype(np.float64) @ M[:, :3].T + M[:, 3]).tolist()
    K = [[1000.0, 0, 800.0], [0, 1000.0, 450.0], [0, 0, 1]]
    d = sparse_depth_map(got, K, 1600, 900)
    assert np.flatnonzero(d).tolist() == [11 * 1600 + 800, 450 * 1600 + 1]
    assert d[11, 800] == np.float32(30.899991989135742 - 2.0) and d[450, 1] == np.float32(8.0)
    with pytest.raises(ValueError, match=r"nuscenes_lidar parameter has 12 numbers, expected 18 .*re-run the index"):
        read_depth(r.depth_path, "nuscenes_lidar:" + ",".join(r.depth_format.split(":")[1].split(",")[:12]))
