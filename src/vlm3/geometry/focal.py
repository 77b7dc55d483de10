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
   Interpolation: cv2.INTER_CUBIC when enlarging; when shrinking by s >= BILINEAR_MIN_SCALE (0.5)
   a 3-tap antialiasing prefilter + cv2.INTER_LINEAR (at least as antialiased as INTER_AREA over
   the aliasing band, see `antialias_tap`; ~3x cheaper), below 0.5 cv2.INTER_AREA.
Pixels (what the geometry above does not fix): with distortion and a pre-shrink s0 >= 0.5 the
pre-shrink and the undistortion are fused into ONE bilinear remap straight from the original
image (prefiltered as above; the composed map output -> original source is exact, see
`unified_to_source`); for s0 < 0.5 the exact INTER_AREA pre-shrink is kept before the remap.
Remap maps are fixed-point (1/32 px). Plans, maps and depth tables are cached per camera
(`functools.lru_cache` on K, size, target and distortion; `cache=False` rebuilds them, same bytes).
Dense depth follows the same geometric maps but is never interpolated: each output pixel takes the
value of its nearest source pixel, sampled in one step at the exact composed source position (no
pre-shrink of depth); when that is invalid and the output pixel's footprint (+-0.5 / s source px
when shrinking; with distortion the pre-shrink's +-0.5 / s0) contains a valid source pixel, the
valid one nearest to the sample position is used.
Values are copied unchanged: both z and ray depth of a 3D point are unchanged by undistortion and
resizing (the camera centre and axes stay put), so the kind is kept. Invalid = 0 in the output
(NaN/inf/<= 0 inputs are invalid). Sparse (lidar) depth should be re-projected instead: see
`vlm3.geometry.depth.sparse_depth_map`.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
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


def _camera_key(K, width, height, target_focal, dist) -> tuple:
    """Validated, hashable key of everything that determines a plan (cache key per camera)."""
    K = check_K(K)
    W, H = int(width), int(height)
    if W != width or H != height or W <= 0 or H <= 0:
        raise ValueError(f"image size must be positive integers, got {width}x{height}")
    target = _check_target(target_focal)
    d = check_dist(dist)
    dkey = None if d is None else (d[0], tuple(float(x) for x in d[1]))
    return tuple(float(x) for x in K.ravel()), W, H, target, dkey


def plan_unify_focal(K, width, height, target_focal=1000.0, dist=None) -> FocalPlan:
    """Validate inputs and compute the geometry of `unify_focal` without touching pixels.

    Plans are cached per camera (`functools.lru_cache` on K, size, target, distortion): images of
    one camera share one plan, whose arrays are read-only.
    """
    return _plan_cached(_camera_key(K, width, height, target_focal, dist))


@functools.lru_cache(maxsize=64)
def _plan_cached(key: tuple) -> FocalPlan:
    plan = _plan_uncached(key)
    for f in ("K", "K0", "K_u", "K_new"):
        getattr(plan, f).setflags(write=False)
    if plan.dist is not None:
        plan.dist[1].setflags(write=False)
    return plan


def _plan_uncached(key: tuple) -> FocalPlan:
    Kt, W, H, target, dkey = key
    K = np.array(Kt, dtype=np.float64).reshape(3, 3)
    d = None if dkey is None else (dkey[0], np.array(dkey[1], dtype=np.float64))
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


def _undistort_maps(plan: FocalPlan, source_K: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """float32 maps (H_u, W_u): pixel coordinates of every undistorted pixel centre in the
    distorted source whose intrinsics are `source_K` (default the pre-shrunk source's K0; pass
    plan.K for the original, full-resolution source)."""
    model, params = plan.dist
    K = plan.K0 if source_K is None else source_K
    size = (plan.width_u, plan.height_u)
    if model == "opencv":
        return cv2.initUndistortRectifyMap(K, params, None, plan.K_u, size, cv2.CV_32FC1)
    if model == "fisheye":
        return cv2.fisheye.initUndistortRectifyMap(
            K, params.reshape(4, 1), np.eye(3), plan.K_u, size, cv2.CV_32FC1
        )
    # thin_prism_fisheye: OpenCV has no such model; evaluate COLMAP's formula row by row.
    K_u = plan.K_u
    xs = (np.arange(plan.width_u) - K_u[0, 2]) / K_u[0, 0]
    mx = np.empty((plan.height_u, plan.width_u), np.float32)
    my = np.empty_like(mx)
    for r in range(plan.height_u):
        y = (r - K_u[1, 2]) / K_u[1, 1]
        xd = distort(model, params, np.stack([xs, np.full_like(xs, y)], 1))
        mx[r] = K[0, 0] * xd[:, 0] + K[0, 2]
        my[r] = K[1, 1] * xd[:, 1] + K[1, 2]
    return mx, my


# Antialiasing of a shrink by s in [BILINEAR_MIN_SCALE, 1) without cv2.INTER_AREA (whose generic
# non-integer path costs ~6x a bilinear resize): a 3-tap prefilter [a, 1 - 2a, a] per axis, then
# bilinear sampling. In the pixel-box model INTER_AREA's response is sinc(f) sinc(f / s)
# (f in cycles / source px), bilinear's sinc(f)^2 and the prefilter's 1 - 4 a sin^2(pi f); `a`
# is the smallest value (0.005 steps, + 0.005 margin) for which prefilter x bilinear passes no
# more than INTER_AREA anywhere in the aliasing band [s / 2, 1 / 2]. In the pass band the two
# differ by < 0.06 (prefilter x bilinear is a little softer). Below 0.5 an exact INTER_AREA resize
# (pre-shrink) is used, as before.
BILINEAR_MIN_SCALE = 0.5


@functools.lru_cache(maxsize=256)
def antialias_tap(scale: float) -> float:
    """Outer tap `a` of the [a, 1 - 2a, a] prefilter for a bilinear shrink by `scale` (see above);
    0 for scale >= 1."""
    if scale >= 1.0:
        return 0.0
    if scale < BILINEAR_MIN_SCALE:
        raise ValueError(f"scale {scale} < {BILINEAR_MIN_SCALE}: use INTER_AREA")
    f = np.linspace(scale / 2, 0.5, 1001)
    area = np.sinc(f) * np.abs(np.sinc(f / scale))
    for a in np.arange(0.0, 0.2501, 0.005):
        if np.all(np.abs(1 - 4 * a * np.sin(np.pi * f) ** 2) * np.sinc(f) ** 2 <= area + 1e-12):
            return float(min(a + 0.005, 0.25))
    return 0.25


def _prefilter(image: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """The [a, 1 - 2a, a] antialiasing prefilter per axis (replicated border), or the image."""
    ax, ay = antialias_tap(sx), antialias_tap(sy)
    if ax == 0 and ay == 0:
        return image
    kx = np.array([ax, 1 - 2 * ax, ax], np.float32)
    ky = np.array([ay, 1 - 2 * ay, ay], np.float32)
    return cv2.sepFilter2D(image, -1, kx, ky, borderType=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class _Tables:
    """Per-camera resampling tables of `unify_focal` (cached; arrays read-only).

    Image: `pre` = exact INTER_AREA pre-shrink (scales s0x, s0y) before the remap, or none;
    `m1, m2` = fixed-point `cv2.remap` maps (CV_16SC2 + CV_16UC1, 1/32 px) from output pixels into
    the (pre-shrunk) distorted source, None without distortion (`cv2.resize` does the work).
    Depth: always sampled from the ORIGINAL full-resolution source in one step, at the exact
    composed position (no pre-shrink of depth): `fx, fy` = continuous source coordinates of every
    output pixel (1-D per axis without distortion, 2-D float32 maps with distortion), `ix, iy`
    their nearest pixels (floor(x + 0.5), clamped to the image when at most 0.5 px beyond its
    border, else -1 = outside), `rx, ry` = footprint half-widths in source px searched for a
    valid pixel when the nearest one is invalid (searched when a rounded half-width is >= 1).
    With distortion `nflat` = flat source index iy * W + ix of every output pixel (intp, for one
    `np.take` gather; 0 where outside) and `outside` = flat output indices with no nearest pixel
    (usually none; their depth is 0). Candidate order of the hole search (second image of a
    camera on): `order` (n_ranks, n_out) uint8 codes, rank-major so that one rank is a contiguous
    row, and `delta` (256,) intp = flat source offset dy * W + dx of each code, 0 for "no more".
    """

    pre: bool
    m1: np.ndarray | None
    m2: np.ndarray | None
    separable: bool
    fx: np.ndarray
    fy: np.ndarray
    ix: np.ndarray
    iy: np.ndarray
    rx: float
    ry: float
    nflat: np.ndarray | None = None  # flat nearest source index per output pixel, with distortion
    outside: np.ndarray | None = None  # flat output indices without a nearest source pixel
    order: np.ndarray | None = None  # footprint candidates per rank and output pixel, see _search_order
    delta: np.ndarray | None = None  # flat source offset of each candidate code

    @property
    def search(self) -> bool:
        return math.floor(self.rx + 0.5) > 0 or math.floor(self.ry + 0.5) > 0


def _nearest_index(f: np.ndarray, n: int) -> np.ndarray:
    """int32 nearest pixel floor(f + 0.5); positions within half a pixel beyond the image's area
    ([-1, n]) clamp to the edge pixel (as the image's BORDER_REPLICATE), farther ones are -1."""
    i = np.floor(f + 0.5)
    out = (i < -1) | (i > n) | ~np.isfinite(i)
    i = np.clip(np.nan_to_num(i, nan=-1.0), 0, n - 1).astype(np.int32)
    i[out] = -1
    return i


def _build_tables(plan: FocalPlan) -> _Tables:
    """Resampling tables of one camera (without the candidate order, see `_tables`)."""
    W, H = plan.width, plan.height
    if plan.dist is None:
        fx = (np.arange(plan.width_new) + 0.5) / plan.sx - 0.5
        fy = (np.arange(plan.height_new) + 0.5) / plan.sy - 0.5
        # the footprint of an output pixel: +-0.5 / s source px (searched only where its rounded
        # half-width reaches a neighbour, i.e. when shrinking along some axis)
        rx, ry = (0.0, 0.0) if plan.sx == plan.sy == 1.0 else (0.5 / plan.sx, 0.5 / plan.sy)
        ix, iy = _nearest_index(fx, W), _nearest_index(fy, H)
        out = np.flatnonzero((iy[:, None] < 0) | (ix[None, :] < 0))  # none for a plain resize
        t = _Tables(False, None, None, True, fx, fy, ix, iy, rx, ry, None, out)
    else:
        pre = min(plan.s0x, plan.s0y) < BILINEAR_MIN_SCALE
        mx, my = _undistort_maps(plan, plan.K)  # exact composed map into the original source
        if pre:  # image: exact INTER_AREA pre-shrink, then remap from the shrunk image (K0); its
            # pixel u0 is original pixel (u0 + 0.5) / s0 - 0.5, so its map follows from the composed one
            m1, m2 = cv2.convertMaps(((mx + 0.5) * plan.s0x - 0.5).astype(np.float32),
                                     ((my + 0.5) * plan.s0y - 0.5).astype(np.float32), cv2.CV_16SC2)
        else:  # prefilter + one bilinear remap straight from the original (see antialias_tap)
            m1, m2 = cv2.convertMaps(mx, my, cv2.CV_16SC2)
        # footprint of the pre-shrink (the remap after it is near 1:1 and samples nearest only)
        rx, ry = (0.0, 0.0) if plan.s0x == plan.s0y == 1.0 else (0.5 / plan.s0x, 0.5 / plan.s0y)
        ix, iy = _nearest_index(mx, W), _nearest_index(my, H)
        out = np.flatnonzero(np.minimum(ix, iy) < 0)  # -1 = outside along some axis
        nflat = iy.astype(np.intp).ravel()
        nflat *= W
        nflat += ix.ravel()
        nflat[out] = 0
        t = _Tables(pre, m1, m2, False, mx, my, ix, iy, rx, ry, nflat, out)
    for a in (t.m1, t.m2, t.fx, t.fy, t.ix, t.iy, t.nflat, t.outside, t.order, t.delta):
        if a is not None:
            a.setflags(write=False)
    return t


@functools.lru_cache(maxsize=4)  # ~35 MB per 1 Mpx output camera; rows come grouped by camera
def _tables_cached(key: tuple) -> _Tables:
    return _build_tables(_plan_cached(key))


def _footprint_candidates(hx, hy, cx, cy, t: _Tables, W: int, H: int):
    """Candidate source pixels of output pixels with nearest pixel (hx, hy) and continuous sample
    position (cx, cy): the integer offsets |dx| <= round(rx), |dy| <= round(ry) in row-major
    (dy, dx) order. Returns (qx, qy, d2), each (n, n_offsets); d2 = squared distance to the
    sample position, inf where the candidate is outside the image or the footprint."""
    kx, ky = int(math.floor(t.rx + 0.5)), int(math.floor(t.ry + 0.5))
    dy, dx = np.mgrid[-ky : ky + 1, -kx : kx + 1]
    qx = hx[:, None] + dx.ravel()[None, :].astype(np.int32)
    qy = hy[:, None] + dy.ravel()[None, :].astype(np.int32)
    ex, ey = qx - cx[:, None], qy - cy[:, None]
    ok = (qx >= 0) & (qx < W) & (qy >= 0) & (qy < H) & (np.abs(ex) <= t.rx) & (np.abs(ey) <= t.ry)
    return qx, qy, np.where(ok, ex * ex + ey * ey, np.inf)


def _positions(t: _Tables, idx: np.ndarray, width_out: int):
    """(hx, hy, cx, cy) of the output pixels with flat indices `idx` (cx, cy in float64)."""
    if t.separable:
        r_, c_ = np.divmod(idx, width_out)
        return t.ix[c_], t.iy[r_], t.fx[c_], t.fy[r_]
    return (t.ix.ravel()[idx], t.iy.ravel()[idx],
            t.fx.ravel()[idx].astype(np.float64), t.fy.ravel()[idx].astype(np.float64))


_ORDER_MAX_BYTES = 256 << 20  # above this the per-camera candidate order is not stored
_NO_CANDIDATE = 255


def _search_order(t: _Tables, W: int, H: int, shape_out: tuple[int, int]):
    """Per-camera table (n_ranks, n_out) uint8: each output pixel's footprint candidates as codes
    into the row-major (dy, dx) offsets, nearest first (stable sort: ties keep the row-major
    offset order), 255 = no more; the (0, 0) offset, the nearest pixel, is left out (it is the
    invalid pixel that makes a hole). Also returns `delta` (256,) intp: the flat source offset
    dy * W + dx of each code, 0 for 255 (which thus points at the invalid nearest pixel itself).
    (None, None) when there is no search or the table would be too big."""
    kx, ky = int(math.floor(t.rx + 0.5)), int(math.floor(t.ry + 0.5))
    n_off = (2 * kx + 1) * (2 * ky + 1)
    n = shape_out[0] * shape_out[1]
    if (kx == 0 and ky == 0) or n_off >= _NO_CANDIDATE or n * n_off > _ORDER_MAX_BYTES:
        return None, None
    dy, dx = np.mgrid[-ky : ky + 1, -kx : kx + 1]
    offsets = np.stack([dx.ravel(), dy.ravel()], 1).astype(np.int32)
    order = np.full((n, n_off), _NO_CANDIDATE, np.uint8)
    centre = int(np.flatnonzero((offsets == 0).all(axis=1))[0])
    n_cand = 0
    for lo in range(0, n, 1 << 16):  # chunks bound the temporary (chunk, n_off) float arrays
        idx = np.arange(lo, min(n, lo + (1 << 16)))
        hx, hy, cx, cy = _positions(t, idx, shape_out[1])
        _, _, d2 = _footprint_candidates(hx, hy, cx, cy, t, W, H)
        d2[(hx < 0) | (hy < 0)] = np.inf  # outside the source: no search (as the fallback)
        d2[:, centre] = np.inf  # the nearest pixel itself: invalid for every hole by definition
        o = np.argsort(d2, axis=1, kind="stable")
        fin = np.isfinite(np.take_along_axis(d2, o, axis=1))
        order[idx] = np.where(fin, o, _NO_CANDIDATE)
        n_cand = max(n_cand, int(fin.sum(axis=1).max()))
    delta = np.zeros(256, np.intp)
    delta[: len(offsets)] = offsets[:, 1].astype(np.intp) * W + offsets[:, 0]
    return np.ascontiguousarray(order[:, : max(n_cand, 1)].T), delta


def _nearest_valid_fill(depth: np.ndarray, out: np.ndarray, hole: np.ndarray, t: _Tables) -> None:
    """In place: every output pixel in `hole` (flat indices; its nearest source pixel is invalid,
    none is outside the source) takes the valid source pixel nearest to its continuous sample
    position within the footprint |dx| <= rx, |dy| <= ry (squared Euclidean distance; ties keep
    the first offset in row-major (dy, dx) order), else 0.

    Hand-written (numpy/OpenCV have no "nearest valid within a box" gather). With the camera's
    cached candidate order (`t.order`) it walks the candidates rank by rank with 1-D `take`s
    (no boolean indexing) over the holes that are still unresolved AND have a further candidate
    (most resolve at rank 1, and with a footprint barely wider than a pixel most holes have no
    candidate at all), so the cost scales with the holes; without the table it evaluates all
    candidates of every hole at once (same result).
    """
    H, W = depth.shape
    flat_d, flat_o = depth.ravel(), out.ravel()
    if t.order is not None:
        if t.separable:
            r_, c_ = np.divmod(hole, out.shape[1])
            q0 = t.iy.take(r_).astype(np.intp) * W + t.ix.take(c_)
        else:
            q0 = t.nflat.take(hole)
        h = hole
        for rank in t.order:
            code = rank.take(h)
            v = flat_d.take(q0 + t.delta.take(code))  # code 255: delta 0, the invalid nearest pixel
            ok = v > 0
            ok &= v < np.inf  # NaN fails both
            flat_o.put(h, np.where(ok, v, np.float32(0)))
            more = np.flatnonzero(~ok & (code != _NO_CANDIDATE))
            if more.size == 0:
                break
            h, q0 = h.take(more), q0.take(more)
        return
    hx, hy, cx, cy = _positions(t, hole, out.shape[1])
    qx, qy, d2 = _footprint_candidates(hx, hy, cx, cy, t, W, H)
    ok = np.isfinite(d2)
    v = flat_d[np.where(ok, qy * W + qx, 0)]
    ok &= (v > 0) & (v < np.inf)
    d2 = np.where(ok, d2, np.inf)
    best = np.argmin(d2, axis=1)  # first minimum = first offset in (dy, dx) order
    rows = np.arange(len(hole))
    flat_o[hole] = np.where(ok[rows, best], v[rows, best], 0)


def _resize_image(image: np.ndarray, sx: float, sy: float, W_out: int, H_out: int,
                  area: bool = False) -> np.ndarray:
    """cv2.resize by exact scales (sx, sy) (output pixel u samples (u + 0.5) / sx - 0.5), cropped.

    Shrinking: the antialiasing prefilter + INTER_LINEAR when both scales are >=
    BILINEAR_MIN_SCALE (~3x cheaper than INTER_AREA, see antialias_tap), else INTER_AREA
    (`area=True` forces it); enlarging: INTER_CUBIC.
    """
    if sx == 1.0 and sy == 1.0:
        return image
    if sx * sy < 1.0:
        interp = cv2.INTER_AREA
        if min(sx, sy) >= BILINEAR_MIN_SCALE and not area:
            image, interp = _prefilter(image, sx, sy), cv2.INTER_LINEAR
    else:
        interp = cv2.INTER_CUBIC
    out = cv2.resize(image, None, fx=sx, fy=sy, interpolation=interp)
    if out.shape[0] < H_out or out.shape[1] < W_out:
        raise RuntimeError(f"cv2.resize returned {out.shape[:2]}, expected at least {(H_out, W_out)}")
    return out[:H_out, :W_out]


def _invalid(d: np.ndarray) -> np.ndarray:
    """Flat indices of the invalid values (NaN, +-inf, <= 0) of a float32 array: on the int32 bit
    pattern, valid = 1 <= bits <= 0x7F7FFFFF (positive finite non-zero), so bits - 1 (wrapping)
    is invalid iff >= 0x7F7FFFFF as unsigned: one subtraction + one compare instead of four
    float passes."""
    b = d.reshape(-1).view(np.int32) - np.int32(1)
    return np.flatnonzero(b.view(np.uint32) >= np.uint32(0x7F7FFFFF))


def _sample_depth(depth: np.ndarray, t: _Tables) -> np.ndarray:
    """Nearest-valid depth sampled through the tables (new float32 array, invalid = 0)."""
    if t.separable:  # separable gather (always a copy; -1 of `outside` pixels zeroed below)
        d = depth.take(t.iy, axis=0).take(t.ix, axis=1)
    else:
        d = depth.reshape(-1).take(t.nflat).reshape(t.ix.shape)  # flat gather (a copy)
    flat = d.reshape(-1)
    hole = _invalid(d)
    if t.outside.size:  # no source pixel there: 0, nothing to search
        flat[t.outside] = 0.0
        hole = np.setdiff1d(hole, t.outside, assume_unique=True)
    if hole.size:
        if t.search:
            _nearest_valid_fill(depth, d, hole, t)
        else:
            flat[hole] = 0.0
    return d


_SEEN_MAX = 4096
_seen: collections.OrderedDict = collections.OrderedDict()  # cameras met once (bounded)


@functools.lru_cache(maxsize=4)  # ~35 MB per 1 Mpx output camera; rows come grouped by camera
def _tables_with_order(key: tuple) -> _Tables:
    t = _tables_cached(key)
    if not t.search:
        return t
    plan = _plan_cached(key)
    order, delta = _search_order(t, plan.width, plan.height, (plan.height_new, plan.width_new))
    if order is None:
        return t
    order.setflags(write=False)
    delta.setflags(write=False)
    return dataclasses.replace(t, order=order, delta=delta)


def _tables(key: tuple, cache: bool) -> _Tables:
    """The camera's tables. The candidate order of the hole search (~0.3 s to build for a 1 Mpx
    output) is built only from the second image of a camera on: a dataset whose images all have
    their own intrinsics (e.g. calibrated per image) never pays for it."""
    if not cache:
        return _build_tables(_plan_uncached(key))
    if key in _seen:
        return _tables_with_order(key)
    _seen[key] = True
    while len(_seen) > _SEEN_MAX:
        _seen.popitem(last=False)
    return _tables_cached(key)


def unify_focal(image, K, target_focal=1000.0, dist=None, depth=None, cache: bool = True):
    """Undistort and resize `image` so that fx = fy = target_focal (see module doc).

    image: (H, W) or (H, W, C) array (any OpenCV dtype). K: 3x3 intrinsics of `image`.
    dist: None or (model, params), model in {"opencv", "fisheye", "thin_prism_fisheye"}.
    depth: None or dense (H, W) depth (z or ray, metres; 0/NaN/inf = invalid).
    cache: reuse the plan and resampling maps of this camera (K, size, target, dist) from an LRU
    cache (images of one camera share them); False rebuilds them (same output, for tests).
    Returns (new_image, new_K 3x3 float64, new_depth float32 with invalid = 0, or None).
    """
    img = np.asarray(image)
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0 or img.size == 0:
        raise ValueError(f"image must be a non-empty (H, W) or (H, W, C) array, got shape {img.shape}")
    H, W = img.shape[:2]
    key = _camera_key(K, W, H, target_focal, dist)
    plan = _plan_cached(key) if cache else _plan_uncached(key)
    d = None
    if depth is not None:
        d = np.asarray(depth)
        if d.shape != (H, W):
            raise ValueError(f"depth shape {d.shape} != image shape {(H, W)}")
        if d.dtype != np.float32:
            d = d.astype(np.float32)
    t = _tables(key, cache)
    if plan.dist is None:
        new_img = _resize_image(img, plan.sx, plan.sy, plan.width_new, plan.height_new)
    else:
        if t.pre:
            img = _resize_image(img, plan.s0x, plan.s0y, plan.width0, plan.height0, area=True)
        # every map point lies inside the source by construction of K_u (up to the 1024-sample
        # border estimate); REPLICATE keeps the outermost half pixel from blending with black
        if not t.pre:
            img = _prefilter(img, plan.s0x, plan.s0y)
        new_img = cv2.remap(img, t.m1, t.m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    new_d = None if d is None else _sample_depth(d, t)
    return new_img, plan.K_new.copy(), new_d
