"""Focal length from a photo's EXIF tags (read with Pillow).

Two routes, tried in order:
1. `FocalLengthIn35mmFilm` (f35, mm). The 35 mm frame is 36 x 24 mm. Convention `width`
   (default, as COLMAP/OpenMVG-style SfM tools do): the long image side maps to the 36 mm side,
   fx = f35 / 36 * max(W, H); it ignores orientation and is exact for 3:2 sensors. Convention
   `diagonal` (the CIPA crop-factor definition): the image diagonal maps to the 43.27 mm frame
   diagonal, fx = f35 / 43.2666 * sqrt(W^2 + H^2). The two agree for 3:2 images and differ by
   4 % for 4:3 images (diagonal gives the larger focal).
2. `FocalLength` (mm) with the sensor's pixel density: `FocalPlaneXResolution` pixels per
   `FocalPlaneResolutionUnit` (2 inch, 3 cm, 4 mm, 5 um), rescaled by stored width /
   `PixelXDimension` when the photo was resized after capture; or a caller-supplied sensor width
   in mm keyed by "Make Model" (fx = f_mm / sensor_width_mm * stored width).
Pixels are assumed square (fy = fx); the principal point is the image centre.
"""

from __future__ import annotations

import math

from PIL import Image, UnidentifiedImageError

from vlm3.calibrate.base import Calibrator, Intrinsics, image_centre

EXIF_IFD = 0x8769
TAG_MAKE, TAG_MODEL = 0x010F, 0x0110
TAG_FOCAL = 0x920A                 # FocalLength, mm
TAG_FOCAL35 = 0xA405               # FocalLengthIn35mmFilm, mm
TAG_FPXRES, TAG_FPUNIT = 0xA20E, 0xA210
TAG_PIXX = 0xA002                  # PixelXDimension
UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}
FRAME_DIAG_MM = math.hypot(36.0, 24.0)


def focal_from_35mm(f35: float, width: int, height: int, convention: str = "width") -> float:
    """Focal length in pixels from a 35 mm-equivalent focal length (see module docstring)."""
    if convention == "width":
        return f35 / 36.0 * max(width, height)
    if convention == "diagonal":
        return f35 / FRAME_DIAG_MM * math.hypot(width, height)
    raise ValueError(f"exif: convention must be 'width' or 'diagonal', got {convention!r}")


def _num(v) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x if math.isfinite(x) and x > 0 else None


class ExifCalibrator(Calibrator):
    name = "exif"
    cacheable = True

    def __init__(self, convention: str = "width", sensor_widths_mm: dict[str, float] | None = None):
        focal_from_35mm(1.0, 1, 1, convention)  # validates the name
        self.convention = convention
        self.sensor_widths_mm = dict(sensor_widths_mm or {})

    @property
    def cache_key(self) -> str:
        sw = ",".join(f"{k}={v:g}" for k, v in sorted(self.sensor_widths_mm.items()))
        return f"exif:{self.convention}:{sw}"

    def estimate(self, image, row, path=None):
        if path is None:
            raise ValueError("exif: needs the image path")
        try:
            with Image.open(path) as im:
                stored_w, stored_h = im.size
                ifd0 = im.getexif()
                exif = dict(ifd0.get_ifd(EXIF_IFD))
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"exif: cannot open image {path}: {e}") from None
        w, h = int(row["width"]), int(row["height"])
        if max(w, h) != max(stored_w, stored_h) or min(w, h) != min(stored_w, stored_h):
            raise ValueError(f"exif: image {path} is {stored_w}x{stored_h} but the index says {w}x{h}")
        cx, cy = image_centre(w, h)
        f35 = _num(exif.get(TAG_FOCAL35))
        if f35 is not None:
            f = focal_from_35mm(f35, stored_w, stored_h, self.convention)
            return Intrinsics(f, f, cx, cy, confidence=0.8)
        f_mm = _num(exif.get(TAG_FOCAL))
        if f_mm is None:
            return None
        res, unit = _num(exif.get(TAG_FPXRES)), exif.get(TAG_FPUNIT, 2)
        if res is not None and unit in UNIT_MM:
            px_per_mm = res / UNIT_MM[unit]
            pix_x = _num(exif.get(TAG_PIXX))
            scale = stored_w / pix_x if pix_x else 1.0
            f = f_mm * px_per_mm * scale
            return Intrinsics(f, f, cx, cy, confidence=0.7)
        model = f"{ifd0.get(TAG_MAKE, '')} {ifd0.get(TAG_MODEL, '')}".strip()
        sw = self.sensor_widths_mm.get(model)
        if sw:
            f = f_mm / sw * stored_w
            return Intrinsics(f, f, cx, cy, confidence=0.7)
        return None
