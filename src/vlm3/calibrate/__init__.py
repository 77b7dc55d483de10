"""Stage `calibrate`: give every index row intrinsics (metadata, EXIF, GeoCalib, vanishing points, prior).

Providers implement `vlm3.calibrate.base.Calibrator`; `get_calibrator(name, **opts)` builds one.
"""

from vlm3.calibrate.base import PROVIDERS, Calibrator, Intrinsics, get_calibrator

__all__ = ["Calibrator", "Intrinsics", "get_calibrator", "PROVIDERS"]
