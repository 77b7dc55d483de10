"""Generic number skills as text-only chat records: the pre-training corpus of the tiny base model.

    python -m vlm3.model.skills --n 60000 --seed 0 --out results/qa/skills/train.jsonl

Qwen3-VL-4B reads and compares numbers before VLM3 fine-tunes it; the random-init tiny model of the
embedded default cannot, so its object questions (regions named by their normalised boxes) measured
whether a random transformer learns arithmetic in a few hundred steps rather than whether the object
supervision is learnable (benchmarks/RESULTS.md, "A base model that can compare numbers"). This corpus
gives the tiny model that prior skill and nothing of the benchmark: no image, no 3D, spatial or region
word; integers 0-999 (the range of normalised coordinates) in six exercises:

- which of two numbers is larger; which is smaller;
- three numbers sorted from small to large;
- of two lists of four numbers, which has the larger (smaller) k-th number;
- of two lists, which has the larger (smaller) sum of its first and third (second and fourth) numbers;
- whether list A's k-th number is larger than list B's (yes / no).

The lists are box-shaped, (a, b, c, d) with a < c and b < d, as a VLM's grounding pre-training writes
normalised boxes, and the sums asked are those of a box's centre; the words stay generic ("list",
"number"). What it buys, measured on the tiny model's left/right questions after the same fine-tuning
(benchmarks/RESULTS.md, "A base model that can compare numbers"): 0.69 against 0.57 from random init;
the variants tried reach 0.55-0.85, so the corpus's form matters and is not settled.

Records follow docs/CONTRACTS.md with `images: []` and task "skills"; the same seed gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vlm3.utils import atomic_path, rng_for

log = logging.getLogger("vlm3.model.skills")

ORDINALS = ("first", "second", "third", "fourth")
EXERCISES = ("larger", "smaller", "sort", "kth", "sum", "kth_yesno")
SUMS = ((0, 2), (1, 3))  # the sums asked: 1st + 3rd and 2nd + 4th number (twice a box's centre)


def _box_shaped(rng: np.random.Generator) -> np.ndarray:
    """Four integers (a, b, c, d) with a < c and b < d, the shape in which normalised boxes are written."""
    x, y = np.sort(rng.choice(1000, 2, replace=False)), np.sort(rng.choice(1000, 2, replace=False))
    return np.array([x[0], y[0], x[1], y[1]])


def _lst(v) -> str:
    return "(" + ", ".join(str(int(x)) for x in v) + ")"


def _which(a_wins: bool) -> str:
    return "The first list." if a_wins else "The second list."


def exercise(rng: np.random.Generator, kind: str) -> tuple[str, str] | None:
    """One (question, answer) of `kind`; None when the draw is a tie (the caller draws again)."""
    if kind in ("larger", "smaller"):
        x, y = (int(v) for v in rng.choice(1000, 2, replace=False))
        pick = max(x, y) if kind == "larger" else min(x, y)
        return f"Which is {kind}, {x} or {y}?", f"{pick} is {kind}."
    if kind == "sort":
        xs = [int(v) for v in rng.choice(1000, 3, replace=False)]
        return (f"Sort {', '.join(map(str, xs))} from small to large.",
                ", ".join(map(str, sorted(xs))) + ".")
    a, b = _box_shaped(rng), _box_shaped(rng)
    larger = bool(rng.integers(2))
    word = "larger" if larger else "smaller"
    if kind in ("kth", "kth_yesno"):
        k = int(rng.integers(4))
        if a[k] == b[k]:
            return None
        if kind == "kth_yesno":
            return (f"Is the {ORDINALS[k]} number of {_lst(a)} larger than that of {_lst(b)}?",
                    "Yes." if a[k] > b[k] else "No.")
        return (f"Of the lists {_lst(a)} and {_lst(b)}, which has the {word} {ORDINALS[k]} number?",
                _which((a[k] > b[k]) == larger))
    i, j = SUMS[int(rng.integers(len(SUMS)))]
    sa, sb = int(a[i] + a[j]), int(b[i] + b[j])
    if sa == sb:
        return None
    return (f"Of the lists {_lst(a)} and {_lst(b)}, which has the {word} sum of its {ORDINALS[i]} "
            f"and {ORDINALS[j]} numbers?", _which((sa > sb) == larger))


def skill_records(n: int, seed: int) -> Iterator[dict]:
    """`n` records, exercises in turn (record i is EXERCISES[i % 6]), ids "skills/train/{i:06d}"."""
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    for i in range(n):
        rng = rng_for(seed, "skills", i)
        kind = EXERCISES[i % len(EXERCISES)]
        qa = None
        while qa is None:
            qa = exercise(rng, kind)
        question, answer = qa
        yield {"id": f"skills/train/{i:06d}", "task": "skills", "dataset": "skills", "split": "train",
               "images": [],
               "messages": [{"role": "user", "content": [{"type": "text", "text": question}]},
                            {"role": "assistant", "content": [{"type": "text", "text": answer}]}]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m vlm3.model.skills", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, required=True, help="number of records")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        recs = list(tqdm(skill_records(a.n, a.seed), total=a.n, desc="skills corpus", unit="rec", leave=False))
    except ValueError as e:
        raise SystemExit(f"vlm3.model.skills: {e}") from None
    with atomic_path(a.out) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in recs))
    log.info("wrote %d skill records to %s", len(recs), a.out)


if __name__ == "__main__":
    main()
