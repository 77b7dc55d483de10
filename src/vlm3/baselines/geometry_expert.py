"""Classical two-view geometry with OpenCV: SIFT matches, RANSAC, point transfer, relative pose.

Pixel convention as docs/CONTRACTS.md: (u, v) = column, row of the pixel centre. Poses follow
the contract's T_12: R_12 maps camera-2 coordinates into camera 1's frame and the translation
direction is camera 2's centre in camera-1 coordinates (OpenCV axes, unit length: two views
fix it only up to scale).
"""

from __future__ import annotations

import cv2
import numpy as np

# Lowe's ratio test threshold and the RANSAC reprojection threshold (pixels) for F and E.
RATIO = 0.8
RANSAC_PX = 1.0
# Neighbours used for the local affine transfer of a query pixel.
K_NEAREST = 8


def sift_matches(img1: np.ndarray, img2: np.ndarray, ratio: float = RATIO) -> tuple[np.ndarray, np.ndarray]:
    """SIFT keypoints matched by brute force L2 + Lowe's ratio test + mutual check.

    Returns (pts1, pts2), float64 arrays Nx2 of matched pixel positions, in a deterministic order.
    """
    sift = cv2.SIFT_create()
    g1 = cv2.cvtColor(img1, cv2.COLOR_RGB2GRAY) if img1.ndim == 3 else img1
    g2 = cv2.cvtColor(img2, cv2.COLOR_RGB2GRAY) if img2.ndim == 3 else img2
    k1, d1 = sift.detectAndCompute(g1, None)
    k2, d2 = sift.detectAndCompute(g2, None)
    empty = np.zeros((0, 2))
    if d1 is None or d2 is None or len(k1) < 2 or len(k2) < 2:
        return empty, empty
    bf = cv2.BFMatcher(cv2.NORM_L2)
    fwd = bf.knnMatch(d1, d2, k=2)
    back = {m[0].queryIdx: m[0].trainIdx for m in bf.knnMatch(d2, d1, k=1) if m}
    good = [m[0] for m in fwd if len(m) == 2 and m[0].distance < ratio * m[1].distance
            and back.get(m[0].trainIdx) == m[0].queryIdx]
    if not good:
        return empty, empty
    pts1 = np.array([k1[m.queryIdx].pt for m in good], dtype=np.float64)
    pts2 = np.array([k2[m.trainIdx].pt for m in good], dtype=np.float64)
    return pts1, pts2


def fundamental_inliers(pts1: np.ndarray, pts2: np.ndarray, seed: int = 0,
                        thresh: float = RANSAC_PX) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Robust fundamental matrix (OpenCV USAC MAGSAC++, i.e. RANSAC with local optimisation and
    final polishing; plain cv2.FM_RANSAC stops at an unrefined minimal-sample model); returns (inlier pts1, inlier pts2, F or None).

    With fewer than 8 matches no F is fitted and every match is kept as is.
    """
    if len(pts1) < 8:
        return pts1, pts2, None
    cv2.setRNGSeed(int(seed))  # OpenCV's RANSAC sampling is otherwise not reproducible
    F, mask = cv2.findFundamentalMat(pts1, pts2, cv2.USAC_MAGSAC, thresh, 0.999, 10000)
    if F is None or F.shape != (3, 3) or mask is None:
        return pts1, pts2, None
    keep = mask.ravel().astype(bool)
    return pts1[keep], pts2[keep], F


def transfer_point(q: np.ndarray, pts1: np.ndarray, pts2: np.ndarray,
                   F: np.ndarray | None = None, k: int = K_NEAREST) -> np.ndarray:
    """Where pixel q of image 1 lands in image 2, from inlier matches around it.

    Local model: a least-squares affine map fitted to the k nearest inliers (in image 1) of q;
    with 1-2 neighbours (or a degenerate, collinear neighbourhood) the mean displacement is used;
    with none, zero motion (q itself). When F is known the estimate is then moved to the closest
    point of q's epipolar line F q in image 2. OpenCV has no "transfer a pixel through nearby
    matches" call, hence this short function.
    """
    q = np.asarray(q, dtype=np.float64)
    if len(pts1) == 0:
        return q.copy()
    d = np.linalg.norm(pts1 - q, axis=1)
    idx = np.argsort(d, kind="stable")[:k]
    a, b = pts1[idx], pts2[idx]
    est = q + (b - a).mean(axis=0)
    if len(idx) >= 3:
        A = np.hstack([a, np.ones((len(a), 1))])
        if np.linalg.matrix_rank(A, tol=1e-6 * max(1.0, np.abs(A).max())) == 3:
            M, *_ = np.linalg.lstsq(A, b, rcond=None)
            est = np.array([q[0], q[1], 1.0]) @ M
    if F is not None:
        line = F @ np.array([q[0], q[1], 1.0])
        n2 = line[0] ** 2 + line[1] ** 2
        if n2 > 0:
            est = est - (line @ np.array([est[0], est[1], 1.0])) / n2 * line[:2]
    return est


def relative_pose(pts1: np.ndarray, pts2: np.ndarray, K1: np.ndarray, K2: np.ndarray,
                  seed: int = 0, thresh: float = RANSAC_PX) -> tuple[np.ndarray, np.ndarray] | None:
    """Essential matrix (USAC MAGSAC++: plain RANSAC left 2 degrees of error on exact data) + cheirality check -> (R_12, unit t_12) or None (< 5 matches).

    The two views may have different K (different principal points after focal unification), so
    points are first normalised with their own K and E is fitted with an identity camera; the
    pixel threshold is converted with the mean focal length.
    """
    if len(pts1) < 5:
        return None
    n1 = cv2.undistortPoints(pts1.reshape(-1, 1, 2), K1, None).reshape(-1, 2)
    n2 = cv2.undistortPoints(pts2.reshape(-1, 1, 2), K2, None).reshape(-1, 2)
    f = 0.25 * (K1[0, 0] + K1[1, 1] + K2[0, 0] + K2[1, 1])
    cv2.setRNGSeed(int(seed))
    E, mask = cv2.findEssentialMat(n1, n2, np.eye(3), method=cv2.USAC_MAGSAC, prob=0.999,
                                   threshold=thresh / f)
    if E is None or E.shape != (3, 3):
        return None  # several stacked solutions or none: too few / degenerate matches
    ok, R, t, _ = cv2.recoverPose(E, n1, n2, np.eye(3), mask=mask)
    if ok == 0:
        return None
    # recoverPose: X2 = R X1 + t. Contract: R_12 = R^T, camera-2 centre in frame 1 = -R^T t.
    R12 = R.T
    c = -R.T @ t.ravel()
    return R12, c / np.linalg.norm(c)
