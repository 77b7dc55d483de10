"""Training-source loaders: omnidata (Taskonomy/HM3D), Matterport3D, BlendedMVS, TartanAir v2,
Argoverse 2 and DDAD, each on a fixture in the dataset's on-disk layout."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from PIL import Image

import vlm3.datasets.readers  # noqa: F401
from vlm3.datasets import load_index
from vlm3.io.depth import read_depth

Q_CAM = (0.5, -0.5, 0.5, -0.5)  # ego/world <- OpenCV camera: z forward = x, x right = -y, y down = -z


def _img(p: Path, w=8, h=6):
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(p)


def test_omnidata_taskonomy(tmp_path):
    base = "taskonomy/ackermanville"
    stem = "point_0_view_1"
    _img(tmp_path / "rgb" / base / f"{stem}_domain_rgb.png", 8, 8)
    v = np.full((8, 8), 1024, np.uint16)
    v[0, 0] = 65535
    (tmp_path / "depth_zbuffer" / base).mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "depth_zbuffer" / base / f"{stem}_domain_depth_zbuffer.png"), v)
    (tmp_path / "point_info" / base).mkdir(parents=True)
    (tmp_path / "point_info" / base / f"{stem}_domain_point_info.json").write_text(
        json.dumps({"field_of_view_rads": np.pi / 2}))
    images, _ = load_index("omnidata", tmp_path, "train")
    r = images.iloc[0]
    assert (r.image_id, r.scene_id) == (f"{base}/{stem}", "ackermanville")
    assert (r.fx, r.cx) == (pytest.approx(4.0), 3.5)  # 90 deg FOV over 8 px: f = 4 / tan(45 deg)
    d = read_depth(r.depth_path, r.depth_format)
    assert d[0, 0] == 0 and d[1, 1] == 2.0  # 1024 / 512; 65535 invalid


def test_matterport3d_conf_and_axes(tmp_path):
    h = "17DRP5sb8fy"
    base = tmp_path / h
    _img(base / "undistorted_color_images" / "abc_i1_2.jpg")
    (base / "undistorted_depth_images").mkdir(parents=True)
    cv2.imwrite(str(base / "undistorted_depth_images" / "abc_d1_2.png"), np.full((6, 8), 8000, np.uint16))
    (base / "undistorted_camera_parameters").mkdir()
    c2w = "1 0 0 5 0 1 0 6 0 0 1 7 0 0 0 1"
    (base / "undistorted_camera_parameters" / f"{h}.conf").write_text(
        "dataset matterport\nn_images 1\ndepth_directory undistorted_depth_images\n"
        "intrinsics_matrix 1075.1 0 629.7 0 1075.0 522.5 0 0 1\n"
        f"scan abc_d1_2.png abc_i1_2.jpg {c2w}\n")
    images, _ = load_index("matterport3d", tmp_path, "train")
    r = images.iloc[0]
    assert (r.fx, r.fy, r.cx, r.cy) == (1075.1, 1075.0, 629.7, 522.5)
    np.testing.assert_array_equal(np.reshape(r.cam_to_world, (4, 4)),
                                  [[1, 0, 0, 5], [0, -1, 0, 6], [0, 0, -1, 7], [0, 0, 0, 1]])  # GL -> CV
    assert read_depth(r.depth_path, r.depth_format)[0, 0] == 2.0  # 8000 / 4000


def _pfm(p: Path, d: np.ndarray):
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as f:
        f.write(b"Pf\n%d %d\n-1.0\n" % (d.shape[1], d.shape[0]))
        f.write(np.flipud(d).astype("<f4").tobytes())


def test_blendedmvs_cams_and_pairs(tmp_path):
    sc = tmp_path / "5a3ca9cb270f0e3f14d0eddb"
    for i in (0, 1):
        _img(sc / "blended_images" / f"{i:08d}.jpg", 4, 4)
        _img(sc / "blended_images" / f"{i:08d}_masked.jpg", 4, 4)
        _pfm(sc / "rendered_depth_maps" / f"{i:08d}.pfm", np.full((4, 4), 2.0))
        (sc / "cams").mkdir(exist_ok=True)
        tx = -float(i)  # world-to-camera translation: camera 1 sits at x = +1
        (sc / "cams" / f"{i:08d}_cam.txt").write_text(
            f"extrinsic\n1 0 0 {tx}\n0 1 0 0\n0 0 1 0\n0 0 0 1\n\nintrinsic\n2 0 1.5\n0 2 1.5\n0 0 1\n\n0.5 0.01\n")
    (sc / "cams" / "pair.txt").write_text("2\n0\n1 1 900.5\n1\n1 0 900.5\n")
    images, pairs = load_index("blendedmvs", tmp_path, "train", covis_stride=1)
    assert list(images.image_id) == [f"{sc.name}/00000000", f"{sc.name}/00000001"]
    assert np.reshape(images.cam_to_world[1], (4, 4))[0, 3] == 1.0
    assert list(pairs.covisibility) == [0.75, 0.75]


def _tartan(root: Path):
    t = root / "AbandonedCable" / "Data_easy" / "P000"
    for i in (0, 1):
        _img(t / "image_lcam_front" / f"{i:06d}_lcam_front.png", 640, 640)
        d = np.full((640, 640), 3.0, np.float32)
        (t / "depth_lcam_front").mkdir(exist_ok=True)
        cv2.imwrite(str(t / "depth_lcam_front" / f"{i:06d}_lcam_front_depth.png"), d.view(np.uint8).reshape(640, 640, 4))
    (t / "pose_lcam_front.txt").write_text("0 0 0 0 0 0 1\n0 0 0 0 0 0 1\n")


def test_tartanair_ned_to_opencv(tmp_path):
    _tartan(tmp_path)
    images, pairs = load_index("tartanair", tmp_path, "train", pair_offsets=(1,))
    c2w = np.reshape(images.cam_to_world[0], (4, 4))
    # OpenCV forward (z) is NED north (x), right (x) is NED east (y), down (y) is NED down (z)
    np.testing.assert_array_equal(c2w[:3, :3], [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    d = read_depth(images.depth_path[0], images.depth_format[0])
    assert d.shape == (640, 640) and d[5, 5] == 3.0
    assert list(pairs.pair_id) == ["AbandonedCable/Data_easy/P000/000000__AbandonedCable/Data_easy/P000/000001"]
    assert pairs.covisibility[0] == 1.0


def _feather(p: Path, rows: list[dict]):
    p.parent.mkdir(parents=True, exist_ok=True)
    feather.write_feather(pa.Table.from_pylist(rows), p)


def test_argoverse2_lidar_projection(tmp_path):
    log = tmp_path / "val" / "log0"
    _img(log / "sensors" / "cameras" / "ring_front_center" / "2000.jpg")
    _feather(log / "sensors" / "lidar" / "1000.feather",
             [{"x": 20.0, "y": 0.0, "z": 1.5, "intensity": 1}, {"x": -5.0, "y": 0.0, "z": 1.5, "intensity": 1}])
    _feather(log / "calibration" / "intrinsics.feather", [
        {"sensor_name": "ring_front_center", "fx_px": 1000.0, "fy_px": 1000.0, "cx_px": 4.0, "cy_px": 3.0,
         "k1": -0.1, "k2": 0.01, "k3": 0.001, "width_px": 8, "height_px": 6}])
    _feather(log / "calibration" / "egovehicle_SE3_sensor.feather", [
        {"sensor_name": "ring_front_center", "qw": Q_CAM[0], "qx": Q_CAM[1], "qy": Q_CAM[2], "qz": Q_CAM[3],
         "tx_m": 1.5, "ty_m": 0.0, "tz_m": 1.5}])
    _feather(log / "city_SE3_egovehicle.feather", [
        {"timestamp_ns": 1000, "qw": 1.0, "qx": 0.0, "qy": 0.0, "qz": 0.0, "tx_m": 10.0, "ty_m": 0.0, "tz_m": 0.0},
        {"timestamp_ns": 2000, "qw": 1.0, "qx": 0.0, "qy": 0.0, "qz": 0.0, "tx_m": 10.5, "ty_m": 0.0, "tz_m": 0.0}])
    images, _ = load_index("argoverse2", tmp_path, "val", cameras=("ring_front_center",))
    r = images.iloc[0]
    assert (r.image_id, r.dist_model, list(r.dist_params)) == ("log0/ring_front_center/2000", "opencv",
                                                                [-0.1, 0.01, 0.0, 0.0, 0.001])
    # ego(lidar) (20,0,1.5) -> city (30,0,1.5) -> ego(cam) (19.5,0,1.5) -> camera (0,0,18); behind dropped
    np.testing.assert_allclose(read_depth(r.depth_path, r.depth_format), [[0, 0, 18]], atol=1e-5)
    assert np.reshape(r.cam_to_world, (4, 4))[:3, 3].tolist() == [12.0, 0.0, 1.5]


def test_ddad_dgp_scene(tmp_path):
    root = tmp_path / "ddad_train_val"
    sc = root / "000150"
    _img(sc / "rgb" / "CAMERA_01" / "15616458296936490.png")
    (sc / "point_cloud" / "LIDAR").mkdir(parents=True)
    np.savez(sc / "point_cloud" / "LIDAR" / "15616458296936490.npz",
             data=np.array([[20.0, 0.0, 1.5, 7.0], [0.0, 0.0, 1.5, 7.0]]))
    q = dict(zip(("qw", "qx", "qy", "qz"), Q_CAM))
    pose_cam = {"translation": {"x": 1.5, "y": 0.0, "z": 1.5}, "rotation": q}
    pose_lid = {"translation": {"x": 0.0, "y": 0.0, "z": 0.0}, "rotation": {"qw": 1.0, "qx": 0.0, "qy": 0.0, "qz": 0.0}}
    scene = {"data": [
        {"key": "k1", "id": {"name": "CAMERA_01"}, "datum": {"image": {
            "filename": "rgb/CAMERA_01/15616458296936490.png", "width": 8, "height": 6, "pose": pose_cam}}},
        {"key": "k2", "id": {"name": "LIDAR"}, "datum": {"point_cloud": {
            "filename": "point_cloud/LIDAR/15616458296936490.npz", "pose": pose_lid}}}],
        "samples": [{"datum_keys": ["k1", "k2"], "calibration_key": "cal0"}]}
    (sc / "scene_abc.json").write_text(json.dumps(scene))
    (sc / "calibration").mkdir()
    (sc / "calibration" / "cal0.json").write_text(json.dumps(
        {"names": ["CAMERA_01", "LIDAR"], "intrinsics": [{"fx": 2181.5, "fy": 2181.5, "cx": 4.0, "cy": 3.0}, {}]}))
    (root / "ddad.json").write_text(json.dumps({"scene_splits": {"0": {"filenames": []},
                                                                 "1": {"filenames": ["000150/scene_abc.json"]}}}))
    images, _ = load_index("ddad", tmp_path, "val")
    r = images.iloc[0]
    assert (r.image_id, r.fx, r.cx, r.depth_kind) == ("000150/CAMERA_01/15616458296936490", 2181.5, 4.0, "z")
    # world point (20,0,1.5) seen from the camera at (1.5,0,1.5) looking along +x: (0,0,18.5)
    np.testing.assert_allclose(read_depth(r.depth_path, r.depth_format), [[0, 0, 18.5]], atol=1e-5)
    with pytest.raises(ValueError, match="no images"):
        load_index("ddad", tmp_path, "train")
