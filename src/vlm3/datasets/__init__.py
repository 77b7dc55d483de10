"""Dataset loaders: raw files on disk -> the canonical index (docs/CONTRACTS.md).

Each dataset type registers a loader with `@register("name")`. A loader takes the raw folder and
a split and returns `(images, pairs)`: a DataFrame in the index schema and a pairs DataFrame or
None. `load_index` validates both before anything is written.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

Loader = Callable[..., "tuple[pd.DataFrame, pd.DataFrame | None]"]
LOADERS: dict[str, Loader] = {}

INDEX_COLUMNS = [
    "image_id", "scene_id", "image_path", "width", "height",
    "fx", "fy", "cx", "cy", "dist_model", "dist_params",
    "depth_path", "depth_format", "depth_kind", "depth_min", "depth_max",
    "cam_to_world", "objects",
]
PAIR_COLUMNS = ["pair_id", "image_id_1", "image_id_2", "covisibility"]
DIST_MODELS = {"none", "opencv", "fisheye", "thin_prism_fisheye"}

# Modules holding loaders; imported lazily so a missing optional dependency of one dataset
# never breaks the others.
_MODULES = {
    "synthetic": "vlm3.datasets.synthetic",
    # real benchmarks and training sources (config/datasets.yaml names these types)
    "depthlm_jsonl": "vlm3.datasets.depthlm_jsonl",
    "ibims1": "vlm3.datasets.ibims1",
    "eth3d": "vlm3.datasets.eth3d",
    "nuscenes": "vlm3.datasets.nuscenes",
    "sunrgbd": "vlm3.datasets.sunrgbd",
    "nyuv2": "vlm3.datasets.nyuv2",
    "spatialrgpt_bench": "vlm3.datasets.spatialrgpt_bench",
    "wai": "vlm3.datasets.wai",
    "loftr_scannet": "vlm3.datasets.loftr",
    "loftr_megadepth": "vlm3.datasets.loftr",
    "ufm_pairs": "vlm3.datasets.wai",
    "omnidata": "vlm3.datasets.omnidata",
    "matterport3d": "vlm3.datasets.matterport3d",
    "blendedmvs": "vlm3.datasets.blendedmvs",
    "tartanair": "vlm3.datasets.tartanair",
    "argoverse2": "vlm3.datasets.argoverse2",
    "ddad": "vlm3.datasets.ddad",
}


def register(name: str):
    def deco(fn: Loader) -> Loader:
        LOADERS[name] = fn
        return fn
    return deco


def get_loader(name: str) -> Loader:
    if name not in LOADERS and name in _MODULES:
        importlib.import_module(_MODULES[name])
    if name not in LOADERS:
        known = sorted(set(LOADERS) | set(_MODULES))
        raise ValueError(f"unknown dataset type {name!r}; known types: {', '.join(known)}")
    return LOADERS[name]


def validate_index(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check an index DataFrame against the contract; raise ValueError naming `where`."""
    missing = [c for c in INDEX_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: index lacks columns {missing}")
    if df["image_id"].duplicated().any():
        dup = df.loc[df["image_id"].duplicated(), "image_id"].iloc[0]
        raise ValueError(f"{where}: duplicate image_id {dup!r}")
    if ((df["width"] <= 0) | (df["height"] <= 0)).any():
        raise ValueError(f"{where}: non-positive image size")
    for c in ("fx", "fy"):
        v = df[c].to_numpy(dtype=float)
        bad = np.isfinite(v) & (v <= 0)
        if bad.any():
            raise ValueError(f"{where}: non-positive {c} for image {df['image_id'][bad].iloc[0]!r}")
    bad_dist = set(df["dist_model"]) - DIST_MODELS
    if bad_dist:
        raise ValueError(f"{where}: unknown dist_model {sorted(bad_dist)}")
    kinds = set(df["depth_kind"].dropna()) - {"z", "ray"}
    if kinds:
        raise ValueError(f"{where}: depth_kind must be 'z' or 'ray', got {sorted(kinds)}")
    for iid, obj, pose in zip(df["image_id"], df["objects"], df["cam_to_world"]):
        try:
            objs = json.loads(obj)
        except (TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"{where}: image {iid!r}: objects is not valid JSON ({e})") from None
        if not isinstance(objs, list):
            raise ValueError(f"{where}: image {iid!r}: objects must be a JSON list")
        if hasattr(pose, "__len__") and len(pose) != 16:  # None (or NaN): no pose
            raise ValueError(f"{where}: image {iid!r}: cam_to_world has {len(pose)} numbers, not 16")
    return df[INDEX_COLUMNS + [c for c in df.columns if c not in INDEX_COLUMNS]]


def validate_pairs(pairs: pd.DataFrame, images: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
    if missing:
        raise ValueError(f"{where}: pairs lack columns {missing}")
    ids = set(images["image_id"])
    unknown = (set(pairs["image_id_1"]) | set(pairs["image_id_2"])) - ids
    if unknown:
        raise ValueError(f"{where}: pairs name unknown images {sorted(unknown)[:3]}")
    return pairs[PAIR_COLUMNS]


def load_index(dtype: str, raw_dir: str | Path, split: str, **opts):
    images, pairs = get_loader(dtype)(Path(raw_dir), split, **opts)
    where = f"{dtype} loader on {raw_dir} ({split})"
    images = validate_index(images.reset_index(drop=True), where)
    if pairs is not None:
        pairs = validate_pairs(pairs.reset_index(drop=True), images, where)
    return images, pairs
