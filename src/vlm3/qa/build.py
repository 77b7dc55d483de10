"""CLI: QA records of one task from a resized folder -> `results/qa/{task}/{dataset}/{split}.jsonl`.

    python -m vlm3.qa.build --task depth --resized results/resized/synthetic/test \
        --out results/qa/depth/synthetic/test.jsonl --seed 0

One JSON object per line (docs/CONTRACTS.md "QA"), written atomically; the same inputs and seed
give a byte-identical file. Counts per category go to the log.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from itertools import islice
from pathlib import Path

from vlm3.qa import templates as T
from vlm3.qa.correspondence import OCCLUSION_TOL, correspondence_records
from vlm3.qa.depth import depth_records
from vlm3.qa.objects import WORLD_UP_CHOICES, object_records
from vlm3.qa.pose import pose_records
from vlm3.qa.resized import load_resized
from vlm3.tasks import TASKS
from vlm3.utils import atomic_path

log = logging.getLogger("vlm3.qa.build")


def build(task: str, resized: str | Path, out: str | Path, seed: int = 0, questions_per_image: int = 10,
          border: int = 10, answer_style: str = "paper", fixed_width: int = T.DEFAULT_FIXED_WIDTH,
          min_covisibility: float = 0.25, max_records: int | None = None, depth_variant: str = "paper",
          world_up: str = "auto", occlusion_tol: float = OCCLUSION_TOL,
          answer_regions: str = "filled", answer_points: str = "absolute") -> Counter:
    """Write the QA file of `task`; return the counts (questions per category, skips)."""
    if task not in TASKS:
        raise ValueError(f"--task must be one of {TASKS}, got {task!r}")
    if answer_style not in T.ANSWER_STYLES:
        raise ValueError(f"--answer-style must be one of {T.ANSWER_STYLES}, got {answer_style!r}")
    if answer_regions not in T.ANSWER_REGIONS:
        raise ValueError(f"--answer-regions must be one of {T.ANSWER_REGIONS}, got {answer_regions!r}")
    if answer_points not in T.ANSWER_POINTS:
        raise ValueError(f"--answer-points must be one of {T.ANSWER_POINTS}, got {answer_points!r}")
    if questions_per_image < 1:
        raise ValueError(f"--questions-per-image must be >= 1, got {questions_per_image}")
    if border < 0:
        raise ValueError(f"--border must be >= 0, got {border}")
    if not 0.0 <= min_covisibility <= 1.0:
        raise ValueError(f"--min-covisibility must be in [0, 1], got {min_covisibility}")
    if max_records is not None and max_records < 1:
        raise ValueError(f"--max-records must be >= 1, got {max_records}")
    res = load_resized(resized, need_pairs=task in ("correspondence", "pose"))
    counts: Counter = Counter()
    if task == "depth":
        recs = depth_records(res, seed, questions_per_image, border, answer_style, fixed_width,
                             depth_variant, counts)
    elif task == "object":
        recs = object_records(res, seed, questions_per_image, answer_style, fixed_width, world_up, counts,
                              answer_regions)
    elif task == "correspondence":
        recs = correspondence_records(res, seed, questions_per_image, border, min_covisibility,
                                      occlusion_tol, counts, answer_points, answer_style)
    else:
        recs = pose_records(res, seed, min_covisibility, answer_style, fixed_width, counts)
    n = 0
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for rec in islice(recs, max_records):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
        if n == 0:
            raise ValueError(f"--resized {resized}: no {task} question could be generated "
                             f"(counts: {dict(counts)})")
    counts["records"] = n
    for k in sorted(counts):
        log.info("%s %s/%s %s: %d", task, res.dataset, res.split, k, counts[k])
    return counts


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m vlm3.qa.build", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--resized", required=True, help="results/resized/{dataset}/{split}/ folder")
    p.add_argument("--out", required=True, help="output .jsonl")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--questions-per-image", type=int, default=10,
                   help="depth/correspondence: turns per record; object: records per image")
    p.add_argument("--border", type=int, default=10, help="pixels excluded at every edge (depth, correspondence)")
    p.add_argument("--answer-style", choices=T.ANSWER_STYLES, default="paper",
                   help="paper: '3.52 meters'; fixed: zero-padded '03.52 meters' for tiny models")
    p.add_argument("--fixed-width", type=int, default=T.DEFAULT_FIXED_WIDTH,
                   help="total width of the number in the fixed style")
    p.add_argument("--depth-variant", choices=T.DEPTH_VARIANTS, default="paper",
                   help="tagged: the release notebook's <answer> </answer> prompt")
    p.add_argument("--min-covisibility", type=float, default=0.25, help="pairs kept at covisibility >= this")
    p.add_argument("--occlusion-tol", type=float, default=OCCLUSION_TOL,
                   help="relative depth tolerance of the correspondence visibility check")
    p.add_argument("--world-up", choices=WORLD_UP_CHOICES, default="auto",
                   help="object task: world up axis giving gravity (auto: +z with a pose, camera Y without)")
    p.add_argument("--answer-regions", choices=T.ANSWER_REGIONS, default="filled",
                   help="object task: answers name regions by their box (filled) or as 'Region [i]' (index)")
    p.add_argument("--answer-points", choices=T.ANSWER_POINTS, default="absolute",
                   help="correspondence task: answers name the point in the second image (absolute, released) "
                        "or its shift from the query (offset)")
    p.add_argument("--max-records", type=int, default=None)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    build(a.task, a.resized, a.out, a.seed, a.questions_per_image, a.border, a.answer_style,
          a.fixed_width, a.min_covisibility, a.max_records, a.depth_variant, a.world_up,
          a.occlusion_tol, a.answer_regions, a.answer_points)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.qa.build")
