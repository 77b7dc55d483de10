"""TartanAir v2 (tartanair.download, camera lcam_front) -> index + frame pairs.

Layout: <env>/Data_<easy|hard>/<P000>/image_lcam_front/<i>_lcam_front.png,
depth_lcam_front/<i>_lcam_front_depth.png (float32 metres packed into RGBA bytes, reader
`tartanair_depth`), pose_lcam_front.txt (one line per frame: x y z qx qy qz qw, camera-to-world
in NED axes: x forward, y right, z down). cam_to_world is converted to OpenCV axes
(c2w_ned @ P, P maps OpenCV x/y/z to NED y/z/x). Pinhole 640x640, f = 320, principal point
(320, 320) as published (kept as is). Depth kind z.
Pairs: frames i -> i + k for k in `pair_offsets`, covisibility computed from depth and poses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlm3.datasets import register
from vlm3.datasets.pairs import pair_covisibility, pairs_frame
from vlm3.datasets.rows import frame, require, row
from vlm3.geometry.rigid import quat_to_rotation, rigid_matrix

CV_TO_NED = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
F, C, SIZE = 320.0, 320.0, 640


@register("tartanair")
def load(raw: Path, split: str, camera: str = "lcam_front", pair_offsets: tuple[int, ...] = (1, 4, 8),
         covis_stride: int = 16, min_covisibility: float = 0.25):
    import vlm3.datasets.readers  # noqa: F401  (tartanair_depth reader)
    from vlm3.io.depth import read_depth

    raw = Path(raw)
    trajs = sorted(p.parent for p in raw.glob(f"*/Data_*/*/pose_{camera}.txt"))
    if not trajs:
        raise ValueError(f"tartanair: no <env>/Data_<diff>/<traj>/pose_{camera}.txt under {raw}")
    rows, pairs = [], []
    for t in trajs:
        scene = t.relative_to(raw).as_posix()
        poses = np.loadtxt(t / f"pose_{camera}.txt", ndmin=2)
        if poses.shape[1] != 7:
            raise ValueError(f"{t / f'pose_{camera}.txt'}: expected 7 columns (x y z qx qy qz qw)")
        traj_rows = []
        for i, (x, y, z, qx, qy, qz, qw) in enumerate(poses):
            c2w = rigid_matrix(quat_to_rotation(qw, qx, qy, qz), [x, y, z]) @ CV_TO_NED
            r = row(f"{scene}/{i:06d}", scene, require(t / f"image_{camera}" / f"{i:06d}_{camera}.png", scene),
                    SIZE, SIZE, fx=F, fy=F, cx=C, cy=C,
                    depth_path=require(t / f"depth_{camera}" / f"{i:06d}_{camera}_depth.png", scene),
                    depth_format="tartanair_depth", depth_kind="z", depth_min=0.0, depth_max=float("inf"),
                    cam_to_world=c2w)
            traj_rows.append(r)
        rows += traj_rows
        cache = {}
        for i, a in enumerate(traj_rows):
            for k in pair_offsets:
                if i + k >= len(traj_rows):
                    continue
                b = traj_rows[i + k]
                for r in (a, b):
                    if r["image_id"] not in cache:
                        cache[r["image_id"]] = read_depth(r["depth_path"], "tartanair_depth")
                c = pair_covisibility(cache[a["image_id"]], a, cache[b["image_id"]], b, covis_stride)
                if c >= min_covisibility:
                    pairs.append((a["image_id"], b["image_id"], c))
    return frame(rows, f"tartanair {raw}"), pairs_frame(pairs)
