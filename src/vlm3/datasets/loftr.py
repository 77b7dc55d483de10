"""LoFTR test-pair files: ScanNet-1500 (`loftr_scannet`) and MegaDepth-1500 (`loftr_megadepth`).

ScanNet-1500 (LoFTR assets/scannet_test_1500/):
  test.npz        `name` (N, 4) ints [scene_id, sub_scene_id, frame_1, frame_2]
  intrinsics.npz  one 3x3 K per scene name `scene%04d_%02d` (of the 640x480 test images)
  <scene>/color/<frame>.jpg, <scene>/depth/<frame>.png (uint16 mm, z), <scene>/pose/<frame>.txt
  (4x4 camera-to-world, metres; LoFTR inverts it to get world-to-camera).
MegaDepth-1500 (LoFTR assets/megadepth_test_1500_scene_info/*.npz, object arrays: read by
  `vlm3.io.npz.load_npz`, whose restricted unpickler admits only numpy arrays and plain containers):
  image_paths, depth_paths (N,), intrinsics (N, 3, 3), poses (N, 4, 4) world-to-camera,
  pair_infos [((i, j), overlap_score, central_matches), ...]; depth .h5 (`megadepth_h5`, z).
  Depth paths beginning `phoenix/S6/zl548/` are made relative to the raw folder.
Pairs keep LoFTR's order; covisibility: MegaDepth's overlap score; ScanNet's is computed from
depth and poses (stride `covis_stride`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vlm3.datasets import register
from vlm3.datasets.pairs import pair_covisibility, pairs_frame
from vlm3.datasets.rows import frame, image_size, require, row
from vlm3.geometry.rigid import invert_rigid
from vlm3.io.npz import load_npz


def _npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays of a pair file; object arrays go through a restricted unpickler (no code runs)."""
    z = load_npz(require(path, "loftr pair file"))
    missing = [k for k in keys if k not in z]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing} (has {list(z.keys())})")
    return z


@register("loftr_scannet")
def load_scannet(raw: Path, split: str, covis_stride: int = 8):
    raw = Path(raw)
    names = np.asarray(_npz(raw / "test.npz", ("name",))["name"])
    if names.ndim != 2 or names.shape[1] != 4:
        raise ValueError(f"{raw / 'test.npz'}: `name` must be (N, 4), got {names.shape}")
    intr = _npz(raw / "intrinsics.npz", ())
    rows, seen, pairs = [], {}, []
    for sid, sub, f1, f2 in names.astype(np.int64):
        scene = f"scene{sid:04d}_{sub:02d}"
        if scene not in intr:
            raise ValueError(f"{raw / 'intrinsics.npz'}: no K for {scene}")
        K = np.asarray(intr[scene], dtype=np.float64).reshape(3, 3)
        ids = []
        for f in (f1, f2):
            iid = f"{scene}/{f}"
            if iid not in seen:
                img = require(raw / scene / "color" / f"{f}.jpg", "scannet1500")
                W, H = image_size(img)
                c2w = np.loadtxt(require(raw / scene / "pose" / f"{f}.txt", "scannet1500")).reshape(4, 4)
                seen[iid] = row(iid, scene, img, W, H, fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2],
                                depth_path=require(raw / scene / "depth" / f"{f}.png", "scannet1500"),
                                depth_format="png_mm", depth_kind="z", depth_min=0.0, depth_max=10.0,
                                cam_to_world=c2w)
                rows.append(seen[iid])
            ids.append(iid)
        pairs.append(ids)
    from vlm3.io.depth import read_depth

    def depth(r):
        d = read_depth(r["depth_path"], "png_mm")
        if d.shape != (r["height"], r["width"]):  # ScanNet depth is 640x480 like the test images
            d = cv2.resize(d, (r["width"], r["height"]), interpolation=cv2.INTER_NEAREST)
        return d

    cache = {}
    out = []
    for a, b in pairs:
        ra, rb = seen[a], seen[b]
        for r in (ra, rb):
            if r["image_id"] not in cache:
                cache[r["image_id"]] = depth(r)
        out.append((a, b, pair_covisibility(cache[a], ra, cache[b], rb, covis_stride)))
    return frame(rows, f"loftr_scannet {raw}"), pairs_frame(out)


@register("loftr_megadepth")
def load_megadepth(raw: Path, split: str, scene_info: list[str] | None = None):
    raw = Path(raw)
    files = [raw / n for n in scene_info] if scene_info else sorted(raw.glob("*.npz"))
    if not files:
        raise ValueError(f"loftr_megadepth: no scene-info .npz under {raw}")
    rows, seen, out = [], {}, []
    keys = ("image_paths", "depth_paths", "intrinsics", "poses", "pair_infos")
    for f in files:
        z = _npz(f, keys)
        scene = f.stem.split("_")[0]
        for info in z["pair_infos"]:
            (i, j), overlap = info[0], float(info[1])
            ids = []
            for k in (int(i), int(j)):
                ip = str(z["image_paths"][k])
                iid = f"{scene}/{Path(ip).stem}"
                if iid not in seen:
                    img = require(raw / ip, str(f))
                    W, H = image_size(img)
                    K = np.asarray(z["intrinsics"][k], dtype=np.float64)
                    dp = str(z["depth_paths"][k]).removeprefix("phoenix/S6/zl548/")
                    seen[iid] = row(iid, scene, img, W, H, fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2],
                                    depth_path=raw / dp, depth_format="megadepth_h5", depth_kind="z",
                                    depth_min=0.0, depth_max=float("inf"),
                                    cam_to_world=invert_rigid(np.asarray(z["poses"][k]).reshape(4, 4)))
                    rows.append(seen[iid])
                ids.append(iid)
            out.append((ids[0], ids[1], overlap))
    return frame(rows, f"loftr_megadepth {raw}"), pairs_frame(out)
