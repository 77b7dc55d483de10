"""BlendedMVS (low-res 768x576) -> index + view pairs.

Layout per scene: <scene>/blended_images/<id>.jpg (the `_masked` variants are skipped),
<scene>/rendered_depth_maps/<id>.pfm (float32 metres-like SfM units, 0 invalid, reader `pfm`),
<scene>/cams/<id>_cam.txt ("extrinsic" 4x4 world-to-camera, "intrinsic" 3x3, then depth range),
<scene>/cams/pair.txt (N, then per view: ref id, then "n id score id score ...").
Depth kind z. Pairs: pair.txt's neighbours of each view (ordered ref -> neighbour), covisibility
computed from depth and poses. BlendedMVS scenes have arbitrary scale: depth is not metric.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlm3.datasets import register
from vlm3.datasets.pairs import pair_covisibility, pairs_frame
from vlm3.datasets.rows import frame, image_size, require, row
from vlm3.geometry.rigid import invert_rigid


def read_cam(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(world-to-camera 4x4, K 3x3) of an MVSNet-style cam.txt."""
    lines = [ln.strip() for ln in require(path, "blendedmvs cam").read_text().splitlines()]
    try:
        e = lines.index("extrinsic")
        i = lines.index("intrinsic")
        w2c = np.array(" ".join(lines[e + 1:e + 5]).split(), dtype=np.float64).reshape(4, 4)
        K = np.array(" ".join(lines[i + 1:i + 4]).split(), dtype=np.float64).reshape(3, 3)
    except ValueError as err:
        raise ValueError(f"{path}: not an MVSNet cam file ({err})") from None
    return w2c, K


def read_pair(path: Path) -> list[tuple[int, int]]:
    tok = require(path, "blendedmvs pair").read_text().split()
    n, pos, out = int(tok[0]), 1, []
    for _ in range(n):
        ref, k = int(tok[pos]), int(tok[pos + 1])
        out += [(ref, int(tok[pos + 2 + 2 * j])) for j in range(k)]
        pos += 2 + 2 * k
    return out


@register("blendedmvs")
def load(raw: Path, split: str, covis_stride: int = 16, min_covisibility: float = 0.0):
    raw = Path(raw)
    lst = raw / f"{split}.txt"
    scenes = lst.read_text().split() if lst.exists() else sorted(p.parent.name for p in raw.glob("*/cams"))
    if not scenes:
        raise ValueError(f"blendedmvs: no <scene>/cams/ under {raw}")
    rows, pairs = [], []
    from vlm3.io.depth import read_depth

    for sc in scenes:
        by_id = {}
        for img in sorted((raw / sc / "blended_images").glob("*.jpg")):
            if img.stem.endswith("_masked"):
                continue
            w2c, K = read_cam(raw / sc / "cams" / f"{img.stem}_cam.txt")
            W, H = image_size(img)
            r = row(f"{sc}/{img.stem}", sc, img, W, H, fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2],
                    depth_path=require(raw / sc / "rendered_depth_maps" / f"{img.stem}.pfm", sc),
                    depth_format="pfm", depth_kind="z", depth_min=0.0, depth_max=float("inf"),
                    cam_to_world=invert_rigid(w2c))
            rows.append(r)
            by_id[int(img.stem)] = r
        depth = {i: read_depth(r["depth_path"], "pfm") for i, r in by_id.items()}
        for a, b in read_pair(raw / sc / "cams" / "pair.txt"):
            if a not in by_id or b not in by_id:
                raise ValueError(f"{raw / sc / 'cams' / 'pair.txt'}: view {a} or {b} has no image")
            ra, rb = by_id[a], by_id[b]
            c = pair_covisibility(depth[a], ra, depth[b], rb, covis_stride)
            if c >= min_covisibility:
                pairs.append((ra["image_id"], rb["image_id"], c))
    return frame(rows, f"blendedmvs {raw}"), pairs_frame(pairs)
