"""Omnidata renders (Taskonomy, HM3D, Replica, ...) as fetched by `omnitools.download` -> index.

Layout (any nesting under each domain folder, e.g. rgb/taskonomy/<building>/...):
  rgb/.../point_<p>_view_<v>_domain_rgb.png
  depth_zbuffer/.../point_<p>_view_<v>_domain_depth_zbuffer.png   uint16, m = v / 512, 65535 invalid
  point_info/.../point_<p>_view_<v>_domain_point_info.json        {"field_of_view_rads", ...}
Depth is camera z (z-buffer), reader `omnidata_png`. Intrinsics from the square renders' field of
view: f = (W / 2) / tan(fov / 2), principal point at the image centre (W - 1) / 2 in pixel-centre
coordinates. Poses are not read (depth-only training source).
scene_id = the building/scene folder name; `split` is `train` (every building) or a file
`<split>.txt` in the raw folder listing building names.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from vlm3.datasets import register
from vlm3.datasets.rows import frame, image_size, require, row


@register("omnidata")
def load(raw: Path, split: str, depth_max: float = 128.0):
    raw = Path(raw)
    lst = raw / f"{split}.txt"
    keep = set(lst.read_text().split()) if lst.exists() else None
    if keep is None and split != "train":
        raise ValueError(f"omnidata: split {split!r} needs {lst} (building names); 'train' takes all")
    rgbs = sorted(require(raw / "rgb", "omnidata").rglob("point_*_domain_rgb.png"))
    rows = []
    for img in rgbs:
        rel = img.relative_to(raw / "rgb")
        building = rel.parent.name
        if keep is not None and building not in keep:
            continue
        stem = img.name.removesuffix("_domain_rgb.png")
        dep = require(raw / "depth_zbuffer" / rel.parent / f"{stem}_domain_depth_zbuffer.png", "omnidata depth")
        info_p = require(raw / "point_info" / rel.parent / f"{stem}_domain_point_info.json", "omnidata point_info")
        try:
            fov = float(json.loads(info_p.read_text())["field_of_view_rads"])
        except (KeyError, ValueError, json.JSONDecodeError) as e:
            raise ValueError(f"{info_p}: no usable field_of_view_rads ({e})") from None
        W, H = image_size(img)
        f = (W / 2) / math.tan(fov / 2)
        rows.append(row(f"{rel.parent.as_posix()}/{stem}", building, img, W, H, fx=f, fy=f, cx=(W - 1) / 2,
                        cy=(H - 1) / 2, depth_path=dep, depth_format="omnidata_png", depth_kind="z",
                        depth_min=0.0, depth_max=depth_max))
    return frame(rows, f"omnidata {raw} ({split})"), None
