"""Focal-length error of the calibration against withheld ground truth.

    python -m vlm3.calibrate.report --calib results/calib/D/S.parquet \
        --truth data/raw/D/S/intrinsics_withheld.json --out results/calib/D/S_report.json

`--truth` is {image_id: {fx, fy, cx, cy}} for the images whose intrinsics the index withheld.
Error of one image = |fx_est - fx_true| / fx_true (fx; fy is reported separately). The report:
{"n", "median_abs_rel", "mean_abs_rel", "within_10pct", "within_20pct", "fy": {...same...},
 "by_source": {source: {n, median_abs_rel, ...}}, "per_image": [{image_id, source, fx_est,
 fx_true, abs_rel}]} with keys sorted; every truth image must be in the calib file.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vlm3.utils import atomic_path

log = logging.getLogger("vlm3.calibrate.report")


def summarize(err: np.ndarray) -> dict:
    err = np.asarray(err, dtype=np.float64)
    if err.size == 0:
        return {"n": 0, "median_abs_rel": None, "mean_abs_rel": None, "within_10pct": None,
                "within_20pct": None}
    return {"n": int(err.size), "median_abs_rel": float(np.median(err)), "mean_abs_rel": float(err.mean()),
            "within_10pct": float((err <= 0.10).mean()), "within_20pct": float((err <= 0.20).mean())}


def focal_report(calib: pd.DataFrame, truth: dict, where: str = "truth") -> dict:
    if not truth:
        raise ValueError(f"{where}: no images in the ground truth")
    by_id = calib.set_index("image_id")
    missing = sorted(set(truth) - set(by_id.index))
    if missing:
        raise ValueError(f"{where}: images {missing[:3]} (of {len(missing)}) are not in the calib file")
    rows = []
    for iid in sorted(truth):
        t = truth[iid]
        for k in ("fx", "fy"):
            if k not in t or not np.isfinite(t[k]) or t[k] <= 0:
                raise ValueError(f"{where}: image {iid!r} has no valid {k}")
        r = by_id.loc[iid]
        rows.append({"image_id": iid, "source": str(r.get("source", "")), "fx_est": float(r["fx"]),
                     "fx_true": float(t["fx"]), "fy_est": float(r["fy"]), "fy_true": float(t["fy"])})
    per = pd.DataFrame(rows)
    per["abs_rel"] = (per["fx_est"] - per["fx_true"]).abs() / per["fx_true"]
    fy_err = (per["fy_est"] - per["fy_true"]).abs() / per["fy_true"]
    rep = summarize(per["abs_rel"].to_numpy())
    rep["fy"] = summarize(fy_err.to_numpy())
    rep["by_source"] = {s: summarize(g["abs_rel"].to_numpy()) for s, g in per.groupby("source", sort=True)}
    rep["per_image"] = per[["image_id", "source", "fx_est", "fx_true", "abs_rel"]].to_dict("records")
    return rep


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vlm3.calibrate.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calib", required=True)
    p.add_argument("--truth", required=True, help="intrinsics_withheld.json")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for arg, f in (("--calib", a.calib), ("--truth", a.truth)):
        if not Path(f).is_file():
            raise ValueError(f"{arg} {f}: file not found")
    try:
        truth = json.loads(Path(a.truth).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"--truth {a.truth}: not valid JSON ({e})") from None
    if not isinstance(truth, dict):
        raise ValueError(f"--truth {a.truth}: expected an object {{image_id: {{fx, fy, cx, cy}}}}")
    rep = focal_report(pd.read_parquet(a.calib), truth, where=a.truth)
    with atomic_path(a.out) as tmp:
        tmp.write_text(json.dumps(rep, indent=1, sort_keys=True) + "\n")
    log.info("n=%d median |rel err| %.4f within 10%% %.3f -> %s", rep["n"], rep["median_abs_rel"],
             rep["within_10pct"], a.out)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.calibrate.report")
