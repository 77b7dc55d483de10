"""ETH3D high-resolution multi-view training scenes (distorted DSLR JPGs + raw depth) -> index.

Layout per scene (multi_view_training_dslr_jpg.7z + multi_view_training_dslr_depth.7z):
  <scene>/images/dslr_images/DSC_xxxx.JPG                   6048x4032 distorted RGB
  <scene>/dslr_calibration_jpg/cameras.txt                  COLMAP THIN_PRISM_FISHEYE:
                                                            fx fy cx cy k1 k2 p1 p2 k3 k4 sx1 sy1
  <scene>/dslr_calibration_jpg/images.txt                   qw qx qy qz tx ty tz (world-to-camera)
  <scene>/ground_truth_depth/dslr_images/DSC_xxxx.JPG       raw float32 row-major HxW metres, inf invalid
Depth is camera z of the distorted image (the same pixel grid), reader `eth3d_raw`.
Intrinsics: COLMAP's pixel-centre origin is (0.5, 0.5), so cx, cy are shifted by -0.5.
Poses: cam_to_world = inverse of the images.txt world-to-camera, metres, OpenCV axes.
`scenes` picks a subset (default: every folder with dslr_calibration_jpg/).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlm3.datasets import register
from vlm3.datasets.colmap import COLMAP_PIXEL_SHIFT, read_colmap_cameras, read_colmap_images
from vlm3.datasets.pairs import scene_pairs
from vlm3.datasets.rows import frame, require, row
from vlm3.geometry.rigid import invert_rigid

TRAINING_SCENES = ("courtyard", "delivery_area", "electro", "facade", "kicker", "meadow", "office",
                   "pipes", "playground", "relief", "relief_2", "terrace", "terrains")
_PARAMS = {"THIN_PRISM_FISHEYE": ("thin_prism_fisheye", 12), "PINHOLE": ("none", 4),
           "OPENCV": ("opencv", 8), "SIMPLE_PINHOLE": ("none", 3)}


def camera_intrinsics(cam: dict, where: str) -> tuple[float, float, float, float, str, list[float]]:
    model = cam["model"]
    if model not in _PARAMS:
        raise ValueError(f"{where}: unsupported COLMAP camera model {model!r}")
    dist_model, n = _PARAMS[model]
    p = cam["params"]
    if len(p) != n:
        raise ValueError(f"{where}: {model} needs {n} parameters, got {len(p)}")
    if model == "SIMPLE_PINHOLE":
        p = [p[0], p[0], p[1], p[2]]
    return p[0], p[1], p[2] + COLMAP_PIXEL_SHIFT, p[3] + COLMAP_PIXEL_SHIFT, dist_model, list(p[4:])


@register("eth3d")
def load(raw: Path, split: str, scenes: list[str] | None = None, depth_max: float = 200.0,
         pairs: bool = False, min_covisibility: float = 0.25, max_pairs_per_scene: int | None = None,
         seed: int = 0, covis_stride: int = 32):
    raw = Path(raw)
    if scenes is None:
        scenes = sorted(p.parent.name for p in raw.glob("*/dslr_calibration_jpg"))
        if not scenes:
            raise ValueError(f"eth3d: no <scene>/dslr_calibration_jpg/ under {raw}")
    rows = []
    for scene in scenes:
        calib = raw / scene / "dslr_calibration_jpg"
        cams = read_colmap_cameras(calib / "cameras.txt")
        for im in read_colmap_images(calib / "images.txt"):
            where = f"eth3d {scene}/{im['name']}"
            if im["camera_id"] not in cams:
                raise ValueError(f"{where}: camera {im['camera_id']} missing from cameras.txt")
            cam = cams[im["camera_id"]]
            fx, fy, cx, cy, dm, dp = camera_intrinsics(cam, where)
            stem = Path(im["name"]).stem
            rows.append(row(f"{scene}/{stem}", scene, require(raw / scene / "images" / im["name"], where),
                            cam["width"], cam["height"], fx=fx, fy=fy, cx=cx, cy=cy, dist_model=dm,
                            dist_params=dp,
                            depth_path=require(raw / scene / "ground_truth_depth" / im["name"], where),
                            depth_format="eth3d_raw", depth_kind="z", depth_min=0.0, depth_max=depth_max,
                            cam_to_world=invert_rigid(im["w2c"])))
    images = frame(rows, f"eth3d {raw}")
    if not pairs:
        return images, None
    from vlm3.io.depth import read_depth

    def depth_of(r):
        # covisibility on the distorted grid with pinhole K: a coarse overlap estimate (documented)
        return read_depth(r["depth_path"], r["depth_format"], shape=(r["height"], r["width"]))

    return images, scene_pairs(images, depth_of, min_covisibility, max_pairs_per_scene, seed,
                               stride=covis_stride)


def raw_depth_bytes(depth: np.ndarray) -> bytes:
    """Bytes of an ETH3D raw depth file (float32 little-endian row-major); for fixtures and tools."""
    return np.asarray(depth, dtype="<f4").tobytes()
