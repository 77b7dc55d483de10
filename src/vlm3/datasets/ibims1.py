"""iBims-1 core set, PNG release (`ibims1_core_raw/`) -> index.

Layout: rgb/<name>.png (640x480), depth/<name>.png (uint16, m = v * 50 / 65535, 0 = missing),
mask_invalid/<name>.png and mask_transp/<name>.png (1-bit, nonzero = valid), calib/<name>.txt.
Depth is camera z. Rows use the `ibims_masked` reader (vlm3.datasets.readers): depth with both
masks applied, 0 invalid; a missing mask PNG is an error (index and reader). With the .mat release
beside it (ibims1_core_mat/<name>.mat: loadmat(f)['data'][key][0][0], keys rgb, depth, calib,
mask_invalid, mask_transp), the .mat's calib (stored transposed) is read too and must agree with
calib/<name>.txt; `depth_source="mat"` points depth at the .mat instead (`ibims_mat` reader: depth * mask_invalid * mask_transp).

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
from vlm3.datasets.rows import frame, image_size, require, row

MASKS = ("mask_invalid", "mask_transp")


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


def mat_field(path: Path, key: str) -> np.ndarray:
    """loadmat(f)['data'][key][0][0], the access pattern of the official iBims-1 scripts."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except (OSError, ValueError, EOFError, scipy.io.matlab.MatReadError) as e:  # truncated, not a .mat
        raise ValueError(f"{path}: unreadable iBims-1 .mat ({e})") from None
    try:
        return np.asarray(mat["data"][key][0][0])
    except (KeyError, ValueError, IndexError) as e:
        raise ValueError(f"{path}: no data.{key} ({e})") from None


def mat_calib(path: Path) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) as stored: calib is MATLAB-transposed, K = calib.T."""
    K = mat_field(path, "calib").astype(np.float64).T
    if K.shape != (3, 3) or K[0, 2] == 0:
        raise ValueError(f"{path}: data.calib is not a transposed 3x3 K ({K.tolist()})")
    return K[0, 0], K[1, 1], K[0, 2], K[1, 2]


@register("ibims1")
def load(raw: Path, split: str, one_based_pp: bool = True, depth_max: float = 50.0,
         depth_source: str = "png"):
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
        mat = raw / "ibims1_core_mat" / f"{n}.mat"
        txt = root / "calib" / f"{n}.txt"
        if txt.exists() or not mat.exists():
            fx, fy, cx, cy = read_calib(txt)
            if mat.exists() and not np.allclose(mat_calib(mat), (fx, fy, cx, cy), atol=1e-3):
                raise ValueError(f"ibims1 {n}: calib txt {(fx, fy, cx, cy)} disagrees with the .mat {mat_calib(mat)}")
        else:
            fx, fy, cx, cy = mat_calib(mat)
        if depth_source == "png":
            dpath, dfmt = require(root / "depth" / f"{n}.png", "ibims1 depth"), "ibims_masked"
            for folder in MASKS:  # without a mask, invalid or transparent pixels would count as valid
                require(root / folder / f"{n}.png", f"ibims1 {folder} (mask of depth/{n}.png)")
        elif depth_source == "mat":
            dpath, dfmt = require(mat, "ibims1 depth"), "ibims_mat"
        else:
            raise ValueError(f"ibims1: depth_source must be 'png' or 'mat', got {depth_source!r}")
        head, _, tail = n.rpartition("_")
        rows.append(row(n, head if tail.isdigit() else n, img, W, H, fx=fx, fy=fy, cx=cx + shift,
                        cy=cy + shift, depth_path=dpath, depth_format=dfmt, depth_kind="z", depth_min=0.0,
                        depth_max=depth_max))
    return frame(rows, f"ibims1 {raw}"), None
