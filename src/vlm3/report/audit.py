"""Claims audit: every paper claim beside its reproduced value -> results/audit/report.{json,md}.

CLI: `python -m vlm3.report.audit --claims paper/claims.yaml --metrics M [M ...]
--config config/config.yaml --out results/audit/report.json` (the Markdown twin beside it: report.md)

Per claim (paper/claims.yaml) and per configured model that reproduces its row (`reproduced_by`):
the claimed value as printed, the reproduced value with its 95 % bootstrap CI (in the paper's
units), the difference reproduced - claimed, and a verdict:
- `reproduced`: the table's tolerance rule holds (ci_overlap: claimed +- half a printed unit
  meets the CI; without a CI |diff| <= abs + half a printed unit; printed: |diff| <= half a unit),
- `not reproduced`: it does not,
- `not run`: nothing to compare (no model stands for the row, no configured benchmark maps to the
  column, or the metrics file is missing), with the reason.
With the embedded default no paper benchmark is configured: the report says so plainly and audits
the synthetic replica's own claims (`synthetic_claims`, rule ci_disjoint) instead.
`--runs` (the checkpoints of the fine-tuning runs the models use) adds a "Training runs" section:
steps reached of max_steps and what stopped each run; a run ended by its wall-clock cap
(`max_minutes`) is flagged at the top, since its checkpoint and every number from it depend on the
machine's speed.
The JSON holds the same content (NaN as null), keys sorted, so reruns are byte-identical.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import replace
from pathlib import Path

from vlm3.report.claims import (
    Claims,
    SyntheticClaim,
    load_claims,
    models_matching,
    reproduced,
    same_as_checks,
    stated_mean_checks,
)
from vlm3.report.paper_tables import load_config
from vlm3.report.tables import load_metrics
from vlm3.utils import atomic_path

log = logging.getLogger("vlm3.report.audit")

VERDICTS = ("reproduced", "not reproduced", "not run")
NOT_COMPARABLE = ("This run uses the embedded default: a synthetic benchmark rendered by the project and a "
                  "tiny Qwen3-VL-architecture model. Its numbers are NOT comparable with the paper's, so "
                  "every paper claim is `not run`. The synthetic replica's own claims are audited instead.")
NO_METRICS = ("The configured benchmarks map to columns of the paper's tables, but no metrics file of a model "
              "that reproduces a paper row exists yet, so every paper claim is `not run` (reasons below).")
NO_MAPPING = ("No configured benchmark maps to a column of the paper's tables, so no paper claim could "
              "be checked (every paper claim is `not run`).")


def _f(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def judge(claimed: float, half_unit: float, value: float, lo: float, hi: float, rule: str,
          abs_tol: float) -> bool:
    """Does a reproduced value (and CI) reproduce a claim under the tolerance rule?"""
    if rule == "printed":
        return abs(value - claimed) <= half_unit + 1e-12
    if math.isfinite(lo) and math.isfinite(hi):
        return claimed + half_unit >= lo - 1e-12 and claimed - half_unit <= hi + 1e-12
    return abs(value - claimed) <= abs_tol + half_unit + 1e-12


def audit_paper_claims(claims: Claims, metrics: dict, config: dict) -> list[dict]:
    rows = []
    for cl in claims.claims():
        t = claims.tables[cl.table]
        col = t.column(cl.column)
        base = {"key": cl.key, "table": cl.table, "row": cl.row, "column": cl.column,
                "claimed": cl.text, "claimed_value": cl.value, "half_unit": cl.half_unit,
                "rule": col.rule, "abs_tol": col.abs_tol, "higher_better": col.higher_better}
        models = models_matching(claims.reproduced_by.get(cl.row, []), config, t.task)
        if not models:
            rows.append({**base, "model": None, "reproduced": None, "ci95": None, "diff": None,
                         "parsed_only": None, "counts": "", "verdict": "not run", "source": None,
                         "reason": f"no configured model reproduces the paper row {cl.row!r}"})
            continue
        for model in models:
            r, why = reproduced(claims, cl.table, cl.column, model, metrics, config)
            if r is None:
                rows.append({**base, "model": model, "reproduced": None, "ci95": None, "diff": None,
                             "parsed_only": None, "counts": "", "verdict": "not run", "reason": why,
                             "source": None})
                continue
            ok = judge(cl.value, cl.half_unit, r.value, r.lo, r.hi, col.rule, col.abs_tol)
            ci = [_f(r.lo), _f(r.hi)] if math.isfinite(r.lo) and math.isfinite(r.hi) else None
            rows.append({**base, "model": model, "reproduced": r.value, "ci95": ci,
                         "diff": r.value - cl.value, "parsed_only": _f(r.parsed_only), "counts": r.counts,
                         "verdict": "reproduced" if ok else "not reproduced",
                         "reason": "", "source": r.source})
    return rows


class _NoValue(str):
    """Why a model has no value for a metric; `file_exists`: its metrics file is there but the
    metric is not finite (e.g. no parsed answer, so no EPE)."""

    file_exists = False


def _no_value(text: str, file_exists: bool) -> _NoValue:
    out = _NoValue(text)
    out.file_exists = file_exists
    return out


def _metric(metrics: dict, model: str, s: SyntheticClaim, metric: str) -> tuple[float, float, float] | _NoValue:
    rec = metrics.get(s.task, {}).get(model, {}).get(s.bench)
    path = f"results/metrics/{model}/{s.task}/{s.bench}.json"
    if rec is None:
        return _no_value(f"missing {path}", False)
    v = rec["metrics"].get(metric)
    if v is None or not math.isfinite(float(v)):
        return _no_value(f"{path} has no finite {metric}", True)
    ci = (rec.get("ci95") or {}).get(metric) or [None, None]
    lo = math.nan if ci[0] is None else float(ci[0])
    hi = math.nan if ci[1] is None else float(ci[1])
    return float(v), lo, hi


def _ci_beyond(vb: tuple[float, float, float], vo: tuple[float, float, float], higher_better: bool) -> bool:
    """ci_disjoint: the better model's 95 % CI lies strictly beyond the other's (without a CI the
    point value stands for both bounds)."""
    b_lo, b_hi = (x if math.isfinite(x) else vb[0] for x in vb[1:])
    o_lo, o_hi = (x if math.isfinite(x) else vo[0] for x in vo[1:])
    return b_lo > o_hi if higher_better else b_hi < o_lo


def audit_synthetic(claims: Claims, metrics: dict, config: dict) -> list[dict]:
    """The replica's own claims: better model's CI strictly beyond every competitor's CI."""
    out = []
    for s in claims.synthetic.values():
        benches = [f"{b['dataset']}_{b['split']}" for b in (config.get("benchmarks") or {}).get(s.task, [])]
        candidates = s.benches or (s.bench,)
        s = replace(s, bench=next((b for b in candidates if b in benches), s.bench))
        res = {"key": s.key, "statement": s.statement, "task": s.task, "bench": s.bench,
               "metric": s.metric, "rule": s.rule, "comparisons": []}
        better = models_matching([s.better], config, s.task)
        reasons = []
        if s.bench not in benches:
            reasons.append(f"benchmark {' or '.join(candidates)} is not configured for {s.task}")
        if not better:
            reasons.append(f"no configured model matches {json.dumps(s.better, sort_keys=True)}")
        for m in s.than:
            if not models_matching([m], config, s.task):
                reasons.append(f"no configured model matches {json.dumps(m, sort_keys=True)}")
        if reasons:
            out.append({**res, "verdict": "not run", "reason": "; ".join(reasons)})
            continue
        missing, holds, skipped = [], [], []
        for metric, higher_better in s.checks:
            for b in better:
                vb = _metric(metrics, b, s, metric)
                for i, m in enumerate(s.than):
                    for o in models_matching([m], config, s.task):
                        if o == b:
                            continue
                        vo = _metric(metrics, o, s, metric)
                        if not isinstance(vb, str) and isinstance(vo, str) and vo.file_exists:
                            # e.g. the untrained model parses no answer, so it has no EPE: it is
                            # judged on the other metrics and the skip is reported
                            skipped.append(f"{o} ({metric}): {vo}")
                            continue
                        if isinstance(vb, str) or isinstance(vo, str):
                            missing += [x for x in (vb, vo) if isinstance(x, str)]
                            continue
                        ok = _ci_beyond(vb, vo, higher_better)
                        holds.append(ok)
                        res["comparisons"].append({
                            "metric": metric, "higher_better": higher_better,
                            "better": b, "than": o, "than_matcher": i, "better_value": vb[0], "better_ci": [_f(vb[1]), _f(vb[2])],
                            "than_value": vo[0], "than_ci": [_f(vo[1]), _f(vo[2])], "diff": vb[0] - vo[0],
                            "holds": ok})
        if holds and not all(holds):
            failed = [f"{k['better']} vs {k['than']} ({k['metric']})" for k in res["comparisons"] if not k["holds"]]
            verdict, reason = "not reproduced", "95 % CIs overlap or are in the wrong order: " + ", ".join(failed)
        elif missing:
            verdict, reason = "not run", "; ".join(sorted(set(missing)))
        elif holds:
            verdict, reason = "reproduced", "every 95 % CI of the better model lies beyond the others'"
        else:
            verdict, reason = "not run", "nothing to compare"
        if skipped:
            reason += "; not compared: " + "; ".join(skipped)
        out.append({**res, "verdict": verdict, "reason": reason, "skipped": skipped})
    return out


def load_runs(paths) -> list[dict]:
    """Each checkpoint folder's train_summary.json -> {run, global_step, max_steps, stopped_by}."""
    out = []
    for d in paths or []:
        f = Path(d) / "train_summary.json"
        try:
            summ = json.loads(f.read_text())
            row = {"run": Path(d).name, "global_step": int(summ["global_step"]),
                   "max_steps": summ.get("max_steps"), "stopped_by": str(summ["stopped_by"])}
        except FileNotFoundError:
            raise ValueError(f"{f}: missing (is {d} a checkpoint written by vlm3.train?)") from None
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{f}: not a vlm3.train summary ({type(e).__name__}: {e})") from None
        out.append(row)
    return sorted(out, key=lambda r: r["run"])


def time_capped(runs: list[dict]) -> list[dict]:
    return [r for r in runs if r["stopped_by"] == "max_minutes"]


def build_report(claims: Claims, metrics: dict, config: dict, runs: list[dict] | None = None) -> dict:
    runs = runs or []
    paper = audit_paper_claims(claims, metrics, config)
    synth = audit_synthetic(claims, metrics, config)
    comparable = any(r["reproduced"] is not None for r in paper)
    types = {(config.get("datasets") or {}).get(b["dataset"], {}).get("type")
             for bs in (config.get("benchmarks") or {}).values() for b in bs}
    mapped = any(r["reason"].startswith(("missing ", "mean of")) or "has no finite" in r["reason"] for r in paper)
    if comparable:
        statement = ""
    elif types == {"synthetic"}:
        statement = NOT_COMPARABLE
    else:
        statement = NO_METRICS if mapped else NO_MAPPING

    def count(rows):
        return {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}

    means = stated_mean_checks(claims)
    return {
        "claims_file": str(claims.path),
        "comparable": comparable,
        "statement": statement,
        "summary": {"paper": {"claims": len(claims.claims()), "rows": len(paper), **count(paper)},
                    "synthetic": {"claims": len(synth), **count(synth)}},
        "synthetic_claims": synth,
        "paper_claims": paper,
        "training_runs": runs,
        "consistency": {
            "stated_means_checked": len(means),
            "stated_means_inconsistent": [m for m in means if not m["ok"]],
            "same_as_inconsistent": [m for m in same_as_checks(claims) if not m["ok"]],
        },
    }


def _fmt(x, nd: int = 4) -> str:
    if x is None:
        return "–"
    return f"{x:.{nd}g}" if abs(x) < 1e4 else f"{x:.0f}"


def _worst(claim: dict) -> str:
    """The first failed comparison of a claim, e.g. "tiny-trained 0.283 vs median 0.485 overall_acc"."""
    k = next(k for k in claim["comparisons"] if not k["holds"])
    return f"{k['better']} {_fmt(k['better_value'])} vs {k['than']} {_fmt(k['than_value'])} {k['metric']}"


def render_md(rep: dict) -> str:
    s = rep["summary"]
    lines = ["# Claims audit", "", "## Summary", ""]
    if rep["statement"]:
        lines += [f"**{rep['statement']}**", ""]
    capped = time_capped(rep.get("training_runs") or [])
    if capped:
        names = ", ".join(f"{r['run']} (step {r['global_step']} of {r['max_steps']})" for r in capped)
        lines += [f"**Stopped by the wall-clock cap (max_minutes) before max_steps: {names}. These checkpoints, "
                  "and every number computed from them, depend on the speed of the machine that trained "
                  "them; rerun without max_minutes to compare.**", ""]
    lines += ["| claims | checked rows | reproduced | not reproduced | not run |", "|---|---|---|---|---|",
              f"| paper ({s['paper']['claims']}) | {s['paper']['rows']} | {s['paper']['reproduced']} | "
              f"{s['paper']['not reproduced']} | {s['paper']['not run']} |",
              f"| synthetic replica ({s['synthetic']['claims']}) | {s['synthetic']['claims']} | "
              f"{s['synthetic']['reproduced']} | {s['synthetic']['not reproduced']} | {s['synthetic']['not run']} |",
              ""]
    failed = [c for c in rep["synthetic_claims"] if c["verdict"] == "not reproduced"]
    if failed:
        lines += ["**Synthetic claims not reproduced:** " + "; ".join(
            f"`{c['key']}` ({_worst(c)})" for c in failed) + ".", ""]
    lines += ["## Synthetic replica's claims", ""]
    for c in rep["synthetic_claims"]:
        lines += [f"### {c['key']}: **{c['verdict']}**", "", c["statement"] + ".",
                  f"Metric `{c['metric']}` on `{c['bench']}`, rule `{c['rule']}`. {c['reason']}.", ""]
        if c["comparisons"]:
            lines += ["| metric | better | value [95 % CI] | than | value [95 % CI] | diff | holds |",
                      "|---|---|---|---|---|---|---|"]
            for k in c["comparisons"]:
                bci, tci = k["better_ci"], k["than_ci"]
                lines.append(f"| {k['metric']} | {k['better']} | {_fmt(k['better_value'])} [{_fmt(bci[0])}, {_fmt(bci[1])}] | "
                             f"{k['than']} | {_fmt(k['than_value'])} [{_fmt(tci[0])}, {_fmt(tci[1])}] | "
                             f"{_fmt(k['diff'])} | {'yes' if k['holds'] else 'no'} |")
            lines.append("")
    con = rep["consistency"]
    lines += ["## Consistency of the paper's own numbers", "",
              f"{con['stated_means_checked']} stated means checked against the mean of their printed values; "
              f"{len(con['stated_means_inconsistent'])} differ by more than half a printed unit:", ""]
    for m in con["stated_means_inconsistent"]:
        lines.append(f"- `{m['key']}`: stated {m['stated']}, mean of printed values {m['computed']:.4f}")
    for m in con["same_as_inconsistent"]:
        lines.append(f"- `{m['key']}` = {m['value']} but `{m['ref']}` = {m['ref_value']}")
    if rep.get("training_runs"):
        lines += ["", "## Training runs", "", "| run | steps | max_steps | stopped by |", "|---|---|---|---|"]
        lines += [f"| {r['run']} | {r['global_step']} | {r['max_steps']} | {r['stopped_by']} |"
                  for r in rep["training_runs"]]
    lines += ["", "## Paper claims", "",
              "Reproduced values are `strict` (unparsed and missing answers count as wrong); `parsed-only` "
              "drops them from the denominator, as VLM3's notebook does.", "",
              "| claim | model | claimed | reproduced [95 % CI] | parsed-only | diff | verdict | counts | reason |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rep["paper_claims"]:
        ci = r["ci95"]
        rep_s = _fmt(r["reproduced"]) + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "")
        lines.append(f"| `{r['key']}` | {r['model'] or '–'} | {r['claimed']} | {rep_s} | {_fmt(r.get('parsed_only'))} | "
                     f"{_fmt(r['diff'])} | {r['verdict']} | {r.get('counts', '')} | {r['reason']} |")
    return "\n".join(lines) + "\n"


def _clean(x):
    """NaN/inf -> None recursively, so the JSON is strict."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def write_audit(claims_path, metrics, config_path, out, runs=None) -> dict:
    """Write the audit to `out` (report.json) and its Markdown twin `out` with suffix .md."""
    out = Path(out)
    if out.suffix != ".json":
        raise ValueError(f"--out {out}: the audit's JSON file (.json; the Markdown twin goes beside it)")
    claims = load_claims(claims_path)
    config = load_config(config_path)
    rep = build_report(claims, load_metrics(metrics), config, load_runs(runs))
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(_clean(rep), indent=1, sort_keys=True, allow_nan=False) + "\n")
    with atomic_path(out.with_suffix(".md")) as tmp:
        tmp.write_text(render_md(rep))
    s = rep["summary"]
    log.info("paper claims: %s; synthetic claims: %s", s["paper"], s["synthetic"])
    for r in time_capped(rep["training_runs"]):
        log.warning("run %s stopped by max_minutes at step %d of %s: machine-dependent", r["run"],
                    r["global_step"], r["max_steps"])
    return rep


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--claims", default="paper/claims.yaml")
    p.add_argument("--metrics", required=True, nargs="+", help="metrics root(s) and/or metrics .json files")
    p.add_argument("--config", required=True, help="workflow config (models, benchmarks, runs)")
    p.add_argument("--out", required=True, help="the JSON report (results/audit/report.json); report.md beside it")
    p.add_argument("--runs", nargs="*", default=[],
                   help="checkpoint folders of the fine-tuning runs (each with train_summary.json)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    write_audit(a.claims, a.metrics, a.config, a.out, a.runs)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.report.audit")
