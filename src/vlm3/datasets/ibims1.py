"""iBims-1 core set, PNG release (`ibims1_core_raw/`) -> index.

Layout: rgb/<name>.png (640x480), depth/<name>.png (uint16, m = v * 50 / 65535, 0 = missing),
mask_invalid/<name>.png and mask_transp/<name>.png (1-bit, nonzero = valid), calib/<name>.txt.
Depth is camera z. Rows use the `ibims_masked` reader (vlm3.datasets.readers): depth with both
masks applied, 0 invalid.

Intrinsics: calib/<name>.txt holds "fx,fy,cx,cy" (or a 3x3 matrix, possibly MATLAB-transposed as
in the .mat's `calib`). The official evaluation script builds pixel grids with
meshgrid(1..W, 1..H), i.e. the principal point is 1-based; the contract's pixel centres are
0-based, so cx, cy are shifted by -1 (`one_based_pp=True`, the default). DepthLM's curated file
(ibims1-depthlm) carries the unshifted values (e.g. corridor_01 cx 361.87, cy 241.99), a 1 px
difference documented in docs/datasets.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlm3.datasets import register
from vlm3.datasets._common import frame, image_size, require, row


def read_calib(path: Path) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) as stored (1-based principal point) from calib/<name>.txt."""
    vals = [float(v) for v in require(path, "ibims1 calib").read_text().replace(",", " ").split()]
    if len(vals) == 4:
        return tuple(vals)
    if len(vals) == 9:
        K = np.array(vals).reshape(3, 3)
        if K[0, 2] == 0 and K[2, 0] != 0:  # MATLAB-transposed: [[fx,0,0],[0,fy,0],[cx,cy,1]]
            K = K.T
        return K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    raise ValueError(f"{path}: expected 'fx,fy,cx,cy' or a 3x3 matrix, got {len(vals)} numbers")


@register("ibims1")
def load(raw: Path, split: str, one_based_pp: bool = True, depth_max: float = 50.0):
    if split != "test":
        raise ValueError(f"ibims1: the 100 core images form one evaluation split 'test', got {split!r}")
    raw = Path(raw)
    root = raw / "ibims1_core_raw" if (raw / "ibims1_core_raw").is_dir() else raw
    rgb = require(root / "rgb", "ibims1")
    lst = raw / "imagelist.txt"
    names = ([ln.strip().removesuffix(".mat") for ln in lst.read_text().splitlines() if ln.strip()]
             if lst.exists() else sorted(p.stem for p in rgb.glob("*.png")))
    shift = -1.0 if one_based_pp else 0.0
    rows = []
    for n in names:
        img = require(rgb / f"{n}.png", "ibims1 image")
        W, H = image_size(img)
        fx, fy, cx, cy = read_calib(root / "calib" / f"{n}.txt")
        head, _, tail = n.rpartition("_")
        rows.append(row(n, head if tail.isdigit() else n, img, W, H, fx=fx, fy=fy, cx=cx + shift,
                        cy=cy + shift, depth_path=require(root / "depth" / f"{n}.png", "ibims1 depth"),
                        depth_format="ibims_masked", depth_kind="z", depth_min=0.0, depth_max=depth_max))
    return frame(rows, f"ibims1 {raw}"), None
