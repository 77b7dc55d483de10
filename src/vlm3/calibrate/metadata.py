"""Providers that need no image: intrinsics already in the index, and a field-of-view prior."""

from __future__ import annotations

import math

import numpy as np

from vlm3.calibrate.base import Calibrator, Intrinsics, image_centre


class MetadataCalibrator(Calibrator):
    """Use the index's fx, fy, cx, cy when all four are finite (confidence 1)."""
    name = "metadata"

    def estimate(self, image, row, path=None):
        vals = [row.get(k) for k in ("fx", "fy", "cx", "cy")]
        if any(v is None or not np.isfinite(v) for v in vals):
            return None
        return Intrinsics(*(float(v) for v in vals), confidence=1.0)


class PriorCalibrator(Calibrator):
    """A fixed horizontal field of view: fx = fy = (W / 2) / tan(hfov / 2), centre principal point.

    The horizontal FOV spans the full image width W (from the left edge of the first pixel to the
    right edge of the last). A last resort, recorded as source `prior` (confidence 0).
    """
    name = "prior"

    def __init__(self, fov_deg: float = 60.0):
        if not 0 < fov_deg < 180:
            raise ValueError(f"prior: fov_deg must be in (0, 180), got {fov_deg}")
        self.fov_deg = float(fov_deg)

    @property
    def cache_key(self) -> str:
        return f"prior:{self.fov_deg:g}"

    def estimate(self, image, row, path=None):
        w, h = int(row["width"]), int(row["height"])
        f = (w / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)
        cx, cy = image_centre(w, h)
        return Intrinsics(f, f, cx, cy, confidence=0.0)
