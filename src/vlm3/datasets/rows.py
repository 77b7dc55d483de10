"""Index rows for the loaders: one row with every contract column, the sorted frame, file checks.

Conventions (docs/CONTRACTS.md): OpenCV camera axes, pixel centres at integer coordinates,
`cam_to_world` 4x4 row-major metres, NaN for unknown intrinsics and depth ranges.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vlm3.datasets import INDEX_COLUMNS

NAN = float("nan")


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
