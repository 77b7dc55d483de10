"""Does a model read a pair's image motion before it scores on PCK? (issue 13)

    python benchmarks/offset_readout.py PREDICTIONS.jsonl [--out R.json]

For correspondence predictions answered as offsets ("The point moves by (+052, -003)", QA built
with `answer_points: offset`), compares the predicted shifts with the true ones (target value minus
query, both on the 0-1000 scale of the question): the spread of each, their correlation per axis,
and per pair (the mean shift of a pair's questions: on a camera pan most of the motion is one shift
per pair) the correlation and the share of pairs whose mean horizontal shift has the right sign. A
model that regresses to the mean shift but has begun to read the pair shows a per-pair correlation
well above 0 with a predicted spread far below the true one. Unparsed answers are counted and left
out of the statistics (score.py counts them as wrong for PCK).
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

from vlm3.records import read_predictions  # noqa: E402
from vlm3.score import read_answer  # noqa: E402


def readout(rows: list[dict]) -> dict:
    pred, true, pair = [], [], []
    unparsed = 0
    for r in rows:
        t = r["target"]
        if t.get("kind") != "offset":
            raise ValueError(f"{r['id']} turn {r['turn']}: target kind {t.get('kind')!r}, expected 'offset' "
                             "(QA built with answer_points: offset)")
        p = read_answer(r)  # the point the answer names (query + shift), or None
        if p is None:
            unparsed += 1
            continue
        q = np.asarray(t["query"], float)
        pred.append(np.asarray(p, float) - q)
        true.append(np.asarray(t["value"], float) - q)
        pair.append(r["id"])
    if len(pred) < 3:
        raise ValueError(f"only {len(pred)} parsed offset answers: nothing to correlate")
    P, T = np.array(pred), np.array(true)
    groups = defaultdict(list)
    for i, k in enumerate(pair):
        groups[k].append(i)
    pm = np.array([P[v, 0].mean() for v in groups.values()])
    tm = np.array([T[v, 0].mean() for v in groups.values()])
    return {
        "questions": len(rows), "unparsed": unparsed, "pairs": len(groups),
        "pred_dx_std": round(float(P[:, 0].std()), 1), "true_dx_std": round(float(T[:, 0].std()), 1),
        "corr_dx": round(float(np.corrcoef(P[:, 0], T[:, 0])[0, 1]), 3),
        "corr_dy": round(float(np.corrcoef(P[:, 1], T[:, 1])[0, 1]), 3),
        "pair_mean_dx_corr": round(float(np.corrcoef(pm, tm)[0, 1]), 3),
        "pair_mean_dx_sign_agreement": round(float(np.mean(np.sign(pm) == np.sign(tm))), 3),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("predictions")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    res = {"predictions": args.predictions, **readout(read_predictions(args.predictions, "correspondence"))}
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return res


if __name__ == "__main__":
    main()
