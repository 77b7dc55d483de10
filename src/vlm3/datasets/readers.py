"""Depth readers the real-dataset loaders name, added to `vlm3.io.depth.READERS` on import.

Importing this module registers (see each function for units and invalid values):
- `depthlm_points:<record index>` (sparse): a DepthLM curated JSONL record's labelled pixels as
  camera-frame points, unprojected with the record's own intrinsics (depth kind z or ray given
  in the loader-built format param `<index>:<kind>`).
- `nuscenes_lidar:<12 floats>,<fx>,<fy>,<cx>,<cy>,<W>,<H>` (sparse): a nuScenes LIDAR_TOP
  .pcd.bin (float32 x 5 per point: x y z intensity ring, lidar frame) moved into the camera frame
  by the 3x4 row-major matrix in the parameter (lidar -> ego -> global -> ego at camera time ->
  camera, built by the loader); keeps 1 m < z <= 80 m (DepthLM's protocol) and, as
  nuscenes-devkit's map_pointcloud_to_image, only points projecting (float64, with the camera's
  K) to 1 < u < W - 1 and 1 < v < H - 1. Returns float64 points (float32 would move a projection
  such as u = 10.5000003 into the neighbouring pixel).
- `lidar_npz:<12 floats>` (DDAD), `av2_lidar:<12 floats>` (Argoverse 2 feather) (sparse): same
  idea for other lidar files, no z cap.
- `omnidata_png`: Taskonomy/HM3D depth_zbuffer uint16, m = v / 512, 65535 invalid.
- `tartanair_depth`: TartanAir v2 depth PNG, float32 packed into RGBA bytes.
- `ibims_masked`: iBims-1 PNG release depth (uint16, m = v * 50 / 65535), multiplied by the
  sibling `mask_invalid/` and `mask_transp/` PNGs (nonzero = valid); a missing mask is an error.
- `ibims_mat`: iBims-1 .mat release, data.depth with both masks applied.
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

SPARSE_FORMATS.update({"depthlm_points", "nuscenes_lidar", "lidar_npz", "av2_lidar"})


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


def _matrix_param(p: Path, fmt: str, param: str) -> np.ndarray:
    try:
        M = np.array([float(v) for v in param.split(",")], dtype=np.float64)
    except ValueError:
        raise ValueError(f"depth {p}: {fmt} parameter is not 12 numbers") from None
    if M.size != 12:
        raise ValueError(f"depth {p}: {fmt} parameter has {M.size} numbers, expected 12")
    return M.reshape(3, 4)


def to_camera(pts: np.ndarray, M: np.ndarray, z_min: float = 0.0, z_max: float = np.inf) -> np.ndarray:
    """Points (N, 3) through the 3x4 `M`, keeping finite z_min < z <= z_max; float32 (N, 3)."""
    cam = np.asarray(pts, dtype=np.float64) @ M[:, :3].T + M[:, 3]
    fin = np.isfinite(cam[:, 0]) & np.isfinite(cam[:, 1]) & np.isfinite(cam[:, 2])  # (.all(1): 15x slower)
    keep = fin & (cam[:, 2] > z_min) & (cam[:, 2] <= z_max)
    return cam[keep].astype(np.float32)


def nuscenes_param(T_cam_from_lidar: np.ndarray, K: np.ndarray, width: int, height: int) -> str:
    """Format parameter for `nuscenes_lidar`: the 3x4 of `lidar_param`, then fx, fy, cx, cy, W, H."""
    cam = [float(K[0][0]), float(K[1][1]), float(K[0][2]), float(K[1][2]), int(width), int(height)]
    return lidar_param(T_cam_from_lidar) + "," + ",".join(repr(v) for v in cam)


def _nuscenes_param(p: Path, param: str) -> tuple[np.ndarray, tuple[float, ...]]:
    parts = param.split(",")
    if len(parts) != 18:
        raise ValueError(f"depth {p}: nuscenes_lidar parameter has {len(parts)} numbers, expected 18 (3x4 "
                         "lidar-to-camera, fx, fy, cx, cy, W, H); re-run the index stage")
    M = _matrix_param(p, "nuscenes_lidar", ",".join(parts[:12]))
    try:
        cam = tuple(float(v) for v in parts[12:])
    except ValueError:
        raise ValueError(f"depth {p}: nuscenes_lidar camera fx, fy, cx, cy, W, H are not numbers") from None
    return M, cam


def devkit_border(cam: np.ndarray, fx: float, fy: float, cx: float, cy: float, W: float, H: float) -> np.ndarray:
    """Mask of camera points (float64, z > 0) that nuscenes-devkit keeps: 1 < u < W-1, 1 < v < H-1."""
    u = cam[:, 0] / cam[:, 2] * fx + cx
    v = cam[:, 1] / cam[:, 2] * fy + cy
    return (u > 1) & (u < W - 1) & (v > 1) & (v < H - 1)


@register_reader("nuscenes_lidar", parametric=True)
def read_nuscenes_lidar(p: Path, param: str, z_min: float = 1.0, z_max: float = 80.0) -> np.ndarray:
    M, (fx, fy, cx, cy, W, H) = _nuscenes_param(p, param)
    raw = np.fromfile(p, dtype="<f4")
    if raw.size % 5:
        raise ValueError(f"depth {p}: {raw.size} floats is not a multiple of 5 (x y z intensity ring)")
    cam = raw.reshape(-1, 5)[:, :3].astype(np.float64) @ M[:, :3].T + M[:, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        keep = np.isfinite(cam).all(axis=1) & (cam[:, 2] > z_min) & (cam[:, 2] <= z_max)
        cam = cam[keep]
        return cam[devkit_border(cam, fx, fy, cx, cy, W, H)]


@register_reader("lidar_npz", parametric=True)
def read_lidar_npz(p: Path, param: str) -> np.ndarray:
    """DDAD (DGP) point_cloud/*.npz: array `data` (N, >=3) x y z [...] in the lidar frame."""
    M = _matrix_param(p, "lidar_npz", param)
    with np.load(p) as z:
        if "data" not in z:
            raise ValueError(f"depth {p}: no 'data' array (has {list(z.keys())})")
        pts = np.asarray(z["data"])
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f"depth {p}: expected (N, >=3) points, got {pts.shape}")
    return to_camera(pts[:, :3], M)


@register_reader("av2_lidar", parametric=True)
def read_av2_lidar(p: Path, param: str) -> np.ndarray:
    """Argoverse 2 sensors/lidar/<ts>.feather (columns x, y, z in the ego frame at sweep time)."""
    import pyarrow.feather as feather

    M = _matrix_param(p, "av2_lidar", param)
    t = feather.read_table(p, columns=["x", "y", "z"])
    pts = np.stack([t.column(c).to_numpy() for c in ("x", "y", "z")], 1)
    return to_camera(pts, M)


@register_reader("omnidata_png")
def read_omnidata_png(p: Path) -> np.ndarray:
    """Taskonomy/HM3D (omnidata) depth_zbuffer PNG: uint16, metres = v / 512, 65535 = invalid."""
    v = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if v is None or v.dtype != np.uint16:
        raise ValueError(f"depth {p}: expected a uint16 PNG")
    v = v if v.ndim == 2 else v[..., 0]
    d = v.astype(np.float32) / np.float32(512.0)
    d[v == 65535] = 0
    return d


@register_reader("tartanair_depth")
def read_tartanair_depth(p: Path) -> np.ndarray:
    """TartanAir v2 depth PNG: float32 metres packed little-endian into the 4 bytes of RGBA."""
    v = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if v is None or v.dtype != np.uint8 or v.ndim != 3 or v.shape[2] != 4:
        raise ValueError(f"depth {p}: expected an 8-bit 4-channel PNG (packed float32)")
    return np.ascontiguousarray(v).view("<f4")[..., 0]


def _mask(p: Path, depth: Path) -> np.ndarray:
    if not p.is_file():
        raise ValueError(f"depth {depth}: mask {p} not found (without it, masked pixels would count as valid)")
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
        m = _mask(p.parent.parent / folder / p.name, p)
        if m.shape != d.shape:
            raise ValueError(f"mask {folder}/{p.name}: size {m.shape} differs from depth {d.shape}")
        d[~m] = 0
    return d


@register_reader("ibims_mat")
def read_ibims_mat(p: Path) -> np.ndarray:
    """iBims-1 .mat: data.depth (metres, 0 missing) * data.mask_invalid * data.mask_transp."""
    from vlm3.datasets.ibims1 import mat_field

    d = mat_field(p, "depth").astype(np.float32)
    for key in ("mask_invalid", "mask_transp"):
        m = mat_field(p, key)
        if m.shape != d.shape:
            raise ValueError(f"depth {p}: data.{key} size {m.shape} differs from depth {d.shape}")
        d[m == 0] = 0
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
