"""Providers that need no image: intrinsics already in the index, and a field-of-view prior."""

from __future__ import annotations

import logging
import math

from vlm3.calibrate.base import Calibrator, Intrinsics, image_centre

log = logging.getLogger("vlm3.calibrate.metadata")


def _value(row: dict, key: str, where: str) -> float | None:
    """row[key] as a float; None when unknown (missing or NaN); ValueError when +-inf."""
    v = row.get(key)
    if v is None or math.isnan(v := float(v)):
        return None
    if math.isinf(v):
        raise ValueError(f"calibrate: {where}: metadata {key} = {v} is neither a value nor unknown "
                         "(NaN marks an unknown value); fix the index")
    return v


class MetadataCalibrator(Calibrator):
    """Use the index's fx, fy, cx, cy (confidence 1).

    A known focal is never thrown away: with fx (or fy) known, a missing fy (fx) is taken equal to
    it (square pixels) and a missing cx or cy is the image centre, each with a warning. Only when
    neither focal is known does this provider return None. An infinite value, or a focal that is
    not positive, is an error naming the image: it is not unknown, and the prior must not replace it.
    """
    name = "metadata"

    def estimate(self, image, row, path=None):
        where = f"image {row.get('image_id', '?')!r} ({path or row.get('image_path', '?')})"
        fx, fy, cx, cy = (_value(row, k, where) for k in ("fx", "fy", "cx", "cy"))
        if fx is None and fy is None:
            return None
        for k, v in (("fx", fx), ("fy", fy)):
            if v is not None and v <= 0:
                raise ValueError(f"calibrate: {where}: metadata {k} = {v} is not a positive focal length; "
                                 "fix the index")
        filled = []
        if fx is None or fy is None:
            filled.append(f"{'fy' if fy is None else 'fx'} = {'fx' if fy is None else 'fy'} (square pixels)")
            fx = fy = fx if fy is None else fy
        centre = image_centre(int(row["width"]), int(row["height"]))
        if cx is None or cy is None:
            cx = centre[0] if cx is None else cx
            cy = centre[1] if cy is None else cy
            filled.append(f"principal point ({cx:g}, {cy:g}) (image centre for the unknown part)")
        if filled:
            log.warning("%s: metadata focal known but not every intrinsic; using %s", where, ", ".join(filled))
        return Intrinsics(fx, fy, cx, cy, confidence=1.0)


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
