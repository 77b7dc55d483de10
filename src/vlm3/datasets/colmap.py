"""COLMAP text models (cameras.txt, images.txt) for the loaders that read them (ETH3D).

COLMAP puts the top-left pixel's centre at (0.5, 0.5); this project puts it at (0, 0)
(docs/CONTRACTS.md), so principal points read from COLMAP are shifted by `COLMAP_PIXEL_SHIFT`.
"""

from __future__ import annotations

from pathlib import Path

from vlm3.datasets.rows import require
from vlm3.geometry.rigid import quat_to_rotation, rigid_matrix

COLMAP_PIXEL_SHIFT = -0.5


def _data_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def read_colmap_cameras(path: Path) -> dict[int, dict]:
    """COLMAP cameras.txt -> {camera_id: {model, width, height, params}}."""
    cams = {}
    for ln in _data_lines(require(path, "COLMAP cameras")):
        p = ln.split()
        cams[int(p[0])] = {"model": p[1], "width": int(p[2]), "height": int(p[3]),
                           "params": [float(v) for v in p[4:]]}
    return cams


def read_colmap_images(path: Path) -> list[dict]:
    """COLMAP images.txt -> [{image_id, name, camera_id, w2c (4x4)}].

    Each image has two lines (pose line, then its 2D points, possibly empty): the header
    `IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`, quaternion scalar-first, world-to-camera.
    """
    lines = [ln.rstrip("\n") for ln in require(path, "COLMAP images").read_text().splitlines()
             if not ln.startswith("#")]
    out = []
    for i in range(0, len(lines), 2):
        p = lines[i].split()
        if not p:
            continue
        if len(p) < 10:
            raise ValueError(f"{path}: malformed image line {lines[i]!r}")
        try:
            R = quat_to_rotation(*map(float, p[1:5]))
        except ValueError as e:
            raise ValueError(f"{path}: image {p[0]}: {e}") from None
        out.append({"image_id": int(p[0]), "name": p[9], "camera_id": int(p[8]),
                    "w2c": rigid_matrix(R, [float(v) for v in p[5:8]])})
    return out
