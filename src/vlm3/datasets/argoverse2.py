"""Argoverse 2 Sensor dataset (ring cameras + lidar) -> index.

Layout per log (<raw>/<split>/<log_id>/):
  sensors/cameras/<ring_*>/<timestamp_ns>.jpg
  sensors/lidar/<timestamp_ns>.feather            columns x y z ... (ego frame at sweep time)
  calibration/intrinsics.feather                  sensor_name fx_px fy_px cx_px cy_px k1 k2 k3 width_px height_px
  calibration/egovehicle_SE3_sensor.feather       sensor_name qw qx qy qz tx_m ty_m tz_m (sensor -> ego)
  city_SE3_egovehicle.feather                     timestamp_ns qw qx qy qz tx_m ty_m tz_m (ego -> city)
Camera frames are OpenCV-like (x right, y down, z forward). Depth: the lidar sweep nearest in
time, moved ego(lidar t) -> city -> ego(camera t) -> camera; the 3x4 travels in the format
parameter (`av2_lidar:<12 floats>`, sparse). Distortion: radial k1 k2 k3 -> `opencv`
(k1, k2, 0, 0, k3). Depth kind z. `every_nth` keeps every n-th image per camera.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.feather as feather

from vlm3.datasets import register
from vlm3.datasets.readers import lidar_param
from vlm3.datasets.rows import frame, require, row
from vlm3.geometry.rigid import invert_rigid, quat_to_rotation, rigid_matrix

RING = ("ring_front_center", "ring_front_left", "ring_front_right", "ring_rear_left", "ring_rear_right",
        "ring_side_left", "ring_side_right")


def _se3(rec: dict) -> np.ndarray:
    return rigid_matrix(quat_to_rotation(rec["qw"], rec["qx"], rec["qy"], rec["qz"]),
                        [rec["tx_m"], rec["ty_m"], rec["tz_m"]])


def _table(path: Path) -> list[dict]:
    return feather.read_table(require(path, "argoverse2")).to_pylist()


@register("argoverse2")
def load(raw: Path, split: str, cameras: tuple[str, ...] = RING, every_nth: int = 1, depth_max: float = 200.0):
    base = require(Path(raw) / split, f"argoverse2 split {split!r}")
    logs = sorted(p for p in base.iterdir() if (p / "calibration").is_dir())
    if not logs:
        raise ValueError(f"argoverse2: no <log>/calibration/ under {base}")
    rows = []
    for log_dir in logs:
        intr = {r["sensor_name"]: r for r in _table(log_dir / "calibration" / "intrinsics.feather")}
        ego_sensor = {r["sensor_name"]: _se3(r) for r in _table(log_dir / "calibration" / "egovehicle_SE3_sensor.feather")}
        city = {int(r["timestamp_ns"]): _se3(r) for r in _table(log_dir / "city_SE3_egovehicle.feather")}
        sweeps = np.array(sorted(int(p.stem) for p in (log_dir / "sensors" / "lidar").glob("*.feather")), np.int64)
        if not len(sweeps):
            raise ValueError(f"argoverse2 {log_dir}: no lidar sweeps")
        for cam in cameras:
            if cam not in intr or cam not in ego_sensor:
                raise ValueError(f"argoverse2 {log_dir}: no calibration for {cam}")
            k = intr[cam]
            for img in sorted((log_dir / "sensors" / "cameras" / cam).glob("*.jpg"))[::every_nth]:
                t = int(img.stem)
                ts = int(sweeps[np.argmin(np.abs(sweeps - t))])
                if t not in city or ts not in city:
                    raise ValueError(f"argoverse2 {log_dir}: no city_SE3_egovehicle pose at {t if t not in city else ts}")
                T = invert_rigid(ego_sensor[cam]) @ invert_rigid(city[t]) @ city[ts]
                rows.append(row(f"{log_dir.name}/{cam}/{t}", log_dir.name, img, k["width_px"], k["height_px"],
                                fx=k["fx_px"], fy=k["fy_px"], cx=k["cx_px"], cy=k["cy_px"], dist_model="opencv",
                                dist_params=[k["k1"], k["k2"], 0.0, 0.0, k["k3"]],
                                depth_path=log_dir / "sensors" / "lidar" / f"{ts}.feather",
                                depth_format="av2_lidar:" + lidar_param(T), depth_kind="z", depth_min=0.0,
                                depth_max=depth_max, cam_to_world=city[t] @ ego_sensor[cam], camera=cam,
                                lidar_dt_ms=(t - ts) / 1e6))
    return frame(rows, f"argoverse2 {base}"), None
