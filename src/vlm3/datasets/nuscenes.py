"""nuScenes (v1.0-mini / v1.0-trainval) camera keyframes with lidar depth -> index.

Reads the json tables of `<raw>/<version>/` with numpy only (the nuscenes-devkit is heavy and
optional). One row per keyframe image of the six CAM_* channels (1600x900). Depth: the sample's
LIDAR_TOP keyframe sweep (`samples/LIDAR_TOP/*.pcd.bin`, float32 x 5 per point) moved
lidar -> ego(lidar time) -> global -> ego(camera time) -> camera; the 3x4 product travels in the
`depth_format` parameter (`nuscenes_lidar:<12 floats>,fx,fy,cx,cy,W,H`, reader in
vlm3.datasets.readers) and in the `lidar_to_cam` column (16 floats, row-major), so the reader needs
nothing but the row. The reader keeps 1 m < z <= 80 m and, as nuscenes-devkit, only points inside
1 < u < W-1, 1 < v < H-1 (float64 projection); the sparse rasteriser keeps the nearest point per pixel.
Quaternions are [w, x, y, z]; K is calibrated_sensor.camera_intrinsic; camera axes are OpenCV.
cam_to_world = ego_pose(camera time) @ calibrated_sensor(camera), in the global (map) frame.
Depth kind: z (DepthLM's label for nuScenes).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from vlm3.datasets import register
from vlm3.datasets.readers import nuscenes_param
from vlm3.datasets.rows import frame, require, row
from vlm3.geometry.rigid import invert_rigid, quat_to_rotation, rigid_matrix

log = logging.getLogger(__name__)

TABLES = ("attribute", "calibrated_sensor", "category", "ego_pose", "instance", "log", "map",
          "sample", "sample_annotation", "sample_data", "scene", "sensor", "visibility")
# nuscenes-devkit utils/splits.py mini_train / mini_val
MINI_SPLITS = {
    "train": ["scene-0061", "scene-0553", "scene-0655", "scene-0757", "scene-0796", "scene-1077",
              "scene-1094", "scene-1100"],
    "val": ["scene-0103", "scene-0916"],
}


def _table(root: Path, name: str) -> list[dict]:
    p = require(root / f"{name}.json", f"nuscenes table {name}")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: invalid json ({e})") from None


def pose_matrix(rec: dict) -> np.ndarray:
    """4x4 of a calibrated_sensor / ego_pose record (rotation [w,x,y,z], translation metres)."""
    return rigid_matrix(quat_to_rotation(*rec["rotation"]), rec["translation"])


def _scene_names(split: str, version: str, scenes: list[str] | None, all_names: list[str]) -> set[str]:
    if scenes is not None:
        return set(scenes)
    if split == "mini" or split == "all":
        return set(all_names)
    if version == "v1.0-mini" and split in MINI_SPLITS:
        return set(MINI_SPLITS[split])
    try:  # full trainval split lists live in the devkit
        from nuscenes.utils.splits import create_splits_scenes
    except ImportError:
        raise ValueError(f"nuscenes: split {split!r} of {version} needs `scenes=[...]` or nuscenes-devkit "
                         "installed (for its split lists)") from None
    return set(create_splits_scenes()[split])


@register("nuscenes")
def load(raw: Path, split: str, version: str = "v1.0-mini", scenes: list[str] | None = None,
         depth_min: float = 1.0, depth_max: float = 80.0):
    raw = Path(raw)
    root = require(raw / version, "nuscenes version folder")
    t = {n: _table(root, n) for n in ("calibrated_sensor", "ego_pose", "sample", "sample_data", "scene",
                                      "sensor", "map")}
    for n in TABLES:
        require(root / f"{n}.json", f"nuscenes table {n}")
    if not t["map"]:
        raise ValueError(f"{root / 'map.json'}: empty (the devkit needs at least one map record)")
    cs = {r["token"]: r for r in t["calibrated_sensor"]}
    sensors = {r["token"]: r for r in t["sensor"]}
    ego = {r["token"]: r for r in t["ego_pose"]}
    samples = {r["token"]: r for r in t["sample"]}
    scene_of = {r["token"]: r["name"] for r in t["scene"]}
    wanted = _scene_names(split, version, scenes, sorted(scene_of.values()))
    unknown = wanted - set(scene_of.values())
    if unknown and scenes is not None:
        raise ValueError(f"nuscenes {root}: scenes {sorted(unknown)} not in scene.json")
    if unknown:  # a partial download of a standard split: say so, loudly
        log.warning("nuscenes %s: %d scenes of split %r are not in scene.json: %s", root, len(unknown),
                    split, sorted(unknown))

    def channel(sd):
        return sensors[cs[sd["calibrated_sensor_token"]]["sensor_token"]]["channel"]

    lidar = {sd["sample_token"]: sd for sd in t["sample_data"]
             if sd["is_key_frame"] and channel(sd) == "LIDAR_TOP"}
    rows = []
    for sd in t["sample_data"]:
        ch = channel(sd)
        if not (sd["is_key_frame"] and ch.startswith("CAM_")):
            continue
        smp = samples[sd["sample_token"]]
        scene = scene_of[smp["scene_token"]]
        if scene not in wanted:
            continue
        where = f"nuscenes sample_data {sd['token']}"
        if sd["sample_token"] not in lidar:
            raise ValueError(f"{where}: its sample has no LIDAR_TOP keyframe")
        ld = lidar[sd["sample_token"]]
        cam_cs, lid_cs = cs[sd["calibrated_sensor_token"]], cs[ld["calibrated_sensor_token"]]
        ego_cam, ego_lid = pose_matrix(ego[sd["ego_pose_token"]]), pose_matrix(ego[ld["ego_pose_token"]])
        T = invert_rigid(pose_matrix(cam_cs)) @ invert_rigid(ego_cam) @ ego_lid @ pose_matrix(lid_cs)
        K = np.asarray(cam_cs["camera_intrinsic"], dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f"{where}: camera_intrinsic is not 3x3")
        rows.append(row(f"{Path(sd['filename']).stem}", scene, require(raw / sd["filename"], where),
                        sd["width"], sd["height"], fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2],
                        depth_path=require(raw / ld["filename"], where),
                        depth_format="nuscenes_lidar:" + nuscenes_param(T, K, sd["width"], sd["height"]),
                        depth_kind="z",
                        depth_min=depth_min, depth_max=depth_max,
                        cam_to_world=ego_cam @ pose_matrix(cam_cs), channel=ch,
                        timestamp=int(sd["timestamp"]), lidar_to_cam=[float(v) for v in T.ravel()]))
    return frame(rows, f"nuscenes {root} ({split})"), None
