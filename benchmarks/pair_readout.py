"""Does a model read a pair's motion before its metric moves? (issue 13)

    python benchmarks/pair_readout.py PREDICTIONS.jsonl [--out R.json]

The task comes from the predictions' targets. Pose: the predicted yaw against the true one (the
yaw/pitch/roll answers; spread, correlation, share with the right sign) and the lateral component of
the translation direction (share of pairs with the right sign of x, the first camera's right).
Correspondence, for predictions answered as offsets ("The point moves by (+052, -003)", QA built
with `answer_points: offset`), compares the predicted shifts with the true ones (target value minus
query, both on the 0-1000 scale of the question): the spread of each, their correlation per axis,
and per pair (the mean shift of a pair's questions: on a camera pan most of the motion is one shift
per pair) the correlation and the share of pairs whose mean horizontal shift has the right sign. A
model that regresses to the mean shift but has begun to read the pair shows a per-pair correlation
well above 0 with a predicted spread far below the true one. Unparsed answers are counted and left
out of the statistics (score.py counts them as wrong for PCK).

`pck5_ceilings` says what reading a pair's global shift is worth in PCK@5 % (a hit within 50 of 1000, as
score.py; over every question, unparsed ones included): `zero_motion`; `pair_mean_shift`, every question
answered with its pair's true mean shift (dx and dy); `pair_mean_dx`, the pair's mean dx with the test set's
mean dy; and `linear_read` {c: PCK}, a read of the pair's mean dx that correlates c with the truth and is
calibrated (the truth regressed on it has slope 1: shrunk towards the mean by c^2, plus noise), dy the test
set's mean: the mean over 20 seeded draws.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vlm3.metrics import pck  # noqa: E402
from vlm3.records import read_predictions  # noqa: E402
from vlm3.score import POINT_SCALE, read_answer  # noqa: E402
from vlm3.tasks import ANSWER_KINDS  # noqa: E402


def task_of(target: dict) -> str:
    """The pair task whose answers carry this target kind (correspondence's point/offset, else pose)."""
    return "correspondence" if target.get("kind") in ANSWER_KINDS["correspondence"] else "pose"


def pose_readout(rows: list[dict]) -> dict:
    """Yaw and lateral-direction statistics of pose predictions (euler and direction answers)."""
    yaw_p, yaw_t, lat_p, lat_t = [], [], [], []
    unparsed = 0
    for r in rows:
        kind = r["target"].get("kind")
        if kind not in ("euler", "direction"):
            continue
        p = read_answer(r)
        if p is None:
            unparsed += 1
        elif kind == "euler":
            yaw_p.append(float(p[0]))
            yaw_t.append(float(r["target"]["value"][0]))
        else:
            lat_p.append(float(p[0]))
            lat_t.append(float(r["target"]["value"][0]))
    if len(yaw_p) < 3 or len(lat_p) < 3:
        raise ValueError(f"{len(yaw_p)} parsed yaw and {len(lat_p)} parsed direction answers: too few to compare")
    yp, yt, lp, lt = map(np.array, (yaw_p, yaw_t, lat_p, lat_t))
    return {"task": "pose", "questions": len(rows), "unparsed_yaw_or_direction": unparsed,
            "pred_yaw_std": round(float(yp.std()), 1), "true_yaw_std": round(float(yt.std()), 1),
            "corr_yaw": round(float(np.corrcoef(yp, yt)[0, 1]), 3),
            "yaw_sign_agreement": round(float(np.mean(np.sign(yp) == np.sign(yt))), 3),
            "lateral_sign_agreement": round(float(np.mean(np.sign(lp) == np.sign(lt))), 3),
            "pred_lateral_right_share": round(float(np.mean(lp > 0)), 3),
            "true_lateral_right_share": round(float(np.mean(lt > 0)), 3)}


LINEAR_READS = (0.72, 0.9, 0.95)
PCK5 = 0.05 * POINT_SCALE  # score.py's PCK@5 % on the 0-1000 scale


def _pck5(pred: np.ndarray, true: np.ndarray) -> float:
    return pck(pred, true, [PCK5])[PCK5]


def calibrated_read(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """A read of `x` that correlates c with it and is calibrated: `m + c^2 (x - m) + c s sqrt(1 - c^2) z` (x's
    mean m and std s, z standard normal) has std c s, corr c with x, and x regressed on it has slope 1."""
    m, sd = x.mean(), x.std()
    return m + c * c * (x - m) + c * sd * np.sqrt(1 - c * c) * rng.standard_normal(len(x))


def pck5_ceilings(true: np.ndarray, pair: list[str], reads=LINEAR_READS, draws: int = 20) -> dict:
    """PCK@5 % of answers built from each pair's true global shift (module docstring); `true` (N, 2) shifts
    on the 0-1000 scale, `pair` the pair of each row; `linear_read` reads the pairs' mean dx with
    `calibrated_read`."""
    _, row_pair = np.unique(pair, return_inverse=True)
    n_pairs = row_pair.max() + 1
    mean = np.stack([np.bincount(row_pair, true[:, k], n_pairs) for k in (0, 1)], 1) / np.bincount(row_pair)[:, None]
    per_row = mean[row_pair]
    dx_only = np.c_[per_row[:, 0], np.full(len(true), true[:, 1].mean())]
    rng = np.random.default_rng(0)
    lin = {}
    for c in reads:
        scores = []
        for _ in range(draws):
            read = calibrated_read(mean[:, 0], c, rng)
            scores.append(_pck5(np.c_[read[row_pair], dx_only[:, 1]], true))
        lin[str(c)] = round(float(np.mean(scores)), 4)
    return {"zero_motion": round(_pck5(np.zeros_like(true), true), 4), "pair_mean_shift": round(_pck5(per_row, true), 4),
            "pair_mean_dx": round(_pck5(dx_only, true), 4), "linear_read": lin}


def readout(rows: list[dict]) -> dict:
    """Pose rows go to `pose_readout`; correspondence rows must be offset answers."""
    if rows and task_of(rows[0]["target"]) == "pose":
        return pose_readout(rows)
    pred, true, pair = [], [], []  # every question; an unparsed answer is a NaN shift
    for r in rows:
        t = r["target"]
        if t.get("kind") != "offset":
            raise ValueError(f"{r['id']} turn {r['turn']}: target kind {t.get('kind')!r}, expected 'offset' "
                             "(QA built with answer_points: offset)")
        p = read_answer(r)  # the point the answer names (query + shift), or None
        q = np.asarray(t["query"], float)
        pred.append(np.full(2, np.nan) if p is None else np.asarray(p, float) - q)
        true.append(np.asarray(t["value"], float) - q)
        pair.append(r["id"])
    P_all, T_all = np.array(pred).reshape(-1, 2), np.array(true).reshape(-1, 2)
    ok = np.isfinite(P_all).all(1)
    unparsed = int((~ok).sum())
    if ok.sum() < 3:
        raise ValueError(f"only {int(ok.sum())} parsed offset answers: nothing to correlate")
    P, T = P_all[ok], T_all[ok]
    groups = defaultdict(list)
    for i, k in enumerate(np.array(pair)[ok]):
        groups[k].append(i)
    pm = np.array([P[v, 0].mean() for v in groups.values()])
    tm = np.array([T[v, 0].mean() for v in groups.values()])
    return {
        "task": "correspondence", "questions": len(rows), "unparsed": unparsed, "pairs": len(groups),
        "pred_dx_std": round(float(P[:, 0].std()), 1), "true_dx_std": round(float(T[:, 0].std()), 1),
        "corr_dx": round(float(np.corrcoef(P[:, 0], T[:, 0])[0, 1]), 3),
        "corr_dy": round(float(np.corrcoef(P[:, 1], T[:, 1])[0, 1]), 3),
        "pair_mean_dx_corr": round(float(np.corrcoef(pm, tm)[0, 1]), 3),
        "pair_mean_dx_sign_agreement": round(float(np.mean(np.sign(pm) == np.sign(tm))), 3),
        "pck5": round(_pck5(P_all, T_all), 4),
        "pck5_ceilings": pck5_ceilings(T_all, pair),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("predictions")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    with open(args.predictions) as f:
        first = json.loads(f.readline() or "{}")
    task = task_of(first.get("target") or {})
    res = {"predictions": args.predictions, **readout(read_predictions(args.predictions, task))}
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return res


if __name__ == "__main__":
    main()
