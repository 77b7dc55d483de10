"""Lens distortion models on normalised camera coordinates (numpy, forward and inverse).

A 3D point (X, Y, Z) has pinhole normalised coordinates (x, y) = (X / Z, Y / Z). `distort` maps
them to distorted normalised coordinates (xd, yd); the pixel is (fx * xd + cx, fy * yd + cy).
Parameter orders (docs/CONTRACTS.md):
  * "opencv" (k1 k2 p1 p2 [k3 [k4 k5 k6]]): OpenCV's rational Brown-Conrady model,
      r2 = x^2 + y^2, a = (1 + k1 r2 + k2 r2^2 + k3 r2^3) / (1 + k4 r2 + k5 r2^2 + k6 r2^3),
      xd = x a + 2 p1 x y + p2 (r2 + 2 x^2), yd = y a + p1 (r2 + 2 y^2) + 2 p2 x y.
  * "fisheye" (k1 k2 k3 k4): OpenCV's equidistant Kannala-Brandt model,
      r = |(x, y)|, t = atan(r), td = t (1 + k1 t^2 + k2 t^4 + k3 t^6 + k4 t^8), (xd, yd) = td / r (x, y).
  * "thin_prism_fisheye" (k1 k2 p1 p2 k3 k4 sx1 sy1): COLMAP's THIN_PRISM_FISHEYE (ETH3D):
      (u, v) = atan(r) / r (x, y), r2 = u^2 + v^2, radial = k1 r2 + k2 r2^2 + k3 r2^3 + k4 r2^4,
      xd = u + u radial + 2 p1 u v + p2 (r2 + 2 u^2) + sx1 r2,
      yd = v + v radial + 2 p2 u v + p1 (r2 + 2 v^2) + sy1 r2,
    transcribed from COLMAP src/colmap/sensor/models.h (ThinPrismFisheyeCameraModel::ImgFromCam and
    ::Distortion). This is the exact model, not an approximation through an OpenCV model.
    NOTE: COLMAP puts the centre of the top-left pixel at (0.5, 0.5); subtract 0.5 from COLMAP's
    cx, cy to get this project's pixel-centre convention (the loader's job).
OpenCV evaluates the first two itself (`cv2.initUndistortRectifyMap`, `cv2.fisheye.*`, used by
`vlm3.geometry.focal`); the numpy versions here serve the thin-prism model, border analysis and
tests (which check them against OpenCV). `undistort` inverts `distort` by Newton's method, because
neither OpenCV nor numpy offers an inverse for COLMAP's model.
"""

from __future__ import annotations

import numpy as np

# Accepted parameter counts per model.
DIST_MODELS: dict[str, tuple[int, ...]] = {
    "opencv": (4, 5, 8),
    "fisheye": (4,),
    "thin_prism_fisheye": (8,),
}


def check_dist(dist) -> tuple[str, np.ndarray] | None:
    """Validate `dist` = None or (model, params); returns None when there is no distortion.

    `("none", [])` and all-zero parameters count as no distortion.
    """
    if dist is None:
        return None
    try:
        model, params = dist
    except (TypeError, ValueError):
        raise ValueError(f"dist must be None or (model, params), got {dist!r}") from None
    model = str(model)
    p = np.asarray(params if params is not None else [], dtype=np.float64).reshape(-1)
    if model == "none":
        if p.size:
            raise ValueError(f"dist model 'none' takes no parameters, got {p.tolist()}")
        return None
    if model not in DIST_MODELS:
        raise ValueError(f"unknown dist model {model!r}; expected one of {sorted(DIST_MODELS)} or 'none'")
    if p.size not in DIST_MODELS[model]:
        raise ValueError(f"dist model {model!r} takes {DIST_MODELS[model]} parameters, got {p.size}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"dist parameters must be finite, got {p.tolist()}")
    if not np.any(p):
        return None
    return model, p


def _fisheye_angle_scale(x, y):
    """atan(r) / r with its limit 1 at r = 0."""
    r = np.hypot(x, y)
    safe = np.where(r > 1e-12, r, 1.0)
    return np.where(r > 1e-12, np.arctan(r) / safe, 1.0)


def distort(model: str, params, xy) -> np.ndarray:
    """Pinhole normalised (N, 2) -> distorted normalised (N, 2) under `model` (see module doc)."""
    p = np.asarray(params, dtype=np.float64)
    xy = np.asarray(xy, dtype=np.float64)
    x, y = xy[..., 0], xy[..., 1]
    if model == "opencv":
        k = np.zeros(8)
        k[: p.size] = p
        k1, k2, p1, p2, k3, k4, k5, k6 = k
        r2 = x * x + y * y
        a = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xd = x * a + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * a + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    elif model == "fisheye":
        k1, k2, k3, k4 = p
        s = _fisheye_angle_scale(x, y)
        t2 = (s * x) ** 2 + (s * y) ** 2  # theta^2
        g = 1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))
        xd, yd = s * x * g, s * y * g
    elif model == "thin_prism_fisheye":
        k1, k2, p1, p2, k3, k4, sx1, sy1 = p
        s = _fisheye_angle_scale(x, y)
        u, v = s * x, s * y
        r2 = u * u + v * v
        radial = r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4)))
        xd = u + u * radial + 2 * p1 * u * v + p2 * (r2 + 2 * u * u) + sx1 * r2
        yd = v + v * radial + 2 * p2 * u * v + p1 * (r2 + 2 * v * v) + sy1 * r2
    else:
        raise ValueError(f"unknown dist model {model!r}")
    return np.stack([xd, yd], axis=-1)


def undistort(model: str, params, xyd, iters: int = 50, tol: float = 1e-12) -> np.ndarray:
    """Distorted normalised (N, 2) -> pinhole normalised (N, 2), inverting `distort`.

    Damped Newton iterations with a central-difference Jacobian, started at the distorted point
    (fisheye models: at tan(|xd|) xd / |xd|, exact when all coefficients are 0). Points that do not
    converge (outside the model's invertible range, e.g. fisheye angles >= 90 deg) come back NaN.
    """
    xyd = np.asarray(xyd, dtype=np.float64).reshape(-1, 2)
    x = xyd.copy()
    if model in ("fisheye", "thin_prism_fisheye"):
        r = np.hypot(x[:, 0], x[:, 1])
        scale = np.where(r > 1e-12, np.tan(np.minimum(r, 1.5)) / np.where(r > 1e-12, r, 1), 1.0)
        x = x * scale[:, None]
    h = 1e-7
    for _ in range(iters):
        f = distort(model, params, x) - xyd
        if np.all(np.abs(f) < tol):
            break
        jx = (distort(model, params, x + [h, 0]) - distort(model, params, x - [h, 0])) / (2 * h)
        jy = (distort(model, params, x + [0, h]) - distort(model, params, x - [0, h])) / (2 * h)
        a, b, c, d = jx[:, 0], jy[:, 0], jx[:, 1], jy[:, 1]
        det = a * d - b * c
        det = np.where(np.abs(det) > 1e-15, det, np.nan)
        step = np.stack([(d * f[:, 0] - b * f[:, 1]) / det, (a * f[:, 1] - c * f[:, 0]) / det], axis=1)
        # damp steps so iterates cannot jump across the model's singularities
        n = np.linalg.norm(step, axis=1, keepdims=True)
        step = np.where(n > 0.5, step * 0.5 / np.maximum(n, 1e-300), step)
        x = x - step
    bad = ~np.all(np.abs(distort(model, params, x) - xyd) < 1e-8, axis=1)
    x[bad] = np.nan
    return x
