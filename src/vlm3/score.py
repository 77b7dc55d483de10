"""Stage `score`: results/predictions/{model}/{task}/{bench}.jsonl -> results/metrics/{model}/{task}/{bench}.json.

    python -m vlm3.score --pred P.jsonl --qa Q.jsonl --out M.json --task depth --seed 0
                         [--model NAME] [--bench NAME] [--n-boot 1000] [--questions-out R.jsonl]

Every prediction line is `{"id", "turn", "question", "prediction" (raw text), "target"}` (read and
checked by `vlm3.records.read_predictions`, the QA file by `vlm3.records.read_qa`); the answer
is read with `vlm3.qa.parse.parse(target["kind"], prediction)`. An answer that does not parse,
parses to a non-finite number ("1e999 meters"), or, for a choice, names no region of the question
is *unparsed*. With `--qa` (the benchmark's QA file, as the score rule passes) every
question of the QA file is scored: one without a prediction line is *missing* (`n_missing`,
`missing_examples`) and a prediction line of no QA question is an error, so a predictions file cut
short can never be scored over fewer questions.

Two conventions, both in every metrics file:
- `strict` (ours, the default; `metrics`, `ci95`): unparsed and missing answers are wrong for every
  accuracy-type metric (delta_k, PCK, accuracies, AUC: denominator = all `n` questions) and left out
  of the error-magnitude metrics (AbsRel, RMSE, EPE, angle errors), as docs/CONTRACTS.md fixes.
- `parsed_only` (VLM3's notebook; `parsed_only.metrics`, `.ci95`, `.n`): the same metrics over the
  parsed answers only, unparsed and missing questions dropped from every denominator.

Output: `{"model", "task", "bench", "n", "n_unparsed", "n_missing", "metrics", "ci95",
"parsed_only", "notes", "unparsed_examples", "missing_examples"}`, plus `"eval_manifest": {"path",
"sha256"}` with `--manifest` (the benchmark's fixed evaluation set, `vlm3.qa.leak`). `n` counts questions (the QA
file's, or the prediction lines without `--qa`). `ci95` holds the 95 % percentile bootstrap
interval (resampling questions; pose: pairs) of the headline metrics, deterministic for `--seed`.
`notes` states units and definitions; `*_examples` are the first few in file order.
`--questions-out` writes the per-question results (`{"id", "turn", "prediction", "parsed",
"target", "correct", "error"}`, see `question_rows`) for inspection.

Task definitions (all accuracies and AUCs are fractions in [0, 1]):
- depth: delta1/2/3 = share of the n questions with max(p/g, g/p) < 1.25^k; abs_rel, rmse (m).
- object (SpatialRGPT-Bench style): per category `acc/{category}`, plus `abs_rel/{category}` for
  the metric ones; distance-type answers are correct iff 0.75 g <= p <= 1.25 g, direction iff the
  clock-hour error is <= 1 (`direction_deg_err` = mean |hour error| x 30 degrees), yes/no and
  choice by equality. `acc/{a}/{b}` groups the paper's qualitative columns (predicate + choice
  questions of either word). qualitative_acc = over all qualitative questions; quantitative_acc =
  mean of the per-category accuracies of the quantitative categories (as the paper's "overall");
  quantitative_acc_micro; quantitative_abs_rel = mean of the categories' AbsRel; overall_acc =
  over all questions.
- correspondence: answers and targets are [0, 1000] normalised pixels of the second image
  (x_n = round(x / W * 1000)); epe is in those units, epe_px in pixels of the resized second
  image when the target carries `image_size_2` = [W, H]. pck_k = share of the n questions with
  error < k % of the 1000 range (10 k units), k = 1, 3, 5.
- pose: the questions of one `id` form a pair. Rotation error = rotation angle of
  R_pred^T R_gt, R from the yaw/pitch/roll (`euler`) answer; translation error = angle between
  the predicted and true unit vectors of the `direction` answer; pair error = max of the two
  (a failure at every threshold when either answer is unparsed; a pair lacking either question
  is not scored).
  auc{5,10,20,30} = `pose_auc(errors, t, "histogram")` (VGGT: 1-degree bins), *_trapezoid the
  SuperGlue/LoFTR variant. rotation_angle_err = mean |p - g| degrees of the `rotation_angle`
  answers, distance_abs_rel over the `distance` answers.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vlm3 import metrics as M
from vlm3.geometry.pose import ypr_to_rotation
from vlm3.qa import templates
from vlm3.qa.leak import read_manifest
from vlm3.qa.parse import parse, resolve_choice
from vlm3.records import query_point, question_boxes, questions, read_predictions, read_qa, target_value
from vlm3.tasks import TASKS
from vlm3.utils import atomic_path

log = logging.getLogger("vlm3.score")

N_BOOT = 1000
N_EXAMPLES = 5
POINT_SCALE = 1000          # correspondence answers live in [0, 1000] (closed, as released)
PCK_PERCENT = (1, 3, 5)
AUC_THRESHOLDS = (5, 10, 20, 30)
# The paper's qualitative columns: both predicate words + the choice questions of either word.
QUAL_GROUPS = (("below", "above"), ("left", "right"), ("big", "small"), ("tall", "short"),
               ("wide", "thin"), ("behind", "front"))


# ----------------------------------------------------------------------------- reading


def _finite(val) -> bool:
    """Every number of a parsed answer is finite (an answer of words only passes)."""
    try:
        return bool(np.all(np.isfinite(np.asarray(val, dtype=float))))
    except (TypeError, ValueError):
        return True


def read_answer(rec: dict):
    """The parsed answer of one prediction line, or None when unparsed, non-finite or missing
    (`prediction` None)."""
    if rec["prediction"] is None:
        return None
    kind = rec["target"]["kind"]
    val = parse(kind, rec["prediction"])
    if kind == "choice":
        return resolve_choice(val, question_boxes(rec))
    if kind == "offset" and val is not None:  # a shift from the query: the point it names
        qx, qy = query_point(rec)
        val = (qx + val[0], qy + val[1])
    if kind == "direction" and val is not None:
        v = np.asarray(val[1], dtype=float)
        return None if not np.all(np.isfinite(v)) or np.linalg.norm(v) == 0 else v
    return val if val is not None and _finite(val) else None


def align(recs: list[dict], qa_path: str | Path, pred_path: str | Path = "--pred") -> list[dict]:
    """The prediction lines followed by one line per QA question that has none (`prediction` None,
    `missing` True, the QA's question and target). A line of no QA question, or whose target is not
    the QA's, is a ValueError naming both files."""
    expected = {}
    for rec in read_qa(qa_path, "--qa"):
        for q in questions(rec):
            expected[(q["id"], q["turn"])] = q
    for ln, r in enumerate(recs, 1):
        q = expected.pop((r["id"], r["turn"]), None)
        if q is None:
            raise ValueError(f"{pred_path}:{ln}: question id={r['id']!r} turn={r['turn']!r} is not in the QA file {qa_path}")
        if q["target"] != r["target"]:
            raise ValueError(f"{pred_path}:{ln}: target of id={r['id']!r} turn={r['turn']!r} differs from the QA file {qa_path}")
    return recs + [{**q, "prediction": None, "missing": True} for q in expected.values()]


# ----------------------------------------------------------------------------- helpers


def _ci(values, stat: Callable, seed: int, n_boot: int) -> list[float]:
    """95 % percentile bootstrap (vlm3.metrics.bootstrap_ci); `values` an array or a tuple of
    arrays resampled jointly by row."""
    lo, hi = M.bootstrap_ci(values, stat, n_boot=n_boot, seed=seed)
    return [float(lo), float(hi)]


def _nanmean(x) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else float("nan")


def _values(recs) -> list:
    return [target_value(r["target"], f"id {r['id']} turn {r['turn']}") for r in recs]


# ----------------------------------------------------------------------------- depth


def score_depth(recs, answers, seed, n_boot):
    gt = np.array(_values(recs), dtype=float)
    pred = np.array([np.nan if a is None else float(a) for a in answers])
    mets = {"delta1": M.delta1(pred, gt), "delta2": M.delta2(pred, gt), "delta3": M.delta3(pred, gt),
            "abs_rel": M.abs_rel(pred, gt), "rmse": M.rmse(pred, gt)}
    ci = {"delta1": _ci((pred, gt), M.delta1, seed, n_boot),
          "abs_rel": _ci((pred, gt), M.abs_rel, seed, n_boot)}
    notes = {"units": "metres; delta_k over all n questions (unparsed = wrong), abs_rel/rmse over parsed"}
    return mets, ci, notes, {"pred": pred, "gt": gt, "error": np.abs(pred - gt) / gt,
                             "correct": M.delta_correct(pred, gt, 1)}


# ----------------------------------------------------------------------------- object


def _category(rec) -> str:
    cat = rec["target"].get("category")
    if cat not in templates.OBJECT_CATEGORIES:
        raise ValueError(f"id {rec['id']}: object target needs a known 'category', got {cat!r}")
    return cat


def score_object(recs, answers, seed, n_boot):
    n = len(recs)
    cats = np.array([_category(r) for r in recs])
    kinds = np.array([r["target"]["kind"] for r in recs])
    gt = _values(recs)
    correct = np.zeros(n, dtype=bool)
    rel = np.full(n, np.nan)       # AbsRel of parsed distance-type answers
    deg = np.full(n, np.nan)       # clock error in degrees of parsed direction answers
    for i, (k, g, a) in enumerate(zip(kinds, gt, answers)):
        if a is None:
            continue
        if k == "distance":
            correct[i] = bool(M.spatial_quantitative_correct([float(a)], [float(g)])[0])
            rel[i] = M.spatial_abs_rel([float(a)], [float(g)])
        elif k == "clock":
            correct[i] = bool(M.clock_correct([int(a)], [int(g)])[0])
            deg[i] = 30.0 * float(M.clock_hour_error([int(a)], [int(g)])[0])
        elif k == "yesno":
            correct[i] = bool(a) == bool(g)
        else:  # choice: a region index (resolved against the question's boxes)
            correct[i] = int(a) == int(g)
    qual = np.array([templates.OBJECT_CATEGORIES[c]["type"] == "qualitative" for c in cats])
    quant_cats = sorted(set(cats[~qual].tolist()))

    def quant_macro(idx):
        accs = [correct[idx][cats[idx] == c].mean() for c in quant_cats if (cats[idx] == c).any()]
        return float(np.mean(accs)) if accs else float("nan")

    def share(mask):
        return lambda idx: float(correct[idx][mask[idx]].mean()) if mask[idx].any() else float("nan")

    mets: dict[str, float] = {}
    for c in sorted(set(cats.tolist())):
        m = cats == c
        mets[f"acc/{c}"] = M.accuracy(correct[m])
        if templates.OBJECT_CATEGORIES[c]["kind"] == "distance":
            mets[f"abs_rel/{c}"] = _nanmean(rel[m])
    for words in QUAL_GROUPS:
        m = np.array([c.split("_")[0] in words for c in cats]) & qual
        if m.any():
            mets["acc/" + "/".join(words)] = M.accuracy(correct[m])
    idx = np.arange(n)
    mets["qualitative_acc"] = share(qual)(idx)
    mets["quantitative_acc"] = quant_macro(idx)
    mets["quantitative_acc_micro"] = share(~qual)(idx)
    mets["quantitative_abs_rel"] = _nanmean([mets[f"abs_rel/{c}"] for c in quant_cats if f"abs_rel/{c}" in mets])
    mets["direction_deg_err"] = _nanmean(deg)
    mets["overall_acc"] = M.accuracy(correct)
    ci = {"overall_acc": _ci(idx, lambda i: float(correct[i].mean()), seed, n_boot),
          "qualitative_acc": _ci(idx, share(qual), seed, n_boot),
          "quantitative_acc": _ci(idx, quant_macro, seed, n_boot)}
    notes = {"quantitative": "correct iff 0.75*gt <= pred <= 1.25*gt (metres); abs_rel over parsed",
             "direction": "correct iff clock-hour error <= 1; direction_deg_err = 30 deg per hour, parsed",
             "quantitative_acc": "mean over quantitative categories (paper's overall); *_micro over questions"}
    return mets, ci, notes, {"correct": correct, "error": np.where(np.isfinite(rel), rel, deg)}


# ----------------------------------------------------------------------------- correspondence


def score_correspondence(recs, answers, seed, n_boot):
    n = len(recs)
    gt = np.array(_values(recs), dtype=float).reshape(n, 2)
    pred = np.array([[np.nan, np.nan] if a is None else a for a in answers], dtype=float)
    thresholds = [k / 100.0 * POINT_SCALE for k in PCK_PERCENT]
    mets = {"epe": M.epe(pred, gt)}
    has_size = all("image_size_2" in r["target"] for r in recs)
    if has_size:
        # normalised -> pixels of the resized second image: x = x_n / 1000 * W (bin lower edge,
        # the same map for pred and gt, so the difference is exact up to the normalisation)
        wh = np.array([r["target"]["image_size_2"] for r in recs], dtype=float)
        mets["epe_px"] = M.epe(pred / POINT_SCALE * wh, gt / POINT_SCALE * wh)
    for k, v in zip(PCK_PERCENT, M.pck(pred, gt, thresholds).values()):
        mets[f"pck_{k}"] = v
    ci = {"epe": _ci((pred, gt), M.epe, seed, n_boot),
          "pck_5": _ci((pred, gt), lambda p, g: M.pck(p, g, [thresholds[-1]])[thresholds[-1]], seed, n_boot)}
    notes = {"epe": "mean L2 error in [0, 1000] normalised units of the second image, parsed answers only",
             "pck_k": "share of all n questions with error < 10*k normalised units (k % of the range)"}
    if has_size:
        notes["epe_px"] = "mean L2 error in pixels of the resized second image, parsed answers only"
    err = M.point_errors(pred, gt)
    return mets, ci, notes, {"pred": pred, "gt": gt, "error": err,
                             "correct": np.where(np.isfinite(err), err < thresholds[-1], False)}


# ----------------------------------------------------------------------------- pose


def _direction_value(target: dict, where: str) -> np.ndarray:
    v = target_value(target, where)
    if isinstance(v, dict):
        v = v.get("unit", v.get("vector"))
    return np.asarray(v, dtype=float).reshape(3)


def pose_pair_errors(recs, answers) -> dict[str, dict]:
    """{pair id: {"rot", "trans", "err"}} degrees for every id with both an `euler` and a
    `direction` question; an unparsed answer makes its error NaN (a failure at every threshold)."""
    pairs: dict[str, dict] = {}
    for r, a in zip(recs, answers):
        kind = r["target"]["kind"]
        if kind not in ("euler", "direction"):
            continue
        where = f"id {r['id']} turn {r['turn']}"
        p = pairs.setdefault(r["id"], {})
        if kind == "euler":
            R_gt = ypr_to_rotation(*target_value(r["target"], where))
            p["rot"] = float("nan") if a is None else M.rotation_error_deg(ypr_to_rotation(*a), R_gt)
        else:
            g = _direction_value(r["target"], where)
            p["trans"] = float("nan") if a is None else M.translation_angle_deg(a, g)
    out = {}
    for pid, p in pairs.items():
        if "rot" in p and "trans" in p:
            err = float("nan") if np.isnan(p["rot"]) or np.isnan(p["trans"]) else max(p["rot"], p["trans"])
            out[pid] = {"rot": p["rot"], "trans": p["trans"], "err": err}
    return out


def score_pose(recs, answers, seed, n_boot):
    pairs = pose_pair_errors(recs, answers)
    ids = sorted(pairs)
    if not ids:
        raise ValueError("pose predictions hold no pair with both a yaw/pitch/roll and a direction question")
    err = np.array([pairs[i]["err"] for i in ids], dtype=float)
    mets: dict[str, float] = {"n_pairs": float(len(ids))}
    for t in AUC_THRESHOLDS:
        mets[f"auc{t}"] = M.pose_auc(err, t, method="histogram")
    for t in AUC_THRESHOLDS:
        mets[f"auc{t}_trapezoid"] = M.pose_auc(err, t, method="trapezoid")
    rot = np.array([pairs[i]["rot"] for i in ids])
    trans = np.array([pairs[i]["trans"] for i in ids])
    mets["rot_err_median"] = float(np.nanmedian(rot)) if np.isfinite(rot).any() else float("nan")
    mets["trans_err_median"] = float(np.nanmedian(trans)) if np.isfinite(trans).any() else float("nan")
    ang = [abs(float(a) - float(r["target"]["value"])) for r, a in zip(recs, answers)
           if a is not None and r["target"]["kind"] == "rotation_angle"]
    mets["rotation_angle_err"] = _nanmean(ang)
    dist = [(np.nan if a is None else float(a), float(r["target"]["value"]))
            for r, a in zip(recs, answers) if r["target"]["kind"] == "distance"]
    mets["distance_abs_rel"] = M.abs_rel(*zip(*dist)) if dist else float("nan")
    ci = {"auc30": _ci(err, lambda e: M.pose_auc(e, 30, method="histogram"), seed, n_boot)}
    notes = {"pair_error": "max(rotation error of the yaw/pitch/roll answer, translation-direction "
                           "angle error), degrees; unparsed = failure; bootstrap over pairs",
             "auc": "aucT: histogram (VGGT, 1-degree bins); aucT_trapezoid: SuperGlue/LoFTR",
             "rotation_angle_err": "mean |pred - gt| degrees of the rotation-angle answers (parsed)",
             "distance_abs_rel": "AbsRel of the translation-distance answers (parsed), metres"}
    per_q = np.full(len(recs), np.nan)
    correct = np.full(len(recs), None, dtype=object)
    for i, (r, a) in enumerate(zip(recs, answers)):
        kind = r["target"]["kind"]
        if kind in ("euler", "direction") and r["id"] in pairs:
            per_q[i] = pairs[r["id"]]["rot" if kind == "euler" else "trans"]
            e = pairs[r["id"]]["err"]
            correct[i] = bool(np.isfinite(e) and e < AUC_THRESHOLDS[-1])
        elif kind == "rotation_angle" and a is not None:
            per_q[i] = abs(float(a) - float(r["target"]["value"]))
        elif kind == "distance" and a is not None:
            per_q[i] = abs(float(a) - float(r["target"]["value"])) / float(r["target"]["value"])
    return mets, ci, notes, {"pair_err": err, "pair_ids": ids, "error": per_q, "correct": correct}


SCORERS = {"depth": score_depth, "object": score_object,
           "correspondence": score_correspondence, "pose": score_pose}


# ----------------------------------------------------------------------------- driver


def _examples(rows: list[dict]) -> list[dict]:
    return [{"id": r["id"], "turn": r["turn"], "prediction": r["prediction"]} for r in rows[:N_EXAMPLES]]


def _scorable(task: str, recs: list[dict], answers: list) -> bool:
    """Can the task's scorer run on these lines (pose needs a pair with both answers)?"""
    return bool(recs) and (task != "pose" or bool(pose_pair_errors(recs, answers)))


def score_records(recs: list[dict], task: str, seed: int = 0, n_boot: int = N_BOOT) -> tuple[dict, dict]:
    """Score prediction lines (missing ones carry `prediction` None and `missing` True): (partial
    metrics JSON, per-item details with `answers`)."""
    answers = [read_answer(r) for r in recs]
    missing = [r for r in recs if r.get("missing")]
    unparsed = [r for r, a in zip(recs, answers) if a is None and not r.get("missing")]
    mets, ci, notes, details = SCORERS[task](recs, answers, seed, n_boot)
    keep = [i for i, a in enumerate(answers) if a is not None]
    sub_recs, sub_answers = [recs[i] for i in keep], [answers[i] for i in keep]
    if _scorable(task, sub_recs, sub_answers):
        p_mets, p_ci, _, _ = SCORERS[task](sub_recs, sub_answers, seed, n_boot)
    else:
        p_mets, p_ci = {k: math.nan for k in mets}, {k: [math.nan, math.nan] for k in ci}
    notes["conventions"] = ("strict (metrics, ci95): unparsed and missing answers count as wrong over all n "
                            "questions; parsed_only: the same metrics over the parsed answers only")
    out = {"n": len(recs), "n_unparsed": len(unparsed), "n_missing": len(missing),
           "metrics": _json_dict(mets), "ci95": {k: [_json_float(x) for x in v] for k, v in ci.items()},
           "parsed_only": {"n": len(keep), "metrics": _json_dict(p_mets),
                           "ci95": {k: [_json_float(x) for x in v] for k, v in p_ci.items()}},
           "notes": notes,
           "unparsed_examples": _examples(unparsed),
           "missing_examples": _examples(missing)}
    return out, {**details, "answers": answers}


def _json_dict(d: dict) -> dict:
    return {k: _json_float(v) for k, v in d.items()}


def _json_float(v):
    v = float(v)
    return v if math.isfinite(v) else None


def _plain(v):
    """A parsed answer as JSON (numpy arrays and tuples as lists)."""
    if isinstance(v, np.ndarray):
        return [_json_float(x) for x in v.tolist()]
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return _json_float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def question_rows(recs: list[dict], details: dict) -> list[dict]:
    """Per-question results: the raw prediction (null when missing), the parsed answer (null when
    unparsed or missing), the target, `correct` (the task's accuracy criterion: depth delta1,
    object the category's rule, correspondence PCK@5 %, pose the pair error < 30 degrees for the
    yaw/pitch/roll and direction questions, null for the others) and `error` (depth and distance
    AbsRel, clock degrees, correspondence EPE units, pose degrees; null when unparsed)."""
    out = []
    for i, r in enumerate(recs):
        c = details["correct"][i]
        out.append({"id": r["id"], "turn": r["turn"], "prediction": r["prediction"],
                    "parsed": _plain(details["answers"][i]), "target": r["target"],
                    "correct": None if c is None else bool(c), "error": _json_float(details["error"][i])})
    return out


def score_file(pred: str | Path, out: str | Path, task: str, seed: int = 0, n_boot: int = N_BOOT,
               model: str | None = None, bench: str | None = None, qa: str | Path | None = None,
               questions_out: str | Path | None = None, manifest: str | Path | None = None) -> dict:
    """Score one predictions file (against every question of `qa` when given) and write the metrics
    JSON atomically (and the per-question results to `questions_out`); returns the record."""
    if task not in TASKS:
        raise ValueError(f"--task {task!r}: must be one of {', '.join(TASKS)}")
    pred = Path(pred)
    recs = read_predictions(pred, task, allow_empty=qa is not None)
    if qa is not None:
        recs = align(recs, qa, pred)
    body, details = score_records(recs, task, seed, n_boot)
    result = {"model": model or pred.parent.parent.name, "task": task, "bench": bench or pred.stem, **body}
    if manifest is not None:
        result["eval_manifest"] = {"path": str(manifest), "sha256": read_manifest(manifest)["sha256"]}
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    if questions_out is not None:
        with atomic_path(questions_out) as tmp, open(tmp, "w") as f:
            for row in question_rows(recs, details):
                f.write(json.dumps(row) + "\n")
    log.info("%s %s %s: n=%d unparsed=%d missing=%d %s", result["model"], task, result["bench"], result["n"],
             result["n_unparsed"], result["n_missing"], {k: result["metrics"][k] for k in result["ci95"]})
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pred", required=True, help="predictions JSONL")
    p.add_argument("--qa", help="the benchmark's QA JSONL: every question of it is scored (missing = wrong)")
    p.add_argument("--out", required=True, help="metrics JSON to write")
    p.add_argument("--questions-out", help="per-question results JSONL to write")
    p.add_argument("--manifest", help="the benchmark's manifest (vlm3.qa.leak): its sha256 goes into the metrics")
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--n-boot", type=int, default=N_BOOT, help="bootstrap resamples")
    p.add_argument("--model", help="model name (default: the predictions file's grandparent folder)")
    p.add_argument("--bench", help="benchmark name (default: the predictions file's stem)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    score_file(a.pred, a.out, a.task, a.seed, a.n_boot, a.model, a.bench, a.qa, a.questions_out, a.manifest)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.score")
