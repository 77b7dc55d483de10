"""Correspondence QA: per pair, `questions_per_image` view-1 pixels that are visible in view 2.

A candidate is a valid view-1 depth pixel `border` px inside the image (drawn in a random order from
`rng_for(seed, dataset, split, pair_id)`). It is unprojected with depth_1, K_1 and depth_kind_1,
moved into camera 2 by inv(c2w_2) @ c2w_1 and projected with K_2. It is visible in view 2 when it
lies in front of camera 2, inside image 2 (its nearest pixel exists), and view 2's stored depth at
that nearest pixel agrees with the point's own depth (same kind as depth_kind_2) within
`occlusion_tol` (relative, default 2 %); otherwise it is occluded or off-surface.

Normalisation (both question and answer, VLM3's released correspondence labels): [0, 1000] on each
image's own size, x_n = round(x / W * 1000) clipped to [0, 1000] (`normalize_point(..., scale=1000)`;
an answer at x = W - 0.05 is 1000, as the released formula gives).
The query is the integer pixel centre (u1, v1); the answer is the continuous projection (u2, v2).
`answer_points` (templates.ANSWER_POINTS): "absolute" answers name (x2, y2) as released (target kind
"point"); "offset" answers name the shift (x2 - x1, y2 - y1) in those normalised units (kind "offset").
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

import numpy as np

from vlm3.geometry import normalize_point, project, relative_pose, unproject
from vlm3.qa import templates as T
from vlm3.qa.depth import sample_pixels
from vlm3.qa.resized import Resized, cam_to_world, covisible_pairs, intrinsics, load_depth
from vlm3.utils import rng_for

log = logging.getLogger(__name__)

OCCLUSION_TOL = 0.02


def visible_in_view2(uv1: np.ndarray, d1: np.ndarray, row1: dict, row2: dict, depth2: np.ndarray,
                     tol: float = OCCLUSION_TOL) -> tuple[np.ndarray, np.ndarray]:
    """(mask, uv2): which view-1 pixels (N, 2) with depths d1 (N,) are visible in view 2, and
    their continuous view-2 pixel coordinates (NaN where behind camera 2)."""
    p1 = unproject(uv1.astype(np.float64), d1, intrinsics(row1), row1["depth_kind"])
    T21 = relative_pose(cam_to_world(row2), cam_to_world(row1))  # camera 1 in camera 2's frame
    p2 = p1 @ T21[:3, :3].T + T21[:3, 3]
    uv2 = project(p2, intrinsics(row2))
    h2, w2 = depth2.shape
    with np.errstate(invalid="ignore"):
        ui = np.floor(uv2[:, 0] + 0.5)
        vi = np.floor(uv2[:, 1] + 0.5)
        inside = (p2[:, 2] > 0) & (ui >= 0) & (ui < w2) & (vi >= 0) & (vi < h2)
    ok = np.zeros(len(uv1), dtype=bool)
    idx = np.flatnonzero(inside)
    stored = depth2[vi[idx].astype(np.int64), ui[idx].astype(np.int64)].astype(np.float64)
    own = p2[idx, 2] if row2["depth_kind"] == "z" else np.linalg.norm(p2[idx], axis=1)
    ok[idx] = (stored > 0) & (np.abs(own - stored) <= tol * stored)
    return ok, uv2


def correspondence_records(res: Resized, seed: int, questions_per_image: int = 10, border: int = 10,
                           min_covisibility: float = 0.25, occlusion_tol: float = OCCLUSION_TOL,
                           counts: Counter | None = None, answer_points: str = "absolute",
                           answer_style: str = "paper") -> Iterator[dict]:
    """Yield one record per kept pair (covisibility >= min_covisibility, >= 1 visible point)."""
    counts = Counter() if counts is None else counts
    if answer_points not in T.ANSWER_POINTS:
        raise ValueError(f"answer points must be one of {T.ANSWER_POINTS}, got {answer_points!r}")
    kind = T.POINT_KINDS[answer_points]
    for pair, r1, r2 in covisible_pairs(res, min_covisibility, counts, "correspondence QA"):
        d1, d2 = load_depth(r1, counts), load_depth(r2, counts)
        rng = rng_for(seed, res.dataset, res.split, pair["pair_id"])
        cand = sample_pixels(d1, d1.size, border, rng)  # every candidate, in a random order
        ok, uv2 = visible_in_view2(cand, d1[cand[:, 1], cand[:, 0]], r1, r2, d2, occlusion_tol)
        keep = np.flatnonzero(ok)[:questions_per_image]
        if keep.size == 0:
            counts["pairs_without_visible_points"] += 1
            log.warning("pair %s: no view-1 pixel visible in view 2; skipped", pair["pair_id"])
            continue
        (h1, w1), (h2, w2) = d1.shape, d2.shape
        turns, targets = [], []
        for k in keep.tolist():
            u1, v1 = (int(c) for c in cand[k])
            u2, v2 = (float(c) for c in uv2[k])
            q = normalize_point(u1, v1, w1, h1, scale=1000)
            a = normalize_point(u2, v2, w2, h2, scale=1000)
            template = int(rng.integers(len(T.CORRESPONDENCE_QUESTIONS)))
            turns.append((T.correspondence_question(*q, template=template, points=answer_points),
                          T.correspondence_answer_for(kind, a, q, answer_style)))
            targets.append({"kind": kind, "value": list(a), "scale": 1000, "query": list(q),
                            "pixel_1": [u1, v1], "pixel_2": [u2, v2], "image_size_2": [w2, h2]})
        counts["correspondence"] += len(turns)
        yield T.make_record(f"{res.dataset}/{res.split}/{pair['pair_id']}", "correspondence",
                            res.dataset, res.split, [r1["image_path"], r2["image_path"]], turns, targets,
                            image_ids=[r1["image_id"], r2["image_id"]],
                            covisibility=float(pair["covisibility"]))
