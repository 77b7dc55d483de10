"""Helpers shared by the real-dataset loaders: index rows, quaternions, COLMAP text, covisibility.

Conventions (docs/CONTRACTS.md): OpenCV camera axes, pixel centres at integer coordinates,
`cam_to_world` 4x4 row-major metres. COLMAP puts the top-left pixel's centre at (0.5, 0.5), so
principal points read from COLMAP text files are shifted by -0.5 (`COLMAP_PIXEL_SHIFT`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vlm3.datasets import INDEX_COLUMNS

log = logging.getLogger("vlm3.datasets")
NAN = float("nan")
COLMAP_PIXEL_SHIFT = -0.5


def row(image_id: str, scene_id: str, image_path: str | Path, width: int, height: int, *,
        fx=NAN, fy=NAN, cx=NAN, cy=NAN, dist_model: str = "none", dist_params: Iterable = (),
        depth_path=None, depth_format=None, depth_kind=None, depth_min=NAN, depth_max=NAN,
        cam_to_world=None, objects: list | None = None, **extra) -> dict:
    """One index row with every contract column (extra columns pass through)."""
    r = dict(image_id=str(image_id), scene_id=str(scene_id), image_path=str(image_path),
             width=int(width), height=int(height), fx=float(fx), fy=float(fy), cx=float(cx),
             cy=float(cy), dist_model=dist_model, dist_params=[float(v) for v in dist_params],
             depth_path=None if depth_path is None else str(depth_path), depth_format=depth_format,
             depth_kind=depth_kind, depth_min=float(depth_min), depth_max=float(depth_max),
             cam_to_world=None if cam_to_world is None else [float(v) for v in np.ravel(cam_to_world)],
             objects=json.dumps(objects or [], sort_keys=True))
    r.update(extra)
    return r


def frame(rows: list[dict], where: str) -> pd.DataFrame:
    """DataFrame of index rows with contract dtypes, sorted by image_id (deterministic)."""
    if not rows:
        raise ValueError(f"{where}: no images found")
    df = pd.DataFrame(rows)
    df = df[INDEX_COLUMNS + [c for c in df.columns if c not in INDEX_COLUMNS]]
    df["width"] = df["width"].astype("int32")
    df["height"] = df["height"].astype("int32")
    for c in ("fx", "fy", "cx", "cy", "depth_min", "depth_max"):
        df[c] = df[c].astype("float64")
    return df.sort_values("image_id", kind="stable").reset_index(drop=True)


def pairs_frame(pairs: list[tuple[str, str, float]]) -> pd.DataFrame:
    df = pd.DataFrame(pairs, columns=["image_id_1", "image_id_2", "covisibility"])
    df.insert(0, "pair_id", [f"{a}__{b}" for a, b in zip(df["image_id_1"], df["image_id_2"])])
    df["covisibility"] = df["covisibility"].astype("float64")
    return df


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the image header (PIL reads only the header)."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError) as e:
        raise ValueError(f"image {path}: unreadable ({e})") from None


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise ValueError(f"{what}: {path} not found")
    return path


def quat_to_rot(w: float, x: float, y: float, z: float) -> np.ndarray:
    """Rotation matrix of a unit quaternion given scalar-first (w, x, y, z), normalised first."""
    q = np.array([w, x, y, z], dtype=np.float64)
    n = np.linalg.norm(q)
    if not np.isfinite(n) or n == 0:
        raise ValueError(f"degenerate quaternion {q.tolist()}")
    w, x, y, z = q / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def rt_to_matrix(R, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.asarray(t, dtype=np.float64).ravel()
    return T


def invert_rigid(T) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def _data_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def read_colmap_cameras(path: Path) -> dict[int, dict]:
    """COLMAP cameras.txt -> {camera_id: {model, width, height, params}}."""
    cams = {}
    for ln in _data_lines(require(path, "COLMAP cameras")):
        p = ln.split()
        cams[int(p[0])] = {"model": p[1], "width": int(p[2]), "height": int(p[3]),
                           "params": [float(v) for v in p[4:]]}
    return cams


def read_colmap_images(path: Path) -> list[dict]:
    """COLMAP images.txt -> [{image_id, name, camera_id, w2c (4x4)}].

    Each image has two lines (pose line, then its 2D points, possibly empty): the header
    `IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`, quaternion scalar-first, world-to-camera.
    """
    lines = [ln.rstrip("\n") for ln in require(path, "COLMAP images").read_text().splitlines()
             if not ln.startswith("#")]
    out = []
    for i in range(0, len(lines), 2):
        p = lines[i].split()
        if not p:
            continue
        if len(p) < 10:
            raise ValueError(f"{path}: malformed image line {lines[i]!r}")
        R = quat_to_rot(*map(float, p[1:5]))
        out.append({"image_id": int(p[0]), "name": p[9], "camera_id": int(p[8]),
                    "w2c": rt_to_matrix(R, [float(v) for v in p[5:8]])})
    return out


def covisibility(depth1: np.ndarray, K1, c2w1, K2, c2w2, size2: tuple[int, int],
                 depth2: np.ndarray | None = None, stride: int = 8, rel_tol: float = 0.05) -> float:
    """Fraction of view-1 valid pixels (sampled every `stride` px) visible in view 2.

    A pixel is visible when its 3D point projects inside view 2 (W2 x H2) in front of the camera
    and, if `depth2` (z-depth, 0 invalid) is given, is not occluded: |z2_point - depth2| <=
    rel_tol * depth2 at the nearest pixel (pixels with no depth2 count as visible).
    Depth maps are camera-z metres.
    """
    d = np.asarray(depth1)[::stride, ::stride].astype(np.float64)  # subsample before converting
    vv, uu = np.nonzero(np.isfinite(d) & (d > 0))
    if len(vv) == 0:
        return 0.0
    z = d[vv, uu]
    u, v = uu * stride, vv * stride
    K1 = np.asarray(K1, dtype=np.float64)
    K2 = np.asarray(K2, dtype=np.float64)
    pc = np.stack([(u - K1[0, 2]) / K1[0, 0] * z, (v - K1[1, 2]) / K1[1, 1] * z, z], 1)
    T = invert_rigid(c2w2) @ np.asarray(c2w1, dtype=np.float64).reshape(4, 4)
    p2 = pc @ T[:3, :3].T + T[:3, 3]
    front = p2[:, 2] > 1e-9
    W2, H2 = size2
    u2 = np.full(len(p2), -1.0)
    v2 = np.full(len(p2), -1.0)
    u2[front] = K2[0, 0] * p2[front, 0] / p2[front, 2] + K2[0, 2]
    v2[front] = K2[1, 1] * p2[front, 1] / p2[front, 2] + K2[1, 2]
    iu, iv = np.floor(u2 + 0.5).astype(np.int64), np.floor(v2 + 0.5).astype(np.int64)
    inside = front & (iu >= 0) & (iu < W2) & (iv >= 0) & (iv < H2)
    if depth2 is not None and inside.any():
        d2 = np.asarray(depth2)[iv[inside], iu[inside]].astype(np.float64)
        ok = ~(np.isfinite(d2) & (d2 > 0)) | (np.abs(p2[inside, 2] - d2) <= rel_tol * d2)
        vis = inside.copy()
        vis[inside] = ok
        inside = vis
    return float(inside.mean())


def scene_pairs(images: pd.DataFrame, depth_of, min_covisibility: float, max_pairs_per_scene: int | None,
                rng_seed: int, stride: int = 8) -> pd.DataFrame:
    """Ordered pairs (i != j) inside each scene with covisibility computed from depth and poses.

    `depth_of(row) -> (H, W) z-depth` reads a row's depth; only every `stride`-th pixel is kept
    (view-2 occlusion tests use that grid too). Pairs below `min_covisibility` are dropped; then at most
    `max_pairs_per_scene` are drawn per scene with rng_for(seed, scene).
    """
    from vlm3.utils import rng_for

    out = []
    for scene, grp in images.groupby("scene_id", sort=True):
        rows = grp.sort_values("image_id").to_dict("records")
        # keep only every `stride`-th depth pixel (a 6048x4032 ETH3D map is 97 MB) and scale K to
        # that grid: pixel i of the small map is pixel i * stride of the original
        depths = {r["image_id"]: np.asarray(depth_of(r))[::stride, ::stride] for r in rows}

        def K(r):
            return [[r["fx"] / stride, 0, r["cx"] / stride], [0, r["fy"] / stride, r["cy"] / stride], [0, 0, 1]]

        cand = []
        for a in rows:
            for b in rows:
                if a["image_id"] == b["image_id"]:
                    continue
                db = depths[b["image_id"]]
                c = covisibility(depths[a["image_id"]], K(a), np.reshape(a["cam_to_world"], (4, 4)), K(b),
                                 np.reshape(b["cam_to_world"], (4, 4)), (db.shape[1], db.shape[0]), db, stride=1)
                if c >= min_covisibility and c > 0:
                    cand.append((a["image_id"], b["image_id"], round(c, 6)))
        if max_pairs_per_scene is not None and len(cand) > max_pairs_per_scene:
            pick = rng_for(rng_seed, "pairs", scene).choice(len(cand), max_pairs_per_scene, replace=False)
            cand = [cand[i] for i in sorted(pick)]
        out.extend(cand)
    return pairs_frame(out)

