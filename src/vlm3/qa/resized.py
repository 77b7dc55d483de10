"""Read a resize-stage folder `results/resized/{dataset}/{split}/` for QA generation.

The folder holds `index.parquet` (index schema, fx = fy = target focal, dist_model none),
`depth/{image_id}.npy` (float32 metres, 0 invalid, `depth_kind` z or ray) and, for two-view
tasks, `pairs.parquet` (pair_id, image_id_1, image_id_2, covisibility). Every problem is a
ValueError that names the file and what is wrong.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from vlm3.datasets import validate_index, validate_pairs
from vlm3.io.depth import is_sparse, read_depth

log = logging.getLogger("vlm3.qa")


@dataclass
class Resized:
    folder: Path
    dataset: str
    split: str
    images: pd.DataFrame          # sorted by image_id
    pairs: pd.DataFrame | None    # sorted by pair_id

    def row(self, image_id: str) -> dict:
        return self._rows[image_id]

    def __post_init__(self):
        self._rows = {r["image_id"]: r for r in self.images.to_dict("records")}


def load_resized(folder: str | Path, need_pairs: bool = False) -> Resized:
    """Load and validate a resized folder; dataset and split are the folder's last two names."""
    folder = Path(folder)
    index_path = folder / "index.parquet"
    if not index_path.is_file():
        raise ValueError(f"--resized {folder}: no index.parquet in it")
    try:
        images = pd.read_parquet(index_path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise ValueError(f"{index_path}: unreadable parquet ({e})") from None
    if images.empty:
        raise ValueError(f"{index_path}: the index has no rows")
    images = validate_index(images, str(index_path))
    for c in ("fx", "fy", "cx", "cy"):
        v = images[c].to_numpy(dtype=float)
        if not np.all(np.isfinite(v)):
            bad = images["image_id"][~np.isfinite(v)].iloc[0]
            raise ValueError(f"{index_path}: {c} is not finite for image {bad!r} (resize must set intrinsics)")
    images = images.sort_values("image_id", kind="stable").reset_index(drop=True)
    pairs = None
    pairs_path = folder / "pairs.parquet"
    if need_pairs:
        if not pairs_path.is_file():
            raise ValueError(f"--resized {folder}: no pairs.parquet in it (needed for two-view tasks)")
        pairs = validate_pairs(pd.read_parquet(pairs_path), images, str(pairs_path))
        pairs = pairs.sort_values("pair_id", kind="stable").reset_index(drop=True)
    return Resized(folder, folder.parent.name, folder.name, images, pairs)


def intrinsics(row: dict) -> np.ndarray:
    """3x3 K of an index row."""
    return np.array([[row["fx"], 0.0, row["cx"]], [0.0, row["fy"], row["cy"]], [0.0, 0.0, 1.0]])


def depth_range(row: dict) -> tuple[float, float]:
    """The row's valid depth range [depth_min, depth_max] in metres; a NaN or missing bound is open."""
    def bound(key: str, default: float) -> float:
        v = row.get(key)
        return default if v is None or math.isnan(v := float(v)) else v
    return bound("depth_min", 0.0), bound("depth_max", math.inf)


def enforce_range(depth: np.ndarray, row: dict, counts=None) -> np.ndarray:
    """`depth` with valid pixels outside the row's [depth_min, depth_max] set to 0 (invalid).

    The pixels made invalid are counted under `depth_pixels_out_of_range` (and the images under
    `images_with_depth_out_of_range`) and reported with a warning naming the image."""
    lo, hi = depth_range(row)
    out = (depth > 0) & ((depth < lo) | (depth > hi))
    n = int(np.count_nonzero(out))
    if n == 0:
        return depth
    if counts is not None:
        counts["depth_pixels_out_of_range"] += n
        counts["images_with_depth_out_of_range"] += 1
    log.warning("image %s: %d depth pixels outside the valid range [%g, %g] m (%s) set invalid",
                row["image_id"], n, lo, hi, row.get("depth_path"))
    return np.where(out, np.float32(0), depth)


def load_depth(row: dict, counts=None) -> np.ndarray:
    """Dense (H, W) float32 metres of an index row, 0 = invalid; checks size and depth_kind.

    Depth outside the row's [depth_min, depth_max] is invalid (0), counted in `counts`."""
    path, fmt, kind = row.get("depth_path"), row.get("depth_format") or "npy", row.get("depth_kind")
    if path is None or (isinstance(path, float) and math.isnan(path)):
        raise ValueError(f"image {row['image_id']!r}: no depth_path in the resized index")
    if kind not in ("z", "ray"):
        raise ValueError(f"image {row['image_id']!r}: depth_kind must be 'z' or 'ray', got {kind!r}")
    if is_sparse(fmt):
        raise ValueError(f"{path}: depth_format {fmt!r} is sparse; the resized stage writes dense maps")
    return enforce_range(read_depth(path, fmt, shape=(int(row["height"]), int(row["width"]))), row, counts)


def cam_to_world(row: dict) -> np.ndarray:
    """4x4 pose of an index row; ValueError when it is missing."""
    m = row.get("cam_to_world")
    if m is None or len(m) != 16:
        raise ValueError(f"image {row['image_id']!r}: cam_to_world missing or not 16 numbers")
    m = np.asarray(m, dtype=np.float64).reshape(4, 4)
    if not np.all(np.isfinite(m)):
        raise ValueError(f"image {row['image_id']!r}: cam_to_world has non-finite values")
    return m


def objects(row: dict) -> list[dict]:
    """The parsed `objects` JSON list of an index row."""
    try:
        objs = json.loads(row["objects"])
    except (TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"image {row['image_id']!r}: objects is not valid JSON ({e})") from None
    if not isinstance(objs, list):
        raise ValueError(f"image {row['image_id']!r}: objects must be a JSON list")
    return objs


def covisible_pairs(res: Resized, min_covisibility: float, counts, desc: str):
    """Yield (pair, row_1, row_2) for pairs with covisibility >= min_covisibility, counting the rest
    under `pairs_below_min_covisibility` (shared by the correspondence and pose generators)."""
    for pair in tqdm(res.pairs.to_dict("records"), desc=desc, unit="pair", leave=False):
        if not float(pair["covisibility"]) >= min_covisibility:
            counts["pairs_below_min_covisibility"] += 1
            continue
        yield pair, res.row(pair["image_id_1"]), res.row(pair["image_id_2"])
