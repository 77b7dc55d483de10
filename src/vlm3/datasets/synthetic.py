"""Index loader for the synthetic benchmark written by `python -m vlm3.synthetic.generate`.

Reads `{raw_dir}/{split}/meta.json` and `pairs.json` (layout: docs/synthetic.md). Withheld
intrinsics become NaN; `intrinsics_withheld.json` (the calibration truth) is never read here.
Paths are `raw_dir / split / relative path`, so a relative `raw_dir` yields paths relative to the
working directory (the repository root in the workflow).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from vlm3.datasets import register
from vlm3.utils import read_text

FORMAT = "vlm3-synthetic/1"
# Keys of a meta.json object record copied into the index `objects` JSON (contract keys first).
OBJECT_KEYS = ("name", "category", "box2d", "center", "size", "yaw", "mask_path",
               "instance_id", "color", "center_world", "rotation", "visible_px", "hit_px",
               "occlusion", "truncated")


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise ValueError(f"synthetic loader: {what} {path} does not exist "
                         "(generate it with python -m vlm3.synthetic.generate)")
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"synthetic loader: {path} is not valid JSON: {e}") from None


def _image_row(folder: Path, im: dict) -> dict:
    """The index row of one meta.json image record (KeyError/TypeError/ValueError on bad fields)."""
    for key in ("image", "depth", "mask"):
        if not (folder / im[key]).is_file():
            raise ValueError(f"{folder / im[key]} ({key} of {im['image_id']}) does not exist")
    intr = im["intrinsics"]
    if intr is None:
        fx = fy = cx = cy = math.nan
    else:
        fx, fy, cx, cy = (float(intr[k]) for k in ("fx", "fy", "cx", "cy"))
    objects = []
    for o in im["objects"]:
        rec = {k: o[k] for k in OBJECT_KEYS}
        rec["mask_path"] = str(folder / o["mask_path"])
        objects.append(rec)
    return {
        "image_id": im["image_id"], "scene_id": im["scene_id"],
        "image_path": str(folder / im["image"]),
        "width": int(im["width"]), "height": int(im["height"]),
        "fx": fx, "fy": fy, "cx": cx, "cy": cy,
        # An empty float64 array, not []: parquet then types the column list<float64> (the
        # contract) instead of list<null>; it reads back as an array like any list column.
        "dist_model": "none", "dist_params": np.zeros(0, np.float64),
        "depth_path": str(folder / im["depth"]), "depth_format": "npy",
        "depth_kind": im["depth_kind"],
        "depth_min": float(im["depth_min"]), "depth_max": float(im["depth_max"]),
        "cam_to_world": [float(x) for x in im["cam_to_world"]],
        "objects": json.dumps(objects, sort_keys=True),
        "view": im["view"],
    }


@register("synthetic")
def load(raw_dir: Path, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(images, pairs) in the index schema of docs/CONTRACTS.md."""
    folder = Path(raw_dir) / split
    meta = _read_json(folder / "meta.json", "meta file")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"synthetic loader: {folder / 'meta.json'} is not a {FORMAT} meta file")
    pairs = _read_json(folder / "pairs.json", "pairs file")
    if not isinstance(meta.get("images"), list):
        raise ValueError(f"synthetic loader: {folder / 'meta.json'}: `images` is not a list")
    rows = []
    for i, im in enumerate(meta["images"]):
        try:
            rows.append(_image_row(folder, im))
        except (KeyError, TypeError, ValueError) as e:
            what = f"lacks key {e}" if isinstance(e, KeyError) else str(e)
            iid = im.get("image_id") if isinstance(im, dict) else None
            raise ValueError(f"synthetic loader: {folder / 'meta.json'}: images[{i}] ({iid!r}): {what}") from None
    images = pd.DataFrame(rows)
    images["width"] = images["width"].astype("int32")
    images["height"] = images["height"].astype("int32")
    for c in ("fx", "fy", "cx", "cy", "depth_min", "depth_max"):
        images[c] = images[c].astype("float64")
    pairs_df = pd.DataFrame(
        [{"pair_id": p["pair_id"], "image_id_1": p["image_id_1"], "image_id_2": p["image_id_2"],
          "covisibility": float(p["covisibility"])} for p in pairs],
        columns=["pair_id", "image_id_1", "image_id_2", "covisibility"])
    return images, pairs_df
