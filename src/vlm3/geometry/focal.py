"""Focal-length unification: undistort, then resize so fx = fy = target (VLM3 ingredient 1).

Pipeline for an image of size W x H with intrinsics K and optional distortion `dist`:
1. Distortion present (any non-zero coefficient): remap to a pinhole camera K_u with
   fx = fy = target. Distortion coefficients act on normalised coordinates, so when the source
   focal exceeds the target the distorted image is first shrunk exactly (cv2.INTER_AREA, per-axis
   scales s0 = target / fx, target / fy, the same exact-scale resize as step 2): its K becomes
   K0 = [[target, 0, (cx + 0.5) s0x - 0.5], [0, target, (cy + 0.5) s0y - 0.5]] with the same
   coefficients. This antialiases and keeps the remap near 1:1 (ETH3D's 6048x4032 images would
   otherwise need ~35 Mpixel maps). K_u and the output size W_u x H_u cover the largest
   axis-aligned rectangle of undistorted normalised coordinates whose edges lie inside the
   (shrunk) source's undistorted border (OpenCV's alpha = 0 idea: no black borders, a little of
   the source's border is cropped), clamped to +-MAX_HALF_FOV_DEG for wide fisheyes. Maps come
   from `cv2.initUndistortRectifyMap` (opencv), `cv2.fisheye.initUndistortRectifyMap` (fisheye)
   or the exact numpy COLMAP formula (thin_prism_fisheye); `cv2.remap` (bilinear) samples them.
   Step 2 is then the identity (sx = sy = 1) and the output K is K_u.
2. Resize with per-axis scales sx = target / fx_u, sy = target / fy_u (equal unless fx != fy
   without distortion, which this step fixes exactly) to size (int(W_u sx), int(H_u sy)), the
   paper's int(W * s) (+1e-9 against float noise). `cv2.resize(img, None, fx=sx, fy=sy)` uses
   exactly those scales (checked in the tests: output pixel u' samples source (u' + 0.5) / sx - 0.5)
   and returns round(W_u sx) pixels; the extra last column/row, if any, is cropped (cropping at
   the far side does not change K). Hence the output K is exact in the pixel-centre convention:
       fx' = fy' = target, cx' = (cx_u + 0.5) sx - 0.5, cy' = (cy_u + 0.5) sy - 0.5.
   (VLM3's release scales cx by s without the half-pixel term, i.e. up to 0.5 px different.)
   Interpolation: cv2.INTER_AREA when shrinking (antialiasing), cv2.INTER_CUBIC when enlarging.
Dense depth follows the same geometric maps but is never interpolated: each output pixel takes the
value of its nearest source pixel; when that is invalid and the output pixel's footprint (when
shrinking) contains a valid source pixel, the valid one nearest to the sample position is used.
Values are copied unchanged: both z and ray depth of a 3D point are unchanged by undistortion and
resizing (the camera centre and axes stay put), so the kind is kept. Invalid = 0 in the output
(NaN/inf/<= 0 inputs are invalid). Sparse (lidar) depth should be re-projected instead: see
`vlm3.geometry.depth.sparse_depth_map`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vlm3.geometry.camera import check_K
from vlm3.geometry.distortion import check_dist, distort, undistort

MAX_HALF_FOV_DEG = 75.0  # widest undistorted half field of view kept from a fisheye
_BORDER_SAMPLES = 1024  # points per image edge used to find the undistorted border


@dataclass(frozen=True)
class FocalPlan:
    """Everything that determines the output of `unify_focal` (no pixels)."""

    K: np.ndarray  # source intrinsics
    width: int
    height: int
    dist: tuple[str, np.ndarray] | None  # validated distortion, None if none
    s0x: float  # pre-shrink of the distorted source (1.0 = none; only with distortion)
    s0y: float
    K0: np.ndarray  # intrinsics of the pre-shrunk distorted source (== K when s0 = 1)
    width0: int
    height0: int
    K_u: np.ndarray  # pinhole intrinsics after undistortion (== K without distortion)
    width_u: int
    height_u: int
    sx: float  # resize scale along x (target / fx_u; 1.0 with distortion)
    sy: float
    K_new: np.ndarray
    width_new: int
    height_new: int


def _check_target(target_focal) -> float:
    t = float(target_focal)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"target_focal must be finite and > 0, got {target_focal!r}")
    return t


def _undistorted_camera(K, W, H, model, params, target) -> tuple[np.ndarray, int, int]:
    """Pinhole K_u (fx = fy) and size covering the inner undistorted rectangle (see module doc)."""
    n = _BORDER_SAMPLES
    t = np.linspace(-0.5, W - 0.5, n)
    s = np.linspace(-0.5, H - 0.5, n)
    edges = {
        "left": np.stack([np.full(n, -0.5), s], 1),
        "right": np.stack([np.full(n, W - 0.5), s], 1),
        "top": np.stack([t, np.full(n, -0.5)], 1),
        "bottom": np.stack([t, np.full(n, H - 0.5)], 1),
    }
    lim = math.tan(math.radians(MAX_HALF_FOV_DEG))
    und = {}
    for k, px in edges.items():
        xd = np.stack([(px[:, 0] - K[0, 2]) / K[0, 0], (px[:, 1] - K[1, 2]) / K[1, 1]], 1)
        und[k] = undistort(model, params, xd)  # NaN where beyond the invertible range
    with np.errstate(invalid="ignore"):
        x_min = np.nanmax(np.r_[und["left"][:, 0], -lim])
        x_max = np.nanmin(np.r_[und["right"][:, 0], lim])
        y_min = np.nanmax(np.r_[und["top"][:, 1], -lim])
        y_max = np.nanmin(np.r_[und["bottom"][:, 1], lim])
    if not (x_min < x_max and y_min < y_max):
        raise ValueError(
            f"distortion {model} {np.asarray(params).tolist()} with K {K.tolist()} leaves no "
            "undistorted image area (principal point outside the image or invalid coefficients)"
        )
    f = target
    W_u = int(math.floor((x_max - x_min) * f + 1e-9))
    H_u = int(math.floor((y_max - y_min) * f + 1e-9))
    if W_u < 1 or H_u < 1:
        raise ValueError(f"undistorted image would be empty ({W_u}x{H_u})")
    # the left edge of pixel 0 (u = -0.5) sits at x_min: -0.5 = f x_min + cx
    K_u = np.array([[f, 0, -0.5 - f * x_min], [0, f, -0.5 - f * y_min], [0, 0, 1.0]])
    return K_u, W_u, H_u


def _scaled_K(K: np.ndarray, sx: float, sy: float, focal: float) -> np.ndarray:
    """K of an image resized by exact scales (sx, sy) = (focal / fx, focal / fy), pixel-centre
    convention; the focal is set to `focal` itself so that fx' = fy' = target bit for bit."""
    cx, cy = (K[0, 2] + 0.5) * sx - 0.5, (K[1, 2] + 0.5) * sy - 0.5
    return np.array([[focal, 0, cx], [0, focal, cy], [0, 0, 1.0]])


def plan_unify_focal(K, width, height, target_focal=1000.0, dist=None) -> FocalPlan:
    """Validate inputs and compute the geometry of `unify_focal` without touching pixels."""
    K = check_K(K)
    W, H = int(width), int(height)
    if W != width or H != height or W <= 0 or H <= 0:
        raise ValueError(f"image size must be positive integers, got {width}x{height}")
    target = _check_target(target_focal)
    d = check_dist(dist)
    s0x = s0y = 1.0
    K0, W0, H0 = K, W, H
    if d is None:
        K_u, W_u, H_u = K, W, H
    else:
        if max(K[0, 0], K[1, 1]) > target:
            s0x, s0y = target / K[0, 0], target / K[1, 1]
            K0 = _scaled_K(K, s0x, s0y, target)
            W0, H0 = int(W * s0x + 1e-9), int(H * s0y + 1e-9)
            if W0 < 1 or H0 < 1:
                raise ValueError(f"target_focal {target} shrinks the {W}x{H} image to nothing")
        K_u, W_u, H_u = _undistorted_camera(K0, W0, H0, d[0], d[1], target)
    sx, sy = target / K_u[0, 0], target / K_u[1, 1]
    W_new, H_new = int(W_u * sx + 1e-9), int(H_u * sy + 1e-9)
    if W_new < 1 or H_new < 1:
        raise ValueError(f"target_focal {target} shrinks the {W_u}x{H_u} image to nothing")
    K_new = K_u if d is not None else _scaled_K(K_u, sx, sy, target)
    return FocalPlan(K, W, H, d, s0x, s0y, K0, W0, H0, K_u, W_u, H_u, sx, sy, K_new, W_new, H_new)


def unify_focal_K(K, width, height, target_focal=1000.0, dist=None) -> tuple[np.ndarray, int, int]:
    """(new_K, new_W, new_H) that `unify_focal` produces for an image of this size, no pixels."""
    p = plan_unify_focal(K, width, height, target_focal, dist)
    return p.K_new.copy(), p.width_new, p.height_new


def unified_to_source(uv, plan: FocalPlan) -> np.ndarray:
    """Output pixel coords (N, 2) -> source (distorted, original) pixel coords (N, 2)."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    uu = np.stack([(uv[:, 0] + 0.5) / plan.sx - 0.5, (uv[:, 1] + 0.5) / plan.sy - 0.5], 1)
    if plan.dist is None:
        return uu
    K_u, K = plan.K_u, plan.K
    xy = np.stack([(uu[:, 0] - K_u[0, 2]) / K_u[0, 0], (uu[:, 1] - K_u[1, 2]) / K_u[1, 1]], 1)
    xd = distort(plan.dist[0], plan.dist[1], xy)
    # original K (not K0): the pre-shrink is exact, so both give the same source position
    return np.stack([K[0, 0] * xd[:, 0] + K[0, 2], K[1, 1] * xd[:, 1] + K[1, 2]], 1)


def source_to_unified(uv, plan: FocalPlan) -> np.ndarray:
    """Source pixel coords (N, 2) -> output pixel coords (N, 2) (e.g. to move 2D labels)."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    K, K_u = plan.K, plan.K_u
    if plan.dist is None:
        uu = uv
    else:
        xd = np.stack([(uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1]], 1)
        xy = undistort(plan.dist[0], plan.dist[1], xd)
        uu = np.stack([K_u[0, 0] * xy[:, 0] + K_u[0, 2], K_u[1, 1] * xy[:, 1] + K_u[1, 2]], 1)
    return np.stack([(uu[:, 0] + 0.5) * plan.sx - 0.5, (uu[:, 1] + 0.5) * plan.sy - 0.5], 1)


def _undistort_maps(plan: FocalPlan) -> tuple[np.ndarray, np.ndarray]:
    """float32 maps (H_u, W_u): pixel coordinates in the (pre-shrunk) distorted source image of
    every undistorted pixel centre."""
    model, params = plan.dist
    size = (plan.width_u, plan.height_u)
    if model == "opencv":
        return cv2.initUndistortRectifyMap(plan.K0, params, None, plan.K_u, size, cv2.CV_32FC1)
    if model == "fisheye":
        return cv2.fisheye.initUndistortRectifyMap(
            plan.K0, params.reshape(4, 1), np.eye(3), plan.K_u, size, cv2.CV_32FC1
        )
    # thin_prism_fisheye: OpenCV has no such model; evaluate COLMAP's formula row by row.
    K, K_u = plan.K0, plan.K_u
    xs = (np.arange(plan.width_u) - K_u[0, 2]) / K_u[0, 0]
    mx = np.empty((plan.height_u, plan.width_u), np.float32)
    my = np.empty_like(mx)
    for r in range(plan.height_u):
        y = (r - K_u[1, 2]) / K_u[1, 1]
        xd = distort(model, params, np.stack([xs, np.full_like(xs, y)], 1))
        mx[r] = K[0, 0] * xd[:, 0] + K[0, 2]
        my[r] = K[1, 1] * xd[:, 1] + K[1, 2]
    return mx, my


def _clean_depth(depth) -> np.ndarray:
    """float32 copy with every non-finite or <= 0 value set to 0."""
    d = np.array(depth, dtype=np.float32, copy=True)
    d[~(d > 0) | np.isinf(d)] = 0.0  # NaN fails d > 0
    return d


def _nearest_valid(depth: np.ndarray, ix, iy, fx, fy, radius_x, radius_y) -> np.ndarray:
    """Sample depth at integer (iy, ix); where invalid, use the valid source pixel nearest to the
    continuous sample position (fx, fy) within +-radius (the output pixel's footprint), else 0.

    Hand-written local search (numpy has no "nearest valid within a box" gather): it loops over the
    (2r + 1)^2 integer offsets of the footprint but only over the invalid samples, which is far
    cheaper than a full-image distance transform on large depth maps.
    """
    out = depth[iy, ix]
    hole = np.flatnonzero(out <= 0)
    rx, ry = int(math.floor(radius_x + 0.5)), int(math.floor(radius_y + 0.5))
    if hole.size == 0 or (rx == 0 and ry == 0):
        return out
    hx, hy = ix.ravel()[hole], iy.ravel()[hole]
    cx, cy = fx.ravel()[hole], fy.ravel()[hole]
    best = np.full(hole.size, np.inf)
    val = np.zeros(hole.size, np.float32)
    H, W = depth.shape
    for dy in range(-ry, ry + 1):
        for dx in range(-rx, rx + 1):
            qx, qy = hx + dx, hy + dy
            ok = (qx >= 0) & (qx < W) & (qy >= 0) & (qy < H)
            ok &= (np.abs(qx - cx) <= radius_x) & (np.abs(qy - cy) <= radius_y)
            v = np.where(ok, depth[np.clip(qy, 0, H - 1), np.clip(qx, 0, W - 1)], 0)
            dist = (qx - cx) ** 2 + (qy - cy) ** 2
            better = (v > 0) & (dist < best)  # strict: ties keep the first offset (deterministic)
            best[better], val[better] = dist[better], v[better]
    out = out.copy()
    out.ravel()[hole] = val
    return out


def _resize_depth(depth: np.ndarray, sx: float, sy: float, W_out: int, H_out: int) -> np.ndarray:
    """Nearest-valid resize of a depth map by exact scales (sx, sy), cropped to W_out x H_out."""
    fx = (np.arange(W_out) + 0.5) / sx - 0.5
    fy = (np.arange(H_out) + 0.5) / sy - 0.5
    ix = np.clip(np.floor(fx + 0.5).astype(np.int64), 0, depth.shape[1] - 1)
    iy = np.clip(np.floor(fy + 0.5).astype(np.int64), 0, depth.shape[0] - 1)
    FX, FY = np.meshgrid(fx, fy)
    IX, IY = np.meshgrid(ix, iy)
    return _nearest_valid(depth, IX, IY, FX, FY, 0.5 / sx, 0.5 / sy).astype(np.float32)


def _resize_image(image: np.ndarray, sx: float, sy: float, W_out: int, H_out: int) -> np.ndarray:
    """cv2.resize by exact scales (sx, sy) (output pixel u samples (u + 0.5) / sx - 0.5), cropped."""
    if sx == 1.0 and sy == 1.0:
        return image
    interp = cv2.INTER_AREA if sx * sy < 1.0 else cv2.INTER_CUBIC
    out = cv2.resize(image, None, fx=sx, fy=sy, interpolation=interp)
    if out.shape[0] < H_out or out.shape[1] < W_out:
        raise RuntimeError(f"cv2.resize returned {out.shape[:2]}, expected at least {(H_out, W_out)}")
    return out[:H_out, :W_out]


def unify_focal(image, K, target_focal=1000.0, dist=None, depth=None):
    """Undistort and resize `image` so that fx = fy = target_focal (see module doc).

    image: (H, W) or (H, W, C) array (any OpenCV dtype). K: 3x3 intrinsics of `image`.
    dist: None or (model, params), model in {"opencv", "fisheye", "thin_prism_fisheye"}.
    depth: None or dense (H, W) depth (z or ray, metres; 0/NaN/inf = invalid).
    Returns (new_image, new_K 3x3 float64, new_depth float32 with invalid = 0, or None).
    """
    img = np.asarray(image)
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0 or img.size == 0:
        raise ValueError(f"image must be a non-empty (H, W) or (H, W, C) array, got shape {img.shape}")
    H, W = img.shape[:2]
    plan = plan_unify_focal(K, W, H, target_focal, dist)
    d = None
    if depth is not None:
        d = np.asarray(depth)
        if d.shape != (H, W):
            raise ValueError(f"depth shape {d.shape} != image shape {(H, W)}")
        d = _clean_depth(d)
    if plan.dist is not None:
        W0, H0 = plan.width0, plan.height0
        img = _resize_image(img, plan.s0x, plan.s0y, W0, H0)
        if d is not None and (plan.s0x != 1.0 or plan.s0y != 1.0):
            d = _resize_depth(d, plan.s0x, plan.s0y, W0, H0)
        mx, my = _undistort_maps(plan)
        # every map point lies inside the source by construction of K_u (up to the 1024-sample
        # border estimate); REPLICATE keeps the outermost half pixel from blending with black
        img = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if d is not None:
            ix, iy = np.floor(mx + 0.5).astype(np.int64), np.floor(my + 0.5).astype(np.int64)
            inside = (ix >= 0) & (ix < W0) & (iy >= 0) & (iy < H0)
            d = np.where(inside, d[np.clip(iy, 0, H0 - 1), np.clip(ix, 0, W0 - 1)], 0).astype(np.float32)
    new_img = _resize_image(img, plan.sx, plan.sy, plan.width_new, plan.height_new)
    new_d = None
    if d is not None:
        same = plan.sx == 1.0 and plan.sy == 1.0
        new_d = d if same else _resize_depth(d, plan.sx, plan.sy, plan.width_new, plan.height_new)
    return new_img, plan.K_new.copy(), new_d
