"""The calibrator interface and the provider registry.

A calibrator estimates pinhole intrinsics for one image in the project's pixel convention
(docs/CONTRACTS.md: pixel centres at integer coordinates, the top-left pixel centre is (0, 0), so
the geometric image centre is ((W - 1) / 2, (H - 1) / 2)). Focal lengths are in pixels.
"""

from __future__ import annotations

import importlib
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels plus a confidence in [0, 1] (1 = from metadata)."""
    fx: float
    fy: float
    cx: float
    cy: float
    confidence: float = 1.0

    def __post_init__(self):
        for k in ("fx", "fy", "cx", "cy"):
            v = getattr(self, k)
            if not math.isfinite(v):
                raise ValueError(f"Intrinsics.{k} must be finite, got {v}")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"Intrinsics focal lengths must be positive, got fx={self.fx}, fy={self.fy}")


def image_centre(width: int, height: int) -> tuple[float, float]:
    """Principal point at the geometric image centre in the pixel-centre convention."""
    return (width - 1) / 2.0, (height - 1) / 2.0


class Calibrator(ABC):
    """One way to obtain intrinsics for an image.

    `name` goes into the `source` column. `needs_image` tells the stage whether to decode the
    image (RGB uint8 (H, W, 3)) before calling `estimate`; `cacheable` whether the result is
    worth storing in the per-image cache (slow providers). `cache_key` names the provider's
    settings so a change of settings never reuses a stale cache entry.
    """
    name: str = ""
    needs_image: bool = False
    cacheable: bool = False

    @property
    def cache_key(self) -> str:
        return self.name

    @abstractmethod
    def estimate(self, image: np.ndarray | None, row: dict, path: str | None = None) -> Intrinsics | None:
        """Intrinsics for the image at `path` (index `row`), or None when this provider cannot tell."""


# name -> "module:Class"; imported lazily so an optional dependency never breaks other providers.
PROVIDERS = {
    "metadata": "vlm3.calibrate.metadata:MetadataCalibrator",
    "exif": "vlm3.calibrate.exif:ExifCalibrator",
    "vanishing": "vlm3.calibrate.vanishing:VanishingCalibrator",
    "geocalib": "vlm3.calibrate.geocalib:GeoCalibCalibrator",
    "prior": "vlm3.calibrate.metadata:PriorCalibrator",
}


def get_calibrator(name: str, **opts) -> Calibrator:
    """Build the provider `name` with keyword options (ValueError for an unknown name)."""
    if name not in PROVIDERS:
        raise ValueError(f"unknown calibration provider {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    mod, cls = PROVIDERS[name].split(":")
    return getattr(importlib.import_module(mod), cls)(**opts)
