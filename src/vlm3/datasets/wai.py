"""MapAnything WAI format scenes (pose/correspondence benchmarks: ETH3D, ScanNet++, TA-WB) -> index.

Layout (map-anything data_processing/wai_processing, e.g. scripts/conversion/eth3d.py):
  <raw>/<scene>/scene_meta.json   {"scene_name", "camera_model": "PINHOLE", "camera_convention":
                                   "opencv", "scale_type": "metric", "shared_intrinsics": bool,
                                   [fl_x, fl_y, cx, cy, w, h when shared], "frames": [...]}
  frames[i]: {"frame_name", "image" or "file_path" (relative to the scene), "depth" (relative,
             .exr z-depth metres, 0 invalid), "transform_matrix" 4x4 camera-to-world (OpenCV axes),
             "fl_x", "fl_y", "cx", "cy", "w", "h"}
Only `camera_convention: opencv` and pinhole models are accepted (anything else is an error).
WAI stores pixel coordinates as given by the converter (ETH3D/ScanNet++: COLMAP's undistorted
cameras); they are kept unchanged. Depth kind: z (MapAnything's `depth`).
Split: `<raw>/<split>.txt` (scene names, one per line) when present, else every scene.
Pairs: `pairs.json` in the raw folder (`[[scene, frame_1, frame_2], ...]`, e.g. a benchmark's
view sets) when present, covisibility computed from depth; else every ordered pair within a scene
with covisibility >= min_covisibility (default 0.25, the paper's training filter).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vlm3.datasets import register
from vlm3.datasets.pairs import pair_covisibility, pairs_frame, scene_pairs
from vlm3.datasets.rows import frame, require, row

_FORMATS = {".exr": "exr", ".npy": "npy", ".png": "png_mm"}


def _meta(path: Path) -> dict:
    try:
        return json.loads(require(path, "wai").read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid json ({e})") from None


def scene_rows(raw: Path, scene: str, depth_max: float) -> list[dict]:
    mp = raw / scene / "scene_meta.json"
    meta = _meta(mp)
    conv = meta.get("camera_convention", "opencv")
    if conv != "opencv":
        raise ValueError(f"{mp}: camera_convention {conv!r}; only 'opencv' is supported")
    if meta.get("camera_model", "PINHOLE") not in ("PINHOLE", "SIMPLE_PINHOLE"):
        raise ValueError(f"{mp}: camera_model {meta.get('camera_model')!r}; undistorted pinhole expected")
    rows = []
    for fr in meta["frames"]:
        name = fr.get("frame_name") or Path(fr.get("image") or fr["file_path"]).stem
        where = f"{mp} frame {name!r}"
        try:
            fx, fy, cx, cy, w, h = (fr.get(k, meta.get(k)) for k in ("fl_x", "fl_y", "cx", "cy", "w", "h"))
            c2w = np.asarray(fr["transform_matrix"], dtype=np.float64)
        except KeyError as e:
            raise ValueError(f"{where}: missing {e}") from None
        if None in (fx, fy, cx, cy, w, h) or c2w.shape != (4, 4):
            raise ValueError(f"{where}: needs fl_x, fl_y, cx, cy, w, h and a 4x4 transform_matrix")
        depth = fr.get("depth")
        dpath = require(raw / scene / depth, where) if depth else None
        fmt = _FORMATS.get(Path(depth).suffix.lower()) if depth else None
        if depth and fmt is None:
            raise ValueError(f"{where}: unknown depth file type {depth!r}")
        rows.append(row(f"{scene}/{name}", scene, require(raw / scene / (fr.get("image") or fr["file_path"]), where),
                        w, h, fx=fx, fy=fy, cx=cx, cy=cy, depth_path=dpath, depth_format=fmt,
                        depth_kind="z" if depth else None, depth_min=0.0, depth_max=depth_max,
                        cam_to_world=c2w))
    return rows


def _depth(r: dict) -> np.ndarray:
    import vlm3.datasets.readers  # noqa: F401  (exr reader)
    from vlm3.io.depth import read_depth
    return read_depth(r["depth_path"], r["depth_format"], shape=(r["height"], r["width"]))


@register("wai")
def load(raw: Path, split: str, scenes: list[str] | None = None, depth_max: float = 200.0,
         pairs: bool = True, min_covisibility: float = 0.25, max_pairs_per_scene: int | None = None,
         seed: int = 0, covis_stride: int = 8):
    raw = Path(raw)
    lst = raw / f"{split}.txt"  # optional scene list of a split (e.g. ScanNet++ nvs_sem_val names)
    if scenes is None and lst.exists():
        scenes = lst.read_text().split()
    scenes = scenes or sorted(p.parent.name for p in raw.glob("*/scene_meta.json"))
    if not scenes:
        raise ValueError(f"wai: no <scene>/scene_meta.json under {raw}")
    images = frame([r for s in scenes for r in scene_rows(raw, s, depth_max)], f"wai {raw}")
    if not pairs:
        return images, None
    if images["depth_path"].isna().any():
        raise ValueError(f"wai {raw}: pairs need depth for covisibility; some frames have none (pairs=False?)")
    pj = raw / "pairs.json"
    if not pj.exists():
        return images, scene_pairs(images, _depth, min_covisibility, max_pairs_per_scene, seed, covis_stride)
    by_id = images.set_index("image_id", drop=False).to_dict("index")
    out, cache = [], {}
    for item in json.loads(pj.read_text()):
        scene, f1, f2 = item
        a, b = by_id.get(f"{scene}/{f1}"), by_id.get(f"{scene}/{f2}")
        if a is None or b is None:
            raise ValueError(f"{pj}: pair {item} names an unknown frame")
        for r in (a, b):
            if r["image_id"] not in cache:
                cache[r["image_id"]] = _depth(r)
        c = pair_covisibility(cache[a["image_id"]], a, cache[b["image_id"]], b, covis_stride)
        out.append((a["image_id"], b["image_id"], c))
    return images, pairs_frame(out)


@register("ufm_pairs")
def load_ufm(raw: Path, split: str, **opts):
    """UFM-protocol correspondence pairs: WAI scenes + a required `pairs.json`.

    UFM's evaluation (ETH3D, DTU, TA-WB; 8192 samples each) is not published as one file; this
    project's layout is the WAI scenes of the benchmark plus `pairs.json` ([[scene, frame_1,
    frame_2], ...]); the QA stage samples the query pixels (valid depth, visible in view 2).
    """
    if not (Path(raw) / "pairs.json").exists():
        raise ValueError(f"ufm_pairs: {Path(raw) / 'pairs.json'} not found (the benchmark's pair list)")
    return load(raw, split, pairs=True, **opts)
