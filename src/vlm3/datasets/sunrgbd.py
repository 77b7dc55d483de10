"""SUN RGB-D -> index (NYUv2 part excluded by default, as DepthLM's curate_sunRGBD.py).

Layout: SUNRGBD/<sensor>/<subset>/.../<scene>/ with image/*.jpg, depth/*.png (raw),
depth_bfx/*.png (filled), intrinsics.txt (3x3 row-major). Scene folders are found by their
image/*.jpg or intrinsics.txt, so every sensor's nesting depth works (kv1/NYUdata/NYU0001,
xtion/sun3ddata/<place>/<seq>/<frame>, ...); a scene of the split without intrinsics.txt is an
error naming the folder, never a silent skip.
Depth: uint16 PNG with bits rotated by 3 (`sunrgbd` reader): m = ((v >> 3) | (v << 13)) & 0xFFFF
/ 1000, 0 invalid; camera z (structured light / ToF). `depth_dir` picks depth_bfx (default,
REFERENCE.md) or depth (raw).
Intrinsics: the SUN RGB-D toolbox back-projects with meshgrid(1..W, 1..H), i.e. a 1-based
principal point; cx, cy are shifted by -1 to 0-based pixel centres.
Splits: SUNRGBDtoolbox/traintestSUNRGBD/allsplit.mat (`alltrain`/`alltest` hold absolute paths
ending in .../SUNRGBD/<scene path>); `all` takes every scene.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from vlm3.datasets import register
from vlm3.datasets.rows import frame, image_size, require, row

SPLIT_KEYS = {"train": "alltrain", "test": "alltest"}


def find_root(raw: Path) -> Path:
    for cand in (raw / "SUNRGBD", raw):
        if any(cand.glob("*/*/")) and any((cand / s).is_dir() for s in ("kv1", "kv2", "realsense", "xtion")):
            return cand
    raise ValueError(f"sunrgbd: no SUNRGBD/ folder with sensor folders (kv1, kv2, realsense, xtion) under {raw}")


def read_split(raw: Path, split: str) -> set[str] | None:
    """Scene paths relative to SUNRGBD/ of a split, or None for `all`."""
    if split == "all":
        return None
    if split not in SPLIT_KEYS:
        raise ValueError(f"sunrgbd: split must be train, test or all, got {split!r}")
    found = sorted(raw.rglob("allsplit.mat"))
    if not found:
        raise ValueError(f"sunrgbd: split {split!r} needs SUNRGBDtoolbox/traintestSUNRGBD/allsplit.mat under {raw}")
    mat = scipy.io.loadmat(found[0])
    if SPLIT_KEYS[split] not in mat:
        raise ValueError(f"{found[0]}: no {SPLIT_KEYS[split]!r} (keys {sorted(k for k in mat if not k.startswith('__'))})")
    out = set()
    for cell in np.ravel(mat[SPLIT_KEYS[split]]):
        s = str(np.ravel(cell)[0]).rstrip("/")
        out.add(s.split("/SUNRGBD/", 1)[1] if "/SUNRGBD/" in s else s)
    return out


def read_intrinsics(path: Path) -> tuple[float, float, float, float]:
    vals = [float(v) for v in require(path, "sunrgbd intrinsics").read_text().split()]
    if len(vals) != 9:
        raise ValueError(f"{path}: expected a 3x3 matrix (9 numbers), got {len(vals)}")
    K = np.array(vals).reshape(3, 3)
    return K[0, 0], K[1, 1], K[0, 2] - 1.0, K[1, 2] - 1.0


def scene_row(root: Path, scene_dir: Path, depth_dir: str, depth_max: float, image_id: str | None = None) -> dict:
    rel = scene_dir.relative_to(root).as_posix()
    imgs = sorted((scene_dir / "image").glob("*.jpg"))
    deps = sorted((scene_dir / depth_dir).glob("*.png"))
    if len(imgs) != 1 or len(deps) != 1:
        raise ValueError(f"sunrgbd {scene_dir}: expected one image/*.jpg and one {depth_dir}/*.png, "
                         f"found {len(imgs)} and {len(deps)}")
    W, H = image_size(imgs[0])
    fx, fy, cx, cy = read_intrinsics(scene_dir / "intrinsics.txt")
    return row(image_id or rel, rel, imgs[0], W, H, fx=fx, fy=fy, cx=cx, cy=cy, depth_path=deps[0],
               depth_format="sunrgbd", depth_kind="z", depth_min=0.0, depth_max=depth_max,
               sensor=rel.split("/")[0])


@register("sunrgbd")
def load(raw: Path, split: str, depth_dir: str = "depth_bfx", include_nyu: bool = False,
         depth_max: float = 10.0):
    raw = Path(raw)
    root = find_root(raw)
    wanted = read_split(raw, split)
    rows = []
    for scene_dir in scene_dirs(root):
        rel = scene_dir.relative_to(root).as_posix()
        if not include_nyu and rel.startswith("kv1/NYUdata/"):
            continue
        if wanted is not None and rel not in wanted:
            continue
        if not (scene_dir / "intrinsics.txt").is_file():
            raise ValueError(f"sunrgbd {scene_dir}: scene without intrinsics.txt (its image/*.jpg cannot be "
                             "calibrated from metadata); restore the file or remove the scene")
        rows.append(scene_row(root, scene_dir, depth_dir, depth_max))
    return frame(rows, f"sunrgbd {root} ({split})"), None


def scene_dirs(root: Path) -> list[Path]:
    """Scene folders: those holding image/*.jpg, or an intrinsics.txt (so neither file hides one)."""
    found = {p.parent.parent for p in root.rglob("image/*.jpg")}
    found |= {p.parent for p in root.rglob("intrinsics.txt") if p.parent.name != "fullres"}
    return sorted(found)
