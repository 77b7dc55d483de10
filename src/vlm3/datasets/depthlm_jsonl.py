"""DepthLM curated JSONL (DepthLM_Official examples/*/*.jsonl) -> index.

One record per image: `{"image": relative path, "intrinsics": [fx, fy, cx, cy, W, H],
"pixel_coords": [[x, y], ...] (integer pixel centres), "depth": [metres, ...]}`.
The sparse labels stay in the raw file: each row points `depth_path` at the JSONL itself with
`depth_format = "depthlm_points:<record index>:<kind>"`, a reader (vlm3.datasets.readers) that
returns the labelled pixels as camera-frame points, so resize/QA treat them like any sparse
depth (e.g. lidar): projecting them with the row's K gives back exactly the labelled pixels.

Depth kind: DepthLM does not say. For iBims-1 the values are exactly v * 50 / 65535 for integer v
(the PNG release's z-depth quantisation; a ray conversion would break it), so it is `z`; the kind
is a loader option (`depth_kind`, default "z") because other curated sets may differ.
"""

from __future__ import annotations

import json
from pathlib import Path

from vlm3.datasets import register
from vlm3.datasets.rows import frame, require, row


@register("depthlm_jsonl")
def load(raw: Path, split: str, jsonl: str | None = None, depth_kind: str = "z",
         depth_min: float = 0.0, depth_max: float = 80.0, scene_from: str = "stem_prefix"):
    """`jsonl`: file name inside `raw` (default `<split>.jsonl`, else the only *.jsonl there).

    scene_id: `stem_prefix` = image stem without its trailing `_NN` (corridor_01 -> corridor), so
    splits of one file never separate views of one scene; `image` = one scene per image.
    """
    if depth_kind not in ("z", "ray"):
        raise ValueError(f"depthlm_jsonl: depth_kind must be 'z' or 'ray', got {depth_kind!r}")
    raw = Path(raw)
    path = raw / jsonl if jsonl else raw / f"{split}.jsonl"
    if not jsonl and not path.exists():
        found = sorted(raw.glob("*.jsonl"))
        if len(found) != 1:
            raise ValueError(f"depthlm_jsonl: {raw} needs {split}.jsonl or exactly one *.jsonl "
                             f"(found {[p.name for p in found]})")
        path = found[0]
    require(path, "depthlm_jsonl")
    rows = []
    with open(path) as f:
        recs = [(i, ln) for i, ln in enumerate(f, 1) if ln.strip()]
    for idx, (lineno, ln) in enumerate(recs):
        where = f"{path}:{lineno}"
        try:
            r = json.loads(ln)
            fx, fy, cx, cy, W, H = r["intrinsics"]
            pix, dep = r["pixel_coords"], r["depth"]
        except (json.JSONDecodeError, KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{where}: not a DepthLM record ({e})") from None
        if len(pix) != len(dep) or not pix:
            raise ValueError(f"{where}: {len(pix)} pixel_coords but {len(dep)} depth values")
        if any(not (0 <= x < W and 0 <= y < H) for x, y in pix):
            raise ValueError(f"{where}: a pixel lies outside the {W}x{H} image")
        if any(not (d > 0) for d in dep):
            raise ValueError(f"{where}: non-positive depth label")
        img = require(raw / r["image"], where)
        stem = Path(r["image"]).stem
        head, _, tail = stem.rpartition("_")
        scene = head if scene_from == "stem_prefix" and head and tail.isdigit() else stem
        rows.append(row(stem, scene, img, W, H, fx=fx, fy=fy, cx=cx, cy=cy,
                        depth_path=path, depth_format=f"depthlm_points:{idx}:{depth_kind}",
                        depth_kind=depth_kind, depth_min=depth_min, depth_max=depth_max,
                        n_labels=len(dep)))
    return frame(rows, f"depthlm_jsonl {path}"), None
