"""DDAD (TRI's DGP format) -> index.

Layout: <raw>/ddad_train_val/ddad.json {"scene_splits": {"0": {"filenames": [...]}, "1": ...}}
(0 = train, 1 = val; file names are scene json paths relative to ddad_train_val/), each scene
folder holding scene_<hash>.json and calibration/<key>.json.
scene json: "data": [{"key", "id": {"name": "CAMERA_01" | "LIDAR", ...}, "datum": {"image" |
"point_cloud": {"filename", "pose": {"translation": {x,y,z}, "rotation": {qw,qx,qy,qz}}, ...}}}],
"samples": [{"datum_keys": [...], "calibration_key"}]; a datum pose is sensor -> world.
calibration json: "names": [...], "intrinsics": [{"fx", "fy", "cx", "cy", ...}] in names order.
Depth: the sample's LIDAR point cloud (npz `data`, lidar frame) moved into the camera by
inv(pose_cam) @ pose_lidar (`lidar_npz:<12 floats>`, sparse). Depth kind z. Cameras: DDAD's
six evaluation cameras by default.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vlm3.datasets import register
from vlm3.datasets.readers import lidar_param
from vlm3.datasets.rows import frame, image_size, require, row
from vlm3.geometry.rigid import invert_rigid, quat_to_rotation, rigid_matrix

SPLITS = {"train": "0", "val": "1"}
CAMERAS = ("CAMERA_01", "CAMERA_05", "CAMERA_06", "CAMERA_07", "CAMERA_08", "CAMERA_09")


def _pose(p: dict) -> np.ndarray:
    t, q = p["translation"], p["rotation"]
    return rigid_matrix(quat_to_rotation(q["qw"], q["qx"], q["qy"], q["qz"]), [t["x"], t["y"], t["z"]])


@register("ddad")
def load(raw: Path, split: str, cameras: tuple[str, ...] = CAMERAS, depth_max: float = 200.0):
    root = require(Path(raw) / "ddad_train_val", "ddad")
    if split not in SPLITS:
        raise ValueError(f"ddad: split must be train or val, got {split!r}")
    meta = json.loads(require(root / "ddad.json", "ddad").read_text())
    rows = []
    for fn in meta["scene_splits"][SPLITS[split]]["filenames"]:
        sj = require(root / fn, "ddad scene")
        scene = json.loads(sj.read_text())
        data = {d["key"]: d for d in scene["data"]}
        for s in scene["samples"]:
            cal = json.loads(require(sj.parent / "calibration" / f"{s['calibration_key']}.json", str(sj)).read_text())
            intr = dict(zip(cal["names"], cal["intrinsics"]))
            datums = [data[k] for k in s["datum_keys"]]
            lid = [d for d in datums if "point_cloud" in d["datum"]]
            if len(lid) != 1:
                raise ValueError(f"{sj}: sample needs one point_cloud datum, found {len(lid)}")
            pc = lid[0]["datum"]["point_cloud"]
            for d in datums:
                name = d["id"]["name"]
                if "image" not in d["datum"] or name not in cameras:
                    continue
                im = d["datum"]["image"]
                T = invert_rigid(_pose(im["pose"])) @ _pose(pc["pose"])
                k = intr[name]
                img = require(sj.parent / im["filename"], str(sj))
                W, H = (im["width"], im["height"]) if "width" in im else image_size(img)
                rows.append(row(f"{sj.parent.name}/{name}/{Path(im['filename']).stem}", sj.parent.name, img, W, H,
                                fx=k["fx"], fy=k["fy"], cx=k["cx"], cy=k["cy"],
                                depth_path=require(sj.parent / pc["filename"], str(sj)),
                                depth_format="lidar_npz:" + lidar_param(T), depth_kind="z", depth_min=0.0,
                                depth_max=depth_max, cam_to_world=_pose(im["pose"]), camera=name))
    return frame(rows, f"ddad {root} ({split})"), None
