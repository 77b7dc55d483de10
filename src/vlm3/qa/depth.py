"""Depth QA: per image, `questions_per_image` valid pixels packed as turns of one record.

Pixels are drawn uniformly without replacement among valid depth pixels (depth > 0) at least
`border` pixels from every edge, with `rng_for(seed, dataset, split, image_id)`. The question names
the pixel by normalised coordinates round(u / W * 2000), round(v / H * 2000) (`normalize_point`);
the answer is the depth stored in the resized file (z or ray as `depth_kind` says; the record's
meta carries it), printed with 2 decimals. The target keeps the exact float value.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

import numpy as np
from tqdm import tqdm

from vlm3.geometry import normalize_point
from vlm3.qa import templates as T
from vlm3.qa.resized import Resized, load_depth
from vlm3.utils import rng_for

log = logging.getLogger(__name__)


def sample_pixels(depth: np.ndarray, n: int, border: int, rng: np.random.Generator) -> np.ndarray:
    """(k, 2) integer (u, v) pixels, k = min(n, number of candidates), in draw order."""
    h, w = depth.shape
    valid = depth > 0
    if border > 0:
        inner = np.zeros_like(valid)
        inner[border:h - border, border:w - border] = True
        valid &= inner
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    pick = idx[rng.choice(idx.size, size=min(n, idx.size), replace=False)]
    return np.stack([pick % w, pick // w], axis=1)


def depth_records(res: Resized, seed: int, questions_per_image: int = 10, border: int = 10,
                  answer_style: str = "paper", fixed_width: int = T.DEFAULT_FIXED_WIDTH,
                  variant: str = "paper", counts: Counter | None = None) -> Iterator[dict]:
    """Yield one depth record per image with at least one valid pixel (sorted by image_id)."""
    counts = Counter() if counts is None else counts
    for row in tqdm(res.images.to_dict("records"), desc="depth QA", unit="img", leave=False):
        depth = load_depth(row)
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
