"""Depth QA: per image, `questions_per_image` valid pixels packed as turns of one record.

Pixels are drawn uniformly without replacement among valid depth pixels (depth > 0 and inside the
row's [depth_min, depth_max]: `load_depth` makes the rest invalid, counted) at least
`border` pixels from every edge, with `rng_for(seed, dataset, split, image_id)`. The question names
the pixel by normalised coordinates round(u / W * 2000), round(v / H * 2000) (`normalize_point`);
the answer is the depth stored in the resized file (z or ray as `depth_kind` says; the record's
meta carries it), printed with 2 decimals. The target keeps the exact float value.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

import cv2
import numpy as np
from tqdm import tqdm

from vlm3.geometry import normalize_point
from vlm3.qa import templates as T
from vlm3.qa.resized import Resized, load_depth
from vlm3.utils import rng_for

log = logging.getLogger(__name__)


def sample_pixels(depth: np.ndarray, n: int, border: int, rng: np.random.Generator) -> np.ndarray:
    """(k, 2) integer (u, v) pixels, k = min(n, number of candidates), in draw order.

    The draw is `rng.choice(count, k, replace=False)` over the candidates in row-major order. For
    a few pixels the k-th candidate is found from per-row counts (`cv2.reduce`, exact integer
    sums) instead of listing all ~1 M candidates: same pixels, ~3x cheaper per image."""
    h, w = depth.shape
    y0 = x0 = max(border, 0)
    valid = (depth[border:h - border, border:w - border] if border > 0 else depth) > 0
    if valid.size == 0 or not valid.any():
        return np.zeros((0, 2), dtype=np.int64)
    counts = cv2.reduce(valid.view(np.uint8), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel().astype(np.int64)
    cum = np.cumsum(counts)
    k = rng.choice(int(cum[-1]), size=min(n, int(cum[-1])), replace=False)
    if k.size > 64:  # many pixels (e.g. every candidate): list them all
        idx = np.flatnonzero(valid)[k]
        rows, cols = idx // valid.shape[1], idx % valid.shape[1]
    else:
        rows = np.searchsorted(cum, k, side="right")
        cols = np.array([np.flatnonzero(valid[r])[j] for r, j in zip(rows, k - cum[rows] + counts[rows])],
                        dtype=np.int64).reshape(-1)
    return np.stack([cols + x0, rows + y0], axis=1).astype(np.int64)


def depth_records(res: Resized, seed: int, questions_per_image: int = 10, border: int = 10,
                  answer_style: str = "paper", fixed_width: int = T.DEFAULT_FIXED_WIDTH,
                  variant: str = "paper", counts: Counter | None = None) -> Iterator[dict]:
    """Yield one depth record per image with at least one valid pixel (sorted by image_id)."""
    counts = Counter() if counts is None else counts
    for row in tqdm(res.images.to_dict("records"), desc="depth QA", unit="img", leave=False):
        depth = load_depth(row, counts)
        h, w = depth.shape
        rng = rng_for(seed, res.dataset, res.split, row["image_id"])
        pix = sample_pixels(depth, questions_per_image, border, rng)
        if len(pix) == 0:
            counts["images_without_valid_pixels"] += 1
            log.warning("image %s: no valid depth pixel %d px inside the border; skipped",
                        row["image_id"], border)
            continue
        turns, targets = [], []
        for u, v in pix.tolist():
            xn, yn = normalize_point(u, v, w, h, scale=2000)
            value = float(depth[v, u])
            turns.append((T.depth_question(xn, yn, variant),
                          T.depth_answer(value, answer_style, fixed_width, variant)))
            targets.append({"kind": "depth", "value": value, "pixel": [u, v], "pixel_norm": [xn, yn]})
        counts["depth"] += len(turns)
        yield T.make_record(f"{res.dataset}/{res.split}/{row['image_id']}", "depth", res.dataset,
                            res.split, [row["image_path"]], turns, targets,
                            image_ids=[row["image_id"]], depth_kind=row["depth_kind"])
