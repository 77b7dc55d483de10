"""Depth readers the real-dataset loaders name, added to `vlm3.io.depth.READERS` on import.

Importing this module registers (see each function for units and invalid values):
- `depthlm_points:<record index>` (sparse): a DepthLM curated JSONL record's labelled pixels as
  camera-frame points, unprojected with the record's own intrinsics (depth kind z or ray given
  in the loader-built format param `<index>:<kind>`).
- `nuscenes_lidar:<12 floats>` (sparse): a nuScenes LIDAR_TOP .pcd.bin (float32 x 5 per point:
  x y z intensity ring, lidar frame) moved into the camera frame by the 3x4 row-major matrix in
  the parameter (lidar -> ego -> global -> ego at camera time -> camera, built by the loader);
  keeps 1 m < z <= 80 m (DepthLM's protocol).
- `ibims_masked`: iBims-1 PNG release depth (uint16, m = v * 50 / 65535), multiplied by the
  sibling `mask_invalid/` and `mask_transp/` PNGs (nonzero = valid) when they exist.
- `exr`: single-channel OpenEXR depth (WAI/MapAnything), via the `OpenEXR` package.
- `megadepth_h5`: MegaDepth `depths/*.h5` dataset `depth` (needs h5py, optional).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import cv2
import numpy as np

from vlm3.io.depth import SPARSE_FORMATS, register_reader

SPARSE_FORMATS.update({"depthlm_points", "nuscenes_lidar"})


@functools.lru_cache(maxsize=8)
def _jsonl_records(path: str, mtime: float) -> list[dict]:
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def depthlm_points(record: dict, kind: str) -> np.ndarray:
    """(N, 3) float32 camera-frame points of a DepthLM record (pixel centres, OpenCV axes)."""
    fx, fy, cx, cy = (float(v) for v in record["intrinsics"][:4])
    uv = np.asarray(record["pixel_coords"], dtype=np.float64).reshape(-1, 2)
    d = np.asarray(record["depth"], dtype=np.float64)
    x, y = (uv[:, 0] - cx) / fx, (uv[:, 1] - cy) / fy
    z = d if kind == "z" else d / np.sqrt(x * x + y * y + 1.0)
    return np.stack([x * z, y * z, z], 1).astype(np.float32)


@register_reader("depthlm_points", parametric=True)
def read_depthlm_points(p: Path, param: str) -> np.ndarray:
    idx, _, kind = param.partition(":")
    if kind not in ("z", "ray") or not idx.isdigit():
        raise ValueError(f"depth {p}: depthlm_points parameter must be '<index>:<z|ray>', got {param!r}")
    recs = _jsonl_records(str(p), p.stat().st_mtime)
    if int(idx) >= len(recs):
        raise ValueError(f"depth {p}: record {idx} out of range ({len(recs)} records)")
    return depthlm_points(recs[int(idx)], kind)


def lidar_param(T_cam_from_lidar: np.ndarray) -> str:
    """Format parameter for `nuscenes_lidar`: the top 3x4 of the 4x4, row-major, full precision."""
    return ",".join(repr(float(v)) for v in np.asarray(T_cam_from_lidar, dtype=np.float64)[:3, :4].ravel())


@register_reader("nuscenes_lidar", parametric=True)
def read_nuscenes_lidar(p: Path, param: str, z_min: float = 1.0, z_max: float = 80.0) -> np.ndarray:
    try:
        M = np.array([float(v) for v in param.split(",")], dtype=np.float64)
    except ValueError:
        raise ValueError(f"depth {p}: nuscenes_lidar parameter is not 12 numbers") from None
    if M.size != 12:
        raise ValueError(f"depth {p}: nuscenes_lidar parameter has {M.size} numbers, expected 12")
    raw = np.fromfile(p, dtype="<f4")
    if raw.size % 5:
        raise ValueError(f"depth {p}: {raw.size} floats is not a multiple of 5 (x y z intensity ring)")
    pts = raw.reshape(-1, 5)[:, :3].astype(np.float64)
    M = M.reshape(3, 4)
    cam = pts @ M[:, :3].T + M[:, 3]
    keep = np.isfinite(cam).all(1) & (cam[:, 2] > z_min) & (cam[:, 2] <= z_max)
    return cam[keep].astype(np.float32)


def _mask(p: Path) -> np.ndarray | None:
    if not p.exists():
        return None
    m = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise ValueError(f"mask {p}: unreadable")
    return (m if m.ndim == 2 else m[..., 0]) > 0


@register_reader("ibims_masked")
def read_ibims_masked(p: Path) -> np.ndarray:
    v = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if v is None or v.dtype != np.uint16 or v.ndim != 2:
        raise ValueError(f"depth {p}: expected a single-channel uint16 PNG")
    d = (v.astype(np.float64) * 50.0 / 65535.0).astype(np.float32)
    for folder in ("mask_invalid", "mask_transp"):
        m = _mask(p.parent.parent / folder / p.name)
        if m is not None:
            if m.shape != d.shape:
                raise ValueError(f"mask {folder}/{p.name}: size {m.shape} differs from depth {d.shape}")
            d[~m] = 0
    return d


@register_reader("exr")
def read_exr(p: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError:
        raise ValueError(f"depth {p}: reading .exr needs the OpenEXR package (pip install OpenEXR)") from None
    try:
        with OpenEXR.File(str(p)) as f:  # pixels are only valid while the file is open
            ch = f.channels()
            names = list(ch)
            pick = next((n for n in ("Z", "Y", "depth", "R") if n in ch), names[0] if len(names) == 1 else None)
            d = None if pick is None else np.array(ch[pick].pixels)
    except Exception as e:  # the bindings raise RuntimeError/OSError for corrupt files
        raise ValueError(f"depth {p}: unreadable EXR ({e})") from None
    if d is None:
        raise ValueError(f"depth {p}: EXR has channels {names}; expected one depth channel")
    if d.ndim == 3:
        d = d[..., 0]
    return d.astype(np.float32)


@register_reader("megadepth_h5")
def read_megadepth_h5(p: Path) -> np.ndarray:
    try:
        import h5py
    except ImportError:
        raise ValueError(f"depth {p}: reading MegaDepth .h5 needs h5py (pip install h5py)") from None
    with h5py.File(p, "r") as f:
        if "depth" not in f:
            raise ValueError(f"depth {p}: no 'depth' dataset (keys {list(f)})")
        return np.asarray(f["depth"], dtype=np.float32)
