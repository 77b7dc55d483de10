"""Classical single-image calibration from vanishing points of orthogonal directions.

Principle (Caprile & Torre 1990; Hartley & Zisserman, 2nd ed., sec. 8.8): with square pixels and
the principal point c at the image centre, the vanishing points (VPs) v1, v2 of two orthogonal 3D
directions satisfy (v1 - c).(v2 - c) + f^2 = 0, so f = sqrt(-(v1 - c).(v2 - c)). Computed
homogeneously (v = (x, y, w) in centred coordinates): f^2 = -(x1 x2 + y1 y2) / (w1 w2); a VP at
infinity gives no constraint.

Method
1. Line segments: OpenCV's LSD detector; collinear pieces merged (`manhattan.merge_collinear`: LSD
   breaks an edge wherever its contrast flips, e.g. at every checker tile); segments shorter than
   `min_length_frac` x diagonal (0.05) dropped; if no focal results, everything is retried once
   with `retry_length_frac` (0.03).
2. Vertical VP (upright-camera assumption: gravity-aligned edges look roughly vertical): RANSAC
   over near-vertical segments (within `vertical_deg` of the image's y axis); two segments' lines
   meet at a candidate, segments pointing at it within `angle_thr_deg` are inliers (scored by
   length), refined by least squares on the inliers' lines (SVD).
3. Further VPs: the same RANSAC on the remaining segments, greedily, up to `max_vps` in all.
4. Every horizontal direction is orthogonal to the vertical, whatever its yaw, so each pair
   (vertical VP, other VP) gives an f even when objects are rotated relative to the room (a
   non-Manhattan scene). Pairs of non-vertical VPs assume they are orthogonal (Manhattan world):
   they anchor the estimate only when no vertical pair gives an f (e.g. a level camera), and
   otherwise join it only when they agree with the vertical-pair anchor.
5. The uncertainty of each pair's f comes from a bootstrap: each VP is refitted on resampled
   inliers (`n_boot` times) and the spread of log f is taken. Far VPs (nearly parallel lines)
   give large spreads and thus little weight. Estimates are combined by inverse-variance
   weighting of log f over those within 3 sigma of the most certain anchor; if even the best spread exceeds
   `max_log_sigma`, f is not determinable and None is returned.
6. Joint refinement (`joint=True`, the default answer when it succeeds): every VP pair that gives
   an f (steps 4-5) starts a fit of (f, Manhattan frame R) to all segments
   (`manhattan.refine_frame`: segments labelled to the axis they point at, within 3, 2, then 1
   deg, robust endpoint-distance least squares); fits with no near-vertical axis, f outside
   `f_range` or sigma(log f) > `max_log_sigma` are dropped and the one with the largest support
   (segment length within 1 deg) wins. Step 5's combination is the fallback when no fit survives.
   One-by-one VPs from short segments are often spurious on small images (moire of far floor
   tiles, textures of yawed boxes); the joint fit with tight labels is far less pulled by them
   (benchmarks/RESULTS.md, "Calibration").
`thr_px` (optional) replaces the fixed angular inlier test by an endpoint distance in pixels
(tried on the synthetic benchmark: worse there, so off by default).
Pixel convention: the principal point is ((W - 1) / 2, (H - 1) / 2) (pixel centres at integers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vlm3.calibrate.base import Calibrator, Intrinsics, image_centre
from vlm3.calibrate.manhattan import frame_from_vps, merge_collinear, refine_frame
from vlm3.utils import rng_for


@dataclass
class VanishingPoint:
    v: np.ndarray            # homogeneous unit 3-vector, centred coordinates / scale
    boot: np.ndarray         # (n_boot, 3) bootstrap refits, signs aligned with v
    support: float           # inlier length / total segment length
    n_inliers: int
    vertical: bool


def detect_segments(gray: np.ndarray, min_length: float, merge: bool = False) -> np.ndarray:
    """LSD segments (N, 4) x1 y1 x2 y2 in pixels, at least `min_length` long; with `merge`,
    collinear pieces are joined first (`manhattan.merge_collinear`), then filtered by length."""
    lsd = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD)
    segs = lsd.detect(gray)[0]
    if segs is None:
        return np.zeros((0, 4), np.float64)
    segs = segs.reshape(-1, 4).astype(np.float64)
    if merge:
        segs = merge_collinear(segs)
    length = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
    return segs[length >= min_length]


def _consistency(v: np.ndarray, mid: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """|sin| of the angle between each segment direction and the ray from its midpoint to VP v
    (homogeneous, shape (3,) or (K, 3)); returns (N,) or (K, N)."""
    v = np.atleast_2d(v)
    tx = v[:, None, 0] - mid[None, :, 0] * v[:, None, 2]
    ty = v[:, None, 1] - mid[None, :, 1] * v[:, None, 2]
    norm = np.hypot(tx, ty) + 1e-12
    s = np.abs(dirs[None, :, 0] * ty - dirs[None, :, 1] * tx) / norm
    return s[0] if s.shape[0] == 1 else s


def _refine(lines: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Least-squares VP: unit v minimising sum (w_i l_i . v)^2 (smallest right singular vector)."""
    _, _, vt = np.linalg.svd(lines * w[:, None], full_matrices=False)
    return vt[-1]


def _is_vertical(v: np.ndarray, vertical_deg: float) -> bool:
    """VP direction from the image centre within `vertical_deg` of the image y axis."""
    return abs(v[0]) <= math.tan(math.radians(vertical_deg)) * abs(v[1])


class _Segments:
    def __init__(self, segs: np.ndarray, centre, scale: float, thr_px: float | None = None,
                 thr_sin: float = 0.026):
        p1 = (segs[:, :2] - centre) / scale
        p2 = (segs[:, 2:] - centre) / scale
        d = p2 - p1
        self.length = np.hypot(d[:, 0], d[:, 1])
        self.dirs = d / self.length[:, None]
        self.mid = (p1 + p2) / 2
        ones = np.ones((len(segs), 1))
        lines = np.cross(np.hstack([p1, ones]), np.hstack([p2, ones]))
        self.lines = lines / np.hypot(lines[:, 0], lines[:, 1])[:, None]
        self.total = float(self.length.sum())
        if thr_px is None:
            self.tol = np.full(len(segs), thr_sin)
        else:  # endpoint off the ray by at most thr_px: |sin| <= thr_px / (half length in px)
            self.tol = np.clip(thr_px / (self.length * scale / 2), math.sin(math.radians(0.5)),
                               math.sin(math.radians(5.0)))


def _ransac(S: _Segments, cand_idx: np.ndarray, alive: np.ndarray, rng, iters: int):
    """Best VP among intersections of random pairs from `cand_idx`; returns (v, inlier mask) or None."""
    if len(cand_idx) < 2:
        return None
    p = S.length[cand_idx] / S.length[cand_idx].sum()
    a = rng.choice(cand_idx, size=iters, p=p)
    b = rng.choice(cand_idx, size=iters, p=p)
    cand = np.cross(S.lines[a], S.lines[b])
    nrm = np.linalg.norm(cand, axis=1)
    ok = (a != b) & (nrm > 1e-9)
    if not ok.any():
        return None
    cand = cand[ok] / nrm[ok, None]
    idx = np.flatnonzero(alive)
    s = _consistency(cand, S.mid[idx], S.dirs[idx])
    score = ((s < S.tol[idx][None]) * S.length[idx][None]).sum(axis=1)
    v = cand[int(np.argmax(score))]
    for _ in range(3):
        inl = alive & (_consistency(v, S.mid, S.dirs) < S.tol)
        if inl.sum() < 2:
            break
        v = _refine(S.lines[inl], S.length[inl])
    return v, alive & (_consistency(v, S.mid, S.dirs) < S.tol)


def find_vanishing_points(segs: np.ndarray, centre: tuple[float, float], scale: float,
                          rng: np.random.Generator, max_vps: int = 4, iters: int = 400,
                          angle_thr_deg: float = 1.5, min_inliers: int = 5, min_support: float = 0.03,
                          vertical_deg: float = 25.0, n_boot: int = 40,
                          thr_px: float | None = None) -> list[VanishingPoint]:
    """The vertical VP first (if found), then the strongest other VPs (see module docstring)."""
    if len(segs) < 2:
        return []
    S = _Segments(segs, centre, scale, thr_px, math.sin(math.radians(angle_thr_deg)))
    alive = np.ones(len(segs), bool)
    near_vertical = np.abs(S.dirs[:, 0]) <= math.sin(math.radians(vertical_deg))
    vps: list[VanishingPoint] = []

    def accept(v, inl, vertical):
        n = int(inl.sum())
        support = float(S.length[inl].sum() / S.total)
        if n < min_inliers or support < min_support:
            return False
        ii = np.flatnonzero(inl)
        boot = np.empty((n_boot, 3))
        for b in range(n_boot):
            pick = rng.choice(ii, size=len(ii), replace=True)
            vb = _refine(S.lines[pick], S.length[pick])
            boot[b] = vb if vb @ v >= 0 else -vb
        vps.append(VanishingPoint(v, boot, support, n, vertical))
        alive[inl] = False
        return True

    got = _ransac(S, np.flatnonzero(near_vertical), alive, rng, iters)
    if got is not None and _is_vertical(got[0], vertical_deg):
        accept(got[0], got[1], True)
    while len(vps) < max_vps:
        got = _ransac(S, np.flatnonzero(alive), alive, rng, iters)
        if got is None or not accept(got[0], got[1], False):
            break
    return vps


def _pair_focal(a: VanishingPoint, b: VanishingPoint, f_range) -> tuple[float, float] | None:
    """(f, sigma of log f) for two VPs of orthogonal directions, or None if they give no f."""
    def f2(u, w):
        return -(u[..., 0] * w[..., 0] + u[..., 1] * w[..., 1]) / (u[..., 2] * w[..., 2])
    with np.errstate(divide="ignore", invalid="ignore"):
        f2_0 = float(f2(a.v, b.v))
        f2_b = f2(a.boot, b.boot)
    if not (np.isfinite(f2_0) and f2_0 > 0):
        return None
    f = math.sqrt(f2_0)
    if not f_range[0] <= f <= f_range[1]:
        return None
    good = np.isfinite(f2_b) & (f2_b > 0)
    if good.mean() < 0.8:
        return None
    sigma = float(np.std(0.5 * np.log(f2_b[good])))
    return f, max(sigma, 1e-4)


def focal_from_vps(vps: list[VanishingPoint], f_range: tuple[float, float] = (0.2, 8.0),
                   max_log_sigma: float = 0.3) -> tuple[float, float] | None:
    """(f in units of the VP scale, confidence in (0, 1]) or None (see module docstring)."""
    vert = [v for v in vps if v.vertical]
    other = [v for v in vps if not v.vertical]
    ests_v = [e for e in (_pair_focal(vert[0], h, f_range) for h in other) if e] if vert else []
    ests_m = [e for i in range(len(other)) for j in range(i + 1, len(other))
              if (e := _pair_focal(other[i], other[j], f_range))]
    # the anchor comes from a vertical pair when there is one (no Manhattan assumption); Manhattan
    # pairs only join the estimate when they agree with it
    anchor_pool = ests_v or ests_m
    if not anchor_pool:
        return None
    best_f, best_s = min(anchor_pool, key=lambda e: e[1])
    if best_s > max_log_sigma:
        return None
    ests = ests_v + ests_m
    # inverse-variance mean of log f over the estimates consistent with the most certain one
    keep = [(f, s) for f, s in ests if abs(math.log(f / best_f)) <= 3 * math.hypot(s, best_s)]
    w = np.array([1 / s**2 for _, s in keep])
    logf = float(np.sum(w * np.log([f for f, _ in keep])) / w.sum())
    sigma = float(1 / math.sqrt(w.sum()))
    return math.exp(logf), 1.0 / (1.0 + sigma / 0.02)


def refine_focal(segs: np.ndarray, vps: list[VanishingPoint], centre, scale: float,
                 f_range: tuple[float, float] = (0.2, 8.0), max_log_sigma: float = 0.3):
    """Best joint Manhattan-frame fit started from every VP pair that gives a focal length:
    (f in units of `scale`, sigma of log f) of the fit with the largest support (segment length
    within 1 deg of its axis), among fits with sigma <= max_log_sigma and f in f_range; None if
    there is none. Ties keep the first pair (deterministic)."""
    best = None
    for i in range(len(vps)):
        for j in range(i + 1, len(vps)):
            pf = _pair_focal(vps[i], vps[j], f_range)
            if pf is None:
                continue
            R0 = frame_from_vps(vps[i].v, vps[j].v, pf[0])
            fit = None if R0 is None else refine_frame(segs, centre, scale, pf[0], R0)
            if fit is None or not (fit.sigma <= max_log_sigma and f_range[0] <= fit.f <= f_range[1]):
                continue
            if best is None or fit.support > best.support:
                best = fit
    return None if best is None else (best.f, best.sigma)


class VanishingCalibrator(Calibrator):
    """fx = fy from vanishing points, principal point at the image centre."""
    name = "vanishing"
    needs_image = True
    cacheable = True

    def __init__(self, seed: int = 0, min_length_frac: float = 0.05, angle_thr_deg: float = 1.5,
                 iters: int = 400, f_range: tuple[float, float] = (0.2, 8.0), max_log_sigma: float = 0.3,
                 thr_px: float | None = None, joint: bool = True, merge: bool = True,
                 retry_length_frac: float | None = 0.03, max_vps: int = 6):
        self.max_vps = int(max_vps)
        self.thr_px = thr_px
        self.retry_length_frac = None if retry_length_frac is None else float(retry_length_frac)
        self.joint = bool(joint)
        self.merge = bool(merge)
        self.seed = int(seed)
        self.min_length_frac = float(min_length_frac)
        self.angle_thr_deg = float(angle_thr_deg)
        self.iters = int(iters)
        self.f_range = (float(f_range[0]), float(f_range[1]))
        self.max_log_sigma = float(max_log_sigma)

    @property
    def cache_key(self) -> str:
        return (f"vanishing/3:seed={self.seed}:minlen={self.min_length_frac:g}:thr={self.angle_thr_deg:g}"
                f":iters={self.iters}:f={self.f_range[0]:g}-{self.f_range[1]:g}:sigma={self.max_log_sigma:g}"
                f":joint={int(self.joint)}:merge={int(self.merge)}:thrpx={self.thr_px}"
                f":retry={self.retry_length_frac}:maxvps={self.max_vps}")

    def estimate(self, image, row, path=None):
        if image is None or image.ndim not in (2, 3):
            raise ValueError(f"vanishing: expected an image array for {path}")
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        centre = image_centre(w, h)
        scale = float(max(w, h))
        res = self._focal(gray, centre, scale, self.min_length_frac, row, path)
        if res is None and self.retry_length_frac is not None and self.retry_length_frac < self.min_length_frac:
            res = self._focal(gray, centre, scale, self.retry_length_frac, row, path)
        if res is None:
            return None
        f, conf = res
        return Intrinsics(f * scale, f * scale, centre[0], centre[1], confidence=conf)

    def _focal(self, gray, centre, scale, length_frac, row, path):
        """(f / scale, confidence) from segments at least `length_frac` x diagonal long, or None."""
        h, w = gray.shape
        segs = detect_segments(gray, length_frac * math.hypot(w, h), merge=self.merge)
        rng = rng_for(self.seed, "vanishing", row.get("image_id", path))
        vps = find_vanishing_points(segs, centre, scale, rng, max_vps=self.max_vps, iters=self.iters,
                                    angle_thr_deg=self.angle_thr_deg, thr_px=self.thr_px)
        fit = refine_focal(segs, vps, centre, scale, self.f_range, self.max_log_sigma) if self.joint else None
        if fit is not None:
            return fit[0], 1.0 / (1.0 + fit[1] / 0.02)
        return focal_from_vps(vps, self.f_range, self.max_log_sigma)
