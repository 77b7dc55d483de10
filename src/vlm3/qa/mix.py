"""CLI: weighted mixture of QA files -> `results/qa/{task}/train.jsonl`.

    python -m vlm3.qa.mix --inputs a.jsonl:0.7 b.jsonl:0.3 --n 1000 --seed 0 --out train.jsonl

Source i gets n_i records, the largest-remainder rounding of n * w_i / sum(w) (so the n_i add up to
n exactly). A source with at least n_i records gives n_i distinct ones (sampling without
replacement); a smaller source is sampled with replacement. All drawn lines are shuffled together.
Lines are copied byte for byte; `rng_for(seed, "mix", path name, ...)` makes it deterministic.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from vlm3.utils import atomic_path, read_text, rng_for

log = logging.getLogger("vlm3.qa.mix")


def parse_input(spec: str) -> tuple[Path, float]:
    """"path.jsonl:0.7" -> (path, 0.7); ValueError naming the argument when malformed."""
    path, sep, w = spec.rpartition(":")
    if not sep or not path:
        raise ValueError(f"--inputs {spec!r}: expected PATH:WEIGHT")
    try:
        weight = float(w)
    except ValueError:
        raise ValueError(f"--inputs {spec!r}: weight {w!r} is not a number") from None
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"--inputs {spec!r}: weight must be finite and >= 0")
    return Path(path), weight


def read_lines(path: Path) -> list[str]:
    """Non-empty lines of a QA file, each checked to be a JSON object with an id."""
    if not path.is_file():
        raise ValueError(f"--inputs {path}: file not found")
    lines = [ln for ln in read_text(path).splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        try:
            rec = json.loads(ln)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{i + 1}: not JSON ({e})") from None
        if not isinstance(rec, dict) or "id" not in rec:
            raise ValueError(f"{path}:{i + 1}: not a QA record (JSON object with an 'id')")
    return lines


def allocate(weights: list[float], n: int) -> list[int]:
    """Largest-remainder split of n by weights (ties to the earlier source)."""
    total = sum(weights)
    if total <= 0:
        raise ValueError("--inputs: weights sum to 0")
    exact = [n * w / total for w in weights]
    out = [math.floor(e) for e in exact]
    rest = sorted(range(len(weights)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in rest[: n - sum(out)]:
        out[i] += 1
    return out


def mix(inputs: list[str], n: int, seed: int, out: str | Path) -> list[int]:
    """Write the mixture; return the number of records drawn from each input."""
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    if not inputs:
        raise ValueError("--inputs: at least one PATH:WEIGHT needed")
    specs = [parse_input(s) for s in inputs]
    counts = allocate([w for _, w in specs], n)
    drawn: list[str] = []
    for k, ((path, w), n_i) in enumerate(zip(specs, counts)):
        if n_i == 0:
            continue
        lines = read_lines(path)
        if not lines:
            raise ValueError(f"--inputs {path}: no records, but weight {w} asks for {n_i}")
        rng = rng_for(seed, "mix", k, path.name)
        replace = n_i > len(lines)
        idx = rng.choice(len(lines), size=n_i, replace=replace)
        if replace:
            log.warning("%s: %d records for %d draws; sampling with replacement", path, len(lines), n_i)
        drawn.extend(lines[i] for i in idx.tolist())
        log.info("%s: weight %g -> %d records (of %d)", path, w, n_i, len(lines))
    order = rng_for(seed, "mix", "shuffle").permutation(len(drawn))
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for i in order.tolist():
            f.write(drawn[i] + "\n")
    return counts


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m vlm3.qa.mix", description=__doc__.split("\n\n")[0])
    p.add_argument("--inputs", nargs="+", required=True, metavar="PATH:WEIGHT")
    p.add_argument("--n", type=int, required=True, help="records in the mixture")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    mix(a.inputs, a.n, a.seed, a.out)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.qa.mix")
