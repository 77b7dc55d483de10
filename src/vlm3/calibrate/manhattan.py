"""Line-segment clean-up and joint Manhattan-frame + focal refinement for `vanishing`.

Conventions: segments (N, 4) x1 y1 x2 y2 in pixels (pixel centres at integers); "centred"
coordinates are (p - centre) / scale. A Manhattan frame is a rotation R whose columns are the three
orthogonal scene directions in the camera frame (OpenCV axes); with square pixels and the
principal point at `centre`, direction d has the homogeneous vanishing point (f d_x, f d_y, d_z)
in centred coordinates, f in units of `scale`.

Why: on small rendered images the vanishing points found one by one from short LSD segments are
often spurious (moire of far floor tiles, textures of yawed boxes), and the focal length of a VP
pair inherits their errors. Fitting f and R jointly to the endpoint distances of all segments
labelled to the three axes, with the labelling threshold tightened from 3 to 1 deg, removes most
of the pull of contaminating segments (measured in benchmarks/RESULTS.md "Calibration").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.transform import Rotation


def merge_collinear(segs: np.ndarray, angle_deg: float = 1.5, dist_px: float = 1.0,
                    gap_px: float = 3.0) -> np.ndarray:
    """Merge segments lying on one line: directions within `angle_deg`, each one's endpoints within
    `dist_px` of the other's line, and at most `gap_px` apart along it (groups by connected
    components). LSD splits a straight edge wherever its contrast flips sign (every tile of a
    checker); the merged segment (total least squares on endpoints and midpoints, weighted by
    length, spanning the extreme projections) has a far more accurate direction."""
    n = len(segs)
    if n < 2:
        return segs
    p1, p2 = segs[:, :2], segs[:, 2:]
    d = p2 - p1
    length = np.hypot(d[:, 0], d[:, 1])
    u = d / np.maximum(length, 1e-12)[:, None]
    nrm = np.c_[-u[:, 1], u[:, 0]]

    def along(q, basis):  # (n, n): coordinate of point q_j along basis_i, relative to p1_i
        return ((q[None, :, 0] - p1[:, None, 0]) * basis[:, None, 0]
                + (q[None, :, 1] - p1[:, None, 1]) * basis[:, None, 1])

    ok = np.abs(u @ u.T) > math.cos(math.radians(angle_deg))
    ok &= (np.abs(along(p1, nrm)) < dist_px) & (np.abs(along(p2, nrm)) < dist_px)
    ok &= ok.T
    t1, t2 = along(p1, u), along(p2, u)
    gap = np.maximum(np.minimum(t1, t2) - length[:, None], -np.maximum(t1, t2))
    ok &= gap < gap_px
    np.fill_diagonal(ok, False)
    i, j = np.nonzero(ok)
    _, lab = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False)
    out = []
    for c in np.unique(lab):  # sorted labels: deterministic order
        m = np.flatnonzero(lab == c)
        if len(m) == 1:
            out.append(segs[m[0]])
            continue
        pts = np.r_[p1[m], p2[m], (p1[m] + p2[m]) / 2]
        w = np.r_[length[m], length[m], 2 * length[m]]
        mu = (w[:, None] * pts).sum(0) / w.sum()
        _, vec = np.linalg.eigh(((pts - mu) * w[:, None]).T @ (pts - mu))
        dv = vec[:, 1]
        t = (pts - mu) @ dv
        out.append(np.r_[mu + t.min() * dv, mu + t.max() * dv])
    return np.asarray(out, dtype=np.float64).reshape(-1, 4)


def consistency(V: np.ndarray, mid: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """|sin| of the angle between each segment direction (N, 2) and the ray from its midpoint to
    each homogeneous VP in V (K, 3), centred coordinates; returns (K, N)."""
    tx = V[:, None, 0] - mid[None, :, 0] * V[:, None, 2]
    ty = V[:, None, 1] - mid[None, :, 1] * V[:, None, 2]
    return np.abs(dirs[None, :, 0] * ty - dirs[None, :, 1] * tx) / (np.hypot(tx, ty) + 1e-12)


@dataclass
class FrameFit:
    f: float            # focal length, units of `scale`
    sigma: float        # standard deviation of log f (Gauss-Newton covariance)
    R: np.ndarray       # Manhattan frame (columns: directions in the camera frame)
    support: float      # total length (centred units) of segments within the last threshold


def refine_frame(segs: np.ndarray, centre, scale: float, f0: float, R0: np.ndarray,
                 label_deg=(3.0, 2.0, 1.0), loss_px: float = 0.5,
                 upright_deg: float = 25.0) -> FrameFit | None:
    """Fit (log f, R) to the segments from (f0, R0): per round, label each segment to the axis
    whose VP it points at best (kept if within the round's angle), then minimise the robust
    (soft-L1, scale `loss_px`) distance in pixels of its endpoints from the line joining its
    midpoint to that VP. None when fewer than 4 segments are labelled or no axis of the final
    frame is within `upright_deg` of the image's vertical (upright-camera assumption)."""
    p1 = (segs[:, :2] - centre) / scale
    p2 = (segs[:, 2:] - centre) / scale
    d = p2 - p1
    length = np.hypot(d[:, 0], d[:, 1])
    dirs = d / np.maximum(length, 1e-12)[:, None]
    mid = (p1 + p2) / 2
    R0 = np.asarray(R0, dtype=np.float64)
    if np.linalg.det(R0) < 0:
        R0 = R0 * np.array([1.0, 1.0, -1.0])
    x = np.r_[math.log(f0), Rotation.from_matrix(R0).as_rotvec()]

    def vps(x):
        R = Rotation.from_rotvec(x[1:]).as_matrix()
        f = math.exp(x[0])
        return np.stack([f * R[0], f * R[1], R[2]], 1)  # row a: VP of axis a

    res = None
    for deg in label_deg:
        c = consistency(vps(x), mid, dirs)
        lab = np.argmin(c, 0)
        idx = np.flatnonzero(c[lab, np.arange(len(lab))] < math.sin(math.radians(deg)))
        if len(idx) < 4:
            return None
        lb, half = lab[idx], length[idx] * scale / 2  # endpoint distance = half length x |sin|

        def resid(x, idx=idx, lb=lb, half=half):
            V = vps(x)
            tx = V[lb, 0] - mid[idx, 0] * V[lb, 2]
            ty = V[lb, 1] - mid[idx, 1] * V[lb, 2]
            return half * (dirs[idx, 0] * ty - dirs[idx, 1] * tx) / (np.hypot(tx, ty) + 1e-12)

        res = least_squares(resid, x, loss="soft_l1", f_scale=loss_px, method="trf")
        x = res.x
    if not np.all(np.isfinite(x)):
        return None
    J = res.jac
    s2 = 2 * res.cost / max(1, len(res.fun) - 4)
    try:
        sigma = math.sqrt(max(float(np.linalg.inv(J.T @ J)[0, 0]) * max(s2, 1e-12), 0.0))
    except np.linalg.LinAlgError:
        sigma = math.inf
    R = Rotation.from_rotvec(x[1:]).as_matrix()
    if np.abs(R[1]).max() < math.cos(math.radians(upright_deg)):
        return None
    c = consistency(vps(x), mid, dirs).min(0)
    support = float(length[c < math.sin(math.radians(label_deg[-1]))].sum())
    return FrameFit(math.exp(x[0]), sigma, R, support)


def frame_from_vps(v1: np.ndarray, v2: np.ndarray, f: float) -> np.ndarray | None:
    """Manhattan frame whose first two axes point at homogeneous VPs v1, v2 (centred
    coordinates) for focal f, the second orthogonalised against the first."""
    a = np.array([v1[0] / f, v1[1] / f, v1[2]])
    b = np.array([v2[0] / f, v2[1] / f, v2[2]])
    a /= np.linalg.norm(a)
    b = b - (a @ b) * a
    nb = np.linalg.norm(b)
    if nb < 1e-9:
        return None
    b /= nb
    return np.stack([a, b, np.cross(a, b)], 1)
