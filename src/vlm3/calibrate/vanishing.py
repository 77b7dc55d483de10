"""Classical single-image calibration from orthogonal vanishing points (Manhattan scenes).

Method (Caprile & Torre 1990; Hartley & Zisserman, 2nd ed., sec. 8.8):
1. Line segments by OpenCV's LSD detector; short segments dropped.
2. Vanishing points (VPs) one after another by RANSAC: two segments' lines meet at a candidate;
   segments whose direction points at it within `angle_thr_deg` are its inliers, scored by
   length; the winner is refined by least squares on its inliers' lines (SVD) and its inliers
   are removed before the next VP. Up to `max_vps` VPs.
3. With the principal point c at the image centre and square pixels, two VPs v1, v2 of
   orthogonal 3D directions satisfy (v1 - c).(v2 - c) + f^2 = 0, so f = sqrt(-(v1 - c).(v2 - c)).
   Computed homogeneously (v = (x, y, w) centred): f^2 = -(x1 x2 + y1 y2) / (w1 w2), so a VP at
   infinity simply gives no constraint. Every VP pair yielding a plausible f (between
   `f_range` x max(W, H)) is a candidate; when a third VP exists it must be orthogonal to the pair
   at that f (within `ortho_tol_deg`), otherwise the pair is kept only if it is the only one. The
   candidate from the best-supported pair wins; with three mutually consistent VPs (the
   orthocentre case) the median of the three pair estimates is used.
Returns None when no pair of VPs determines f (e.g. a frontal view whose two horizontal
directions are parallel to the image plane, or too few lines).
"""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np

from vlm3.calibrate.base import Calibrator, Intrinsics, image_centre
from vlm3.utils import rng_for


def detect_segments(gray: np.ndarray, min_length: float) -> np.ndarray:
    """LSD segments (N, 4) x1 y1 x2 y2 in pixels, at least `min_length` long."""
    lsd = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD)
    segs = lsd.detect(gray)[0]
    if segs is None:
        return np.zeros((0, 4), np.float64)
    segs = segs.reshape(-1, 4).astype(np.float64)
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


def find_vanishing_points(segs: np.ndarray, centre: tuple[float, float], scale: float,
                          rng: np.random.Generator, max_vps: int = 3, iters: int = 400,
                          angle_thr_deg: float = 1.5, min_inliers: int = 6,
                          min_support: float = 0.05) -> list[tuple[np.ndarray, float, int]]:
    """VPs as (v homogeneous unit 3-vector in centred coordinates divided by `scale`, support =
    inlier length / total length, inlier count), strongest first."""
    if len(segs) < 2 * min_inliers:
        return []
    p1 = (segs[:, :2] - centre) / scale
    p2 = (segs[:, 2:] - centre) / scale
    d = p2 - p1
    length = np.hypot(d[:, 0], d[:, 1])
    dirs = d / length[:, None]
    mid = (p1 + p2) / 2
    ones = np.ones((len(segs), 1))
    lines = np.cross(np.hstack([p1, ones]), np.hstack([p2, ones]))
    lines /= np.hypot(lines[:, 0], lines[:, 1])[:, None]
    thr = math.sin(math.radians(angle_thr_deg))
    total = length.sum()
    alive = np.ones(len(segs), bool)
    vps = []
    for _ in range(max_vps):
        idx = np.flatnonzero(alive)
        if len(idx) < min_inliers:
            break
        p = length[idx] / length[idx].sum()
        a = rng.choice(idx, size=iters, p=p)
        b = rng.choice(idx, size=iters, p=p)
        cand = np.cross(lines[a], lines[b])
        nrm = np.linalg.norm(cand, axis=1)
        ok = (a != b) & (nrm > 1e-9)
        if not ok.any():
            break
        cand = cand[ok] / nrm[ok, None]
        s = _consistency(cand, mid[idx], dirs[idx])
        score = ((s < thr) * length[idx][None]).sum(axis=1)
        v = cand[int(np.argmax(score))]
        for _ in range(3):
            inl = alive & (_consistency(v, mid, dirs) < thr)
            if inl.sum() < 2:
                break
            v = _refine(lines[inl], length[inl])
        inl = alive & (_consistency(v, mid, dirs) < thr)
        support = float(length[inl].sum() / total)
        if inl.sum() < min_inliers or support < min_support:
            break
        vps.append((v, support, int(inl.sum())))
        alive &= ~inl
    return vps


def focal_from_vps(vps: list[tuple[np.ndarray, float, int]], f_range: tuple[float, float] = (0.2, 8.0),
                   ortho_tol_deg: float = 8.0) -> tuple[float, float] | None:
    """(f in units of the VP scale, confidence) from VPs as returned by find_vanishing_points."""
    cands = []
    for (i, (vi, si, _)), (j, (vj, sj, _)) in itertools.combinations(enumerate(vps), 2):
        ww = vi[2] * vj[2]
        if abs(ww) < 1e-12:
            continue
        f2 = -(vi[0] * vj[0] + vi[1] * vj[1]) / ww
        if not f2 > 0:
            continue
        f = math.sqrt(f2)
        if not f_range[0] <= f <= f_range[1]:
            continue
        # orthogonality of the remaining VPs to this pair's directions at this f
        di = np.array([vi[0], vi[1], f * vi[2]]); dj = np.array([vj[0], vj[1], f * vj[2]])
        n = np.cross(di, dj); n /= np.linalg.norm(n)
        agree = []
        for k, (vk, _, _) in enumerate(vps):
            if k in (i, j):
                continue
            dk = np.array([vk[0], vk[1], f * vk[2]]); dk /= np.linalg.norm(dk)
            agree.append(abs(float(n @ dk)) > math.cos(math.radians(ortho_tol_deg)))
        cands.append({"pair": (i, j), "f": f, "support": min(si, sj), "agree": agree})
    if not cands:
        return None
    triad = [c for c in cands if c["agree"] and all(c["agree"])]
    if len(triad) >= 3:  # full orthogonal triad: the three pair estimates agree up to noise
        conf = min(1.0, sum(s for _, s, _ in vps[:3]))
        return float(np.median([c["f"] for c in triad])), conf
    pool = [c for c in cands if all(c["agree"])] or cands
    best = max(pool, key=lambda c: c["support"])
    return best["f"], float(min(1.0, 2 * best["support"]))


class VanishingCalibrator(Calibrator):
    """fx = fy from orthogonal vanishing points, principal point at the image centre."""
    name = "vanishing"
    needs_image = True
    cacheable = True

    def __init__(self, seed: int = 0, min_length_frac: float = 0.03, angle_thr_deg: float = 1.5,
                 iters: int = 400, f_range: tuple[float, float] = (0.2, 8.0)):
        self.seed = int(seed)
        self.min_length_frac = float(min_length_frac)
        self.angle_thr_deg = float(angle_thr_deg)
        self.iters = int(iters)
        self.f_range = (float(f_range[0]), float(f_range[1]))

    @property
    def cache_key(self) -> str:
        return (f"vanishing:seed={self.seed}:minlen={self.min_length_frac:g}:thr={self.angle_thr_deg:g}"
                f":iters={self.iters}:f={self.f_range[0]:g}-{self.f_range[1]:g}")

    def estimate(self, image, row, path=None):
        if image is None or image.ndim not in (2, 3):
            raise ValueError(f"vanishing: expected an image array for {path}")
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        centre = image_centre(w, h)
        scale = float(max(w, h))
        segs = detect_segments(gray, self.min_length_frac * math.hypot(w, h))
        rng = rng_for(self.seed, "vanishing", row.get("image_id", path))
        vps = find_vanishing_points(segs, centre, scale, rng, iters=self.iters,
                                    angle_thr_deg=self.angle_thr_deg)
        res = focal_from_vps(vps, self.f_range)
        if res is None:
            return None
        f, conf = res
        return Intrinsics(f * scale, f * scale, centre[0], centre[1], confidence=conf)
