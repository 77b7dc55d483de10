"""A hand-built 32x24 resized folder with known plane depth and known cameras.

Scene: the plane Z = 5 m (world). f = 16 px, cx = 15.5, cy = 11.5 (pixel-centre convention).
  v1: c2w = identity.             v2: centre (1.2, 0, 1.6), no rotation.
  v3: centre (1, 0, 0), yaw +30 deg (turned right: R_y(30)).
Depth of each view is computed analytically here (ray/plane intersection), independent of the code.
Shared by test_qa_build.py and test_qa_depth_range.py.
"""

import json
import math

import numpy as np
import pandas as pd

from vlm3.datasets import INDEX_COLUMNS

W, H, F, CX, CY, PLANE_Z = 32, 24, 16.0, 15.5, 11.5, 5.0


def ry(deg):
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def c2w(R, C):
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = R, C
    return m


POSES = {"v1": c2w(np.eye(3), [0, 0, 0]), "v2": c2w(np.eye(3), [1.2, 0, 1.6]), "v3": c2w(ry(30), [1, 0, 0])}
OBJECTS = [  # camera-frame centres (m), sizes [w, h, l] (m), boxes in resized pixels
    {"name": "the red box", "category": "box", "box2d": [4, 6, 12, 20], "center": [-1.0, 0.0, 5.0],
     "size": [1.0, 2.0, 1.0], "yaw": 0.0, "mask_path": None},
    {"name": "the blue ball", "category": "sphere", "box2d": [18, 8, 22, 12], "center": [1.0, -1.0, 8.0],
     "size": [0.5, 0.5, 0.5], "yaw": 0.0, "mask_path": None},
]


def plane_depth(pose, kind):
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    r = np.stack([(u - CX) / F, (v - CY) / F, np.ones_like(u)], axis=-1)
    dw = r @ pose[:3, :3].T
    s = (PLANE_Z - pose[2, 3]) / dw[..., 2]
    return (s if kind == "z" else s * np.linalg.norm(r, axis=-1)).astype(np.float32)


def make_resized(root, kind="z", depth_override=None, objects=True, poses=True):
    folder = root / "resized" / "toy" / "test"
    (folder / "depth").mkdir(parents=True)
    rows = []
    for name, pose in POSES.items():
        d = plane_depth(pose, kind) if not (depth_override and name in depth_override) else depth_override[name]
        np.save(folder / "depth" / f"{name}.npy", d)
        rows.append({
            "image_id": name, "scene_id": "s0", "image_path": f"results/resized/toy/test/images/{name}.png",
            "width": W, "height": H, "fx": F, "fy": F, "cx": CX, "cy": CY, "dist_model": "none",
            "dist_params": [], "depth_path": str(folder / "depth" / f"{name}.npy"), "depth_format": "npy",
            "depth_kind": kind, "depth_min": 1.0, "depth_max": 20.0,
            "cam_to_world": pose.reshape(-1).tolist() if poses else None,
            "objects": json.dumps(OBJECTS if (objects and name == "v1") else []),
            "source": "metadata", "scale": 1.0})
    pd.DataFrame(rows, columns=INDEX_COLUMNS + ["source", "scale"]).to_parquet(folder / "index.parquet")
    pd.DataFrame({"pair_id": ["p0", "p1", "p2"], "image_id_1": ["v1", "v1", "v2"],
                  "image_id_2": ["v2", "v3", "v3"], "covisibility": [0.9, 0.6, 0.1]}).to_parquet(
        folder / "pairs.parquet")
    return folder
