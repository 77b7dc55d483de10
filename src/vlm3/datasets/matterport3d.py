"""Matterport3D undistorted images (download_mp.py --type undistorted_*) -> index.

Layout per house: <house>/undistorted_color_images/<name>.jpg,
<house>/undistorted_depth_images/<name>.png (uint16, m = v / 4000, 0 invalid: reader
`png_scale:4000`), <house>/undistorted_camera_parameters/<house>.conf with lines
  intrinsics_matrix fx 0 cx 0 fy cy 0 0 1      (applies to the following scans)
  scan <depth name> <color name> <16 floats camera-to-world, row-major>
Matterport's camera axes are OpenGL-like (x right, y up, z backwards); cam_to_world is converted
to OpenCV axes by flipping y and z (c2w @ diag(1, -1, -1, 1)). Depth kind: z.
`split` is `train` (every house) or a file `<split>.txt` in the raw folder listing house ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlm3.datasets import register
from vlm3.datasets.rows import frame, image_size, require, row

GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def read_conf(path: Path) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """[(depth name, color name, K 3x3, cam_to_world OpenCV 4x4)] of a .conf file."""
    K, out = None, []
    for ln in require(path, "matterport3d conf").read_text().splitlines():
        p = ln.split()
        if not p:
            continue
        if p[0] == "intrinsics_matrix":
            K = np.array([float(v) for v in p[1:10]]).reshape(3, 3)
        elif p[0] == "scan":
            if K is None or len(p) != 19:
                raise ValueError(f"{path}: malformed scan line {ln!r} (or no intrinsics_matrix before it)")
            c2w = np.array([float(v) for v in p[3:19]]).reshape(4, 4) @ GL_TO_CV
            out.append((p[1], p[2], K, c2w))
    return out


@register("matterport3d")
def load(raw: Path, split: str, depth_max: float = 16.0):
    raw = Path(raw)
    lst = raw / f"{split}.txt"
    if lst.exists():
        houses = lst.read_text().split()
    elif split == "train":
        houses = sorted(p.parent.parent.name for p in raw.glob("*/undistorted_camera_parameters/*.conf"))
    else:
        raise ValueError(f"matterport3d: split {split!r} needs {lst} (house ids); 'train' takes all")
    rows = []
    for h in houses:
        base = raw / h
        for dname, cname, K, c2w in read_conf(base / "undistorted_camera_parameters" / f"{h}.conf"):
            img = require(base / "undistorted_color_images" / cname, f"matterport3d {h}")
            W, H = image_size(img)
            rows.append(row(f"{h}/{Path(cname).stem}", h, img, W, H, fx=K[0, 0], fy=K[1, 1], cx=K[0, 2],
                            cy=K[1, 2], depth_path=require(base / "undistorted_depth_images" / dname, h),
                            depth_format="png_scale:4000", depth_kind="z", depth_min=0.0,
                            depth_max=depth_max, cam_to_world=c2w))
    return frame(rows, f"matterport3d {raw} ({split})"), None
