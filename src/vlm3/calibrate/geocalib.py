"""Single-image calibration with GeoCalib (Veicht et al., ECCV 2024; github.com/cvg/GeoCalib).

Real call path (geocalib/extractor.py of cvg/GeoCalib):
    from geocalib import GeoCalib
    model = GeoCalib(weights="pinhole")          # downloads the checkpoint via torch.hub once
    result = model.calibrate(img)                # img: float tensor (3, H, W) RGB in [0, 1]
    K = result["camera"].K                       # (1, 3, 3) pixels; camera.f = (1, 2) (fx, fy)
GeoCalib's pinhole model fixes the principal point at (w / 2, h / 2), i.e. the image centre in a
pixel-corner convention; we report the image centre in ours ((W - 1) / 2, (H - 1) / 2) and take
GeoCalib's focal lengths unchanged. `focal_uncertainty` (pixels), when given, sets the confidence.

GeoCalib is not a dependency of the project (it needs its own environment and a weight download):
    pip install "geocalib @ git+https://github.com/cvg/GeoCalib"
It is imported only when this provider is used.
"""

from __future__ import annotations

import importlib

import numpy as np

from vlm3.calibrate.base import Calibrator, Intrinsics, image_centre

INSTALL = 'pip install "geocalib @ git+https://github.com/cvg/GeoCalib"'


def _import_geocalib():
    try:
        return importlib.import_module("geocalib")
    except ImportError as e:
        raise ValueError(f"calibration provider 'geocalib' needs the GeoCalib package, which is not "
                         f"installed ({e}). Install it with: {INSTALL}") from None


class GeoCalibCalibrator(Calibrator):
    name = "geocalib"
    needs_image = True
    cacheable = True

    def __init__(self, weights: str = "pinhole", device: str | None = None):
        self.weights = weights
        self.device = device
        self._model = None

    @property
    def cache_key(self) -> str:
        return f"geocalib:{self.weights}"

    def _load(self):
        if self._model is None:
            import torch
            mod = _import_geocalib()
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._model = mod.GeoCalib(weights=self.weights).to(device)
            self._device = device
        return self._model

    def estimate(self, image, row, path=None):
        import torch
        if image is None or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"geocalib: expected an RGB (H, W, 3) image for {path}")
        model = self._load()
        img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0
        result = model.calibrate(img.to(self._device))
        f = result["camera"].f.reshape(-1).detach().cpu().numpy().astype(float)
        if f.size < 2 or not np.all(np.isfinite(f[:2])) or np.any(f[:2] <= 0):
            return None
        h, w = image.shape[:2]
        cx, cy = image_centre(w, h)
        conf = 0.5
        unc = result.get("focal_uncertainty")
        if unc is not None:
            u = float(torch.as_tensor(unc).reshape(-1)[0])
            if np.isfinite(u):
                conf = float(1.0 / (1.0 + u / f[1]))  # relative focal uncertainty -> (0, 1]
        return Intrinsics(float(f[0]), float(f[1]), cx, cy, confidence=conf)
