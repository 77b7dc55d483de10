"""Collect the headline metrics of a workflow run into one JSON (for device runs, whose results/
folder does not come back): every results/metrics/{model}/{task}/{bench}.json as one row with the
task's headline metrics, their 95 % CIs and n_unparsed, plus card, date, versions and command.

    python benchmarks/collect_metrics.py --out OUT.json [--results results] [--cmd "..."]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
from pathlib import Path

HEADLINE = {"depth": ("delta1", "abs_rel"), "object": ("overall_acc", "qualitative_acc", "quantitative_acc"),
            "correspondence": ("pck_5", "epe"), "pose": ("auc30", "rot_err_median", "trans_err_median")}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "accelerate", "snakemake"):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # a missing package is simply not reported
            continue
    return out


def card() -> str:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except Exception:
        return "unknown"


def rows(results: Path) -> list[dict]:
    out = []
    for f in sorted(results.glob("metrics/*/*/*.json")):
        d = json.loads(f.read_text())
        task = d["task"]
        row = {"model": d["model"], "task": task, "bench": d.get("bench", f.stem), "n": d["n"],
               "n_unparsed": d["n_unparsed"]}
        row.update({k: d["metrics"].get(k) for k in HEADLINE.get(task, ())})
        if task == "object":
            row["per_category"] = {k[4:]: v for k, v in d["metrics"].items() if k.startswith("acc/")}
        row["ci95"] = d.get("ci95", {})
        out.append(row)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--results", default="results")
    ap.add_argument("--cmd", default="")
    a = ap.parse_args(argv)
    doc = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "card": card(),
           "versions": versions(), "command": a.cmd, "rows": rows(Path(a.results))}
    Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    for r in doc["rows"]:
        keys = HEADLINE.get(r["task"], ())
        vals = " ".join(f"{k}={r[k]:.3f}" if isinstance(r[k], float) else f"{k}={r[k]}" for k in keys)
        print(f"{r['model']:28s} {r['task']:15s} n={r['n']:5d} unparsed={r['n_unparsed']:4d} {vals}")


if __name__ == "__main__":
    main()
