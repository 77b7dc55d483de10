"""NYU Depth v2 labelled set, as re-packed inside SUN RGB-D (kv1/NYUdata/NYU0001..NYU1449) -> index.

DepthLM's curate_NYU.py reads NYUv2 from the SUN RGB-D root, so do we: same JPG/PNG layout and
conventions as vlm3.datasets.sunrgbd (bit-rotated uint16 depth in mm, camera z; 1-based
principal point shifted by -1). NYU%04d follows the order of nyu_depth_v2_labeled.mat, so the
official split file splits.mat (`testNdxs` 654, `trainNdxs` 795; 1-based indices into the 1449)
selects the images. `all` takes all 1449 without splits.mat.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from vlm3.datasets import register
from vlm3.datasets.rows import frame, require
from vlm3.datasets.sunrgbd import find_root, scene_row

SPLIT_KEYS = {"test": "testNdxs", "train": "trainNdxs"}


@register("nyuv2")
def load(raw: Path, split: str, depth_dir: str = "depth_bfx", depth_max: float = 10.0):
    raw = Path(raw)
    root = find_root(raw)
    nyu = require(root / "kv1" / "NYUdata", "nyuv2")
    if split == "all":
        idx = sorted(int(p.name[3:]) for p in nyu.glob("NYU[0-9][0-9][0-9][0-9]"))
    elif split in SPLIT_KEYS:
        mat = scipy.io.loadmat(require(raw / "splits.mat", f"nyuv2 split {split!r}"))
        if SPLIT_KEYS[split] not in mat:
            raise ValueError(f"{raw / 'splits.mat'}: no {SPLIT_KEYS[split]!r}")
        idx = sorted(int(i) for i in np.ravel(mat[SPLIT_KEYS[split]]))
        if idx and (idx[0] < 1 or idx[-1] > 1449):
            raise ValueError(f"{raw / 'splits.mat'}: indices must be 1-based within 1..1449")
    else:
        raise ValueError(f"nyuv2: split must be test, train or all, got {split!r}")
    rows = [scene_row(root, require(nyu / f"NYU{i:04d}", "nyuv2 image folder"), depth_dir, depth_max,
                      image_id=f"NYU{i:04d}") for i in idx]
    return frame(rows, f"nyuv2 {root} ({split})"), None
