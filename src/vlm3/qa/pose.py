"""Pose QA: one record per pair, the four released questions as turns (released order).

T_12 = inv(c2w_1) @ c2w_2 (`relative_pose`): rotation angle of R_12, its intrinsic yaw -> pitch -> roll
(`rotation_to_ypr`), the direction of t_12 in camera-1 axes as words + unit vector
(`translation_direction`) and |t_12| in metres. Pairs whose cameras share a centre (|t| < 1e-6 m)
have no direction and are skipped (counted in the log).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

import numpy as np

from vlm3.geometry import relative_pose, rotation_angle_deg, rotation_to_ypr, translation_direction
from vlm3.qa import templates as T
from vlm3.qa.resized import Resized, cam_to_world, covisible_pairs

log = logging.getLogger(__name__)

MIN_TRANSLATION = 1e-6


def pose_turns(c2w_1, c2w_2, answer_style: str = "paper",
               fixed_width: int = T.DEFAULT_FIXED_WIDTH) -> tuple[list, list, np.ndarray]:
    """(turns, targets, T_12) for one pair; ValueError when the cameras share a centre."""
    T12 = relative_pose(c2w_1, c2w_2)
    R, t = T12[:3, :3], T12[:3, 3]
    dist = float(np.linalg.norm(t))
    if dist < MIN_TRANSLATION:
        raise ValueError(f"cameras share a centre (|t| = {dist:.3g} m): translation has no direction")
    angle = rotation_angle_deg(R)
    yaw, pitch, roll = rotation_to_ypr(R)
    words, unit = translation_direction(t)
    unit = [float(c) for c in unit]
    q = T.POSE_QUESTIONS
    turns = [(q["rotation_angle"], T.rotation_angle_answer(angle)),
             (q["euler_natural"], T.euler_answer(yaw, pitch, roll)),
             (q["translation_direction"], T.direction_answer(words, unit)),
             (q["translation_distance"], T.translation_distance_answer(dist, answer_style, fixed_width))]
    targets = [{"kind": "rotation_angle", "value": angle},
               {"kind": "euler", "value": [yaw, pitch, roll]},
               {"kind": "direction", "value": unit, "words": words},
               {"kind": "distance", "value": dist}]
    return turns, targets, T12


def pose_records(res: Resized, seed: int, min_covisibility: float = 0.25,
                 answer_style: str = "paper", fixed_width: int = T.DEFAULT_FIXED_WIDTH,
                 counts: Counter | None = None) -> Iterator[dict]:
    """Yield one pose record per kept pair (sorted by pair_id). `seed` is unused: no sampling."""
    counts = Counter() if counts is None else counts
    for pair, r1, r2 in covisible_pairs(res, min_covisibility, counts, "pose QA"):
        try:
            turns, targets, T12 = pose_turns(cam_to_world(r1), cam_to_world(r2), answer_style, fixed_width)
        except ValueError as e:
            if "share a centre" not in str(e):
                raise
            counts["pairs_without_translation"] += 1
            log.warning("pair %s: %s; skipped", pair["pair_id"], e)
            continue
        counts["pose"] += 1
        yield T.make_record(f"{res.dataset}/{res.split}/{pair['pair_id']}", "pose", res.dataset,
                            res.split, [r1["image_path"], r2["image_path"]], turns, targets,
                            image_ids=[r1["image_id"], r2["image_id"]],
                            covisibility=float(pair["covisibility"]),
                            T_12=[float(v) for v in T12.reshape(-1)])
