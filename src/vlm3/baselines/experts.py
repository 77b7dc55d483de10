"""Classical experts (OpenCV, offline) answering correspondence and pose questions as text.

Images are the QA record's `images` (image 1, image 2). Intrinsics come from the resize stage's
`index.parquet` two folders above each image (`results/resized/{dataset}/{split}/images/x.png` ->
`.../{split}/index.parquet`, row `image_id` = meta.image_ids[i] or the file stem): fx = fy = the
focal target, principal point of the resized image.

- correspondence: SIFT (on images upscaled to 480 px) + ratio/mutual matching, MAGSAC++
  fundamental matrix to reject wrong matches; a query pixel moves by the median displacement of
  its 8 nearest inlier matches (`geometry_expert.transfer_point`, whose docstring says why not
  a local affine + epipolar snap). Query and answer are [0, 1000] normalised pixels of image 1
  and image 2.
- pose: essential matrix from the same matches (each view normalised with its own K) and
  `recoverPose` -> R_12 and the unit direction of camera 2's centre in camera-1 coordinates;
  answered as rotation angle, yaw/pitch/roll and direction words + unit vector. Two views fix no
  metric scale, so the distance answer is the training median distance. A pair where the
  essential matrix cannot be found (< 5 matches) gets the constant baseline's answers (identity,
  most common training direction); such pairs are counted in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vlm3.baselines import geometry_expert as ge
from vlm3.baselines.constant import ConstantBaseline
from vlm3.geometry.coords import denormalize_point, normalize_point
from vlm3.geometry.pose import rotation_angle_deg, rotation_to_ypr, translation_direction
from vlm3.io.image import read_image
from vlm3.qa import templates as T
from vlm3.records import query_point, questions

log = logging.getLogger("vlm3.baselines.experts")

EXPERT_TASKS = ("correspondence", "pose")
POINT_SCALE = 1000


class Intrinsics:
    """K and size of resized images, read from the index.parquet beside their folder (cached)."""

    def __init__(self):
        self._rows: dict[Path, dict[str, dict]] = {}

    def lookup(self, image_path: str, image_id: str | None = None) -> tuple[np.ndarray, int, int]:
        p = Path(image_path)
        index = p.parent.parent / "index.parquet"
        if index not in self._rows:
            if not index.is_file():
                raise ValueError(f"image {p}: no resized index {index} to read its intrinsics from")
            df = pd.read_parquet(index, columns=["image_id", "width", "height", "fx", "fy", "cx", "cy"])
            self._rows[index] = {r["image_id"]: r for r in df.to_dict("records")}
        iid = image_id or p.stem
        row = self._rows[index].get(iid)
        if row is None:
            raise ValueError(f"{index}: no row for image_id {iid!r} (image {p})")
        K = np.array([[row["fx"], 0.0, row["cx"]], [0.0, row["fy"], row["cy"]], [0.0, 0.0, 1.0]])
        if not np.all(np.isfinite(K)):
            raise ValueError(f"{index}: intrinsics of {iid!r} are not finite")
        return K, int(row["width"]), int(row["height"])


class OpenCVExpert:
    """`answer_record(rec)` -> [(question dict, answer text)] for a two-image QA record."""

    def __init__(self, task: str, train_records: list[dict], seed: int = 0):
        if task not in EXPERT_TASKS:
            raise ValueError(f"--task {task!r}: no classical expert (available: {', '.join(EXPERT_TASKS)})")
        self.task, self.seed = task, seed
        self.intrinsics = Intrinsics()
        # fallbacks and the scale-free distance come from the constant (median) baseline
        self.fallback = ConstantBaseline(task, train_records, "median")
        self.n_failed = 0

    def _views(self, rec: dict):
        imgs = rec.get("images") or []
        if len(imgs) != 2:
            raise ValueError(f"record {rec['id']}: the expert needs 2 images, got {len(imgs)}")
        ids = rec["meta"].get("image_ids") or [None, None]
        out = []
        for path, iid in zip(imgs, ids):
            K, w, h = self.intrinsics.lookup(path, iid)
            img = read_image(path)
            if img.shape[:2] != (h, w):
                raise ValueError(f"image {path}: size {img.shape[1]}x{img.shape[0]} differs from its index ({w}x{h})")
            out.append((img, K, w, h))
        return out

    def answer_record(self, rec: dict) -> list[tuple[dict, str]]:
        qs = questions(rec)
        (img1, K1, w1, h1), (img2, K2, w2, h2) = self._views(rec)
        p1, p2 = ge.sift_matches(img1, img2)
        if self.task == "correspondence":
            i1, i2, F = ge.fundamental_inliers(p1, p2, seed=self.seed)
            out = []
            for q in qs:
                qx, qy = denormalize_point(*query_point(q), w1, h1, scale=POINT_SCALE)
                x, y = ge.transfer_point(np.array([qx, qy]), i1, i2)
                x, y = float(np.clip(x, 0, w2 - 1)), float(np.clip(y, 0, h2 - 1))
                point = normalize_point(x, y, w2, h2, scale=POINT_SCALE)
                out.append((q, T.correspondence_answer_for(q["target"]["kind"], point, query_point(q))))
            return out
        pose = ge.relative_pose(p1, p2, K1, K2, seed=self.seed)
        if pose is None:
            self.n_failed += 1
            return [(q, self.fallback.answer(q)) for q in qs]
        R, t = pose
        words, unit = translation_direction(t)
        out = []
        for q in qs:
            kind = q["target"]["kind"]
            if kind == "rotation_angle":
                text = T.rotation_angle_answer(rotation_angle_deg(R))
            elif kind == "euler":
                text = T.euler_answer(*rotation_to_ypr(R))
            elif kind == "direction":
                text = T.direction_answer(words, unit)
            else:  # distance: not recoverable from two views
                text = self.fallback.answer(q)
            out.append((q, text))
        return out
