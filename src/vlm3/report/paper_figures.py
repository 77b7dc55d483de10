"""Figure: depth delta1 per dataset, the paper's bars beside the reproduced ones.

CLI: `python -m vlm3.report.paper_figures --claims paper/claims.yaml --metrics M [M ...]
--config config/config.yaml --out results/figures/paper_depth_delta1.png [--rows VLM3-4B ...]`

Left panel: the eight datasets of the paper's Table 1 (claims.yaml table `depth`, the Mean column
left out); hatched bars are claimed values of the chosen paper rows (default VLM3-4B, DepthLM-7B,
Qwen3-VL-4B), solid bars the reproduced value of every configured model where its benchmark maps to
the column, with the 95 % bootstrap CI as whiskers. Right panel (only if any): configured depth
benchmarks that map to no paper column (the embedded default's synthetic_test), reproduced values
only, since the paper has nothing to compare with. A CSV twin (same stem) lists every bar.
Deterministic: Agg backend, fixed colours and sizes, no timestamp in the PNG.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from vlm3.config import models_for
from vlm3.report.claims import load_claims, reproduced
from vlm3.report.paper_tables import load_config
from vlm3.report.tables import load_metrics
from vlm3.utils import atomic_path

log = logging.getLogger("vlm3.report.paper_figures")
DEFAULT_ROWS = ("VLM3-4B", "DepthLM-7B", "Qwen3-VL-4B")


def figure_bars(claims, metrics: dict, config: dict, rows=DEFAULT_ROWS, table: str = "depth") -> pd.DataFrame:
    """One line per bar: panel, group (dataset), series, kind (claimed|reproduced), value, lo, hi."""
    t = claims.tables[table]
    unknown = [r for r in rows if r not in t.rows]
    if unknown:
        raise ValueError(f"--rows: {unknown} are not rows of claims table {table!r} ({list(t.rows)})")
    cols = [c for c in t.columns if not c.mean_of]
    recs = []
    models = models_for(config, t.task)
    labels = {m: (config["models"][m] or {}).get("label", m) for m in models}
    for c in cols:
        for r in rows:
            cl = t.rows[r].get(c.key)
            if cl is not None:
                recs.append({"panel": "paper", "group": c.header, "series": f"{r} (paper)", "kind": "claimed",
                             "value": cl.value, "lo": math.nan, "hi": math.nan})
        for m in models:
            rep, _ = reproduced(claims, table, c.key, m, metrics, config)
            if rep is not None:
                recs.append({"panel": "paper", "group": c.header, "series": labels[m], "kind": "reproduced",
                             "value": rep.value, "lo": rep.lo, "hi": rep.hi})
    mapped = {d for c in cols for d in c.datasets}
    for b in (config.get("benchmarks") or {}).get(t.task, []):
        if b["dataset"] in mapped:
            continue
        bench = f"{b['dataset']}_{b['split']}"
        for m in models:
            rec = metrics.get(t.task, {}).get(m, {}).get(bench)
            metric = cols[0].metric
            if rec is None or rec["metrics"].get(metric) is None:
                continue
            ci = (rec.get("ci95") or {}).get(metric) or [None, None]
            recs.append({"panel": "unmapped", "group": bench, "series": labels[m], "kind": "reproduced",
                         "value": float(rec["metrics"][metric]) * cols[0].scale,
                         "lo": math.nan if ci[0] is None else float(ci[0]) * cols[0].scale,
                         "hi": math.nan if ci[1] is None else float(ci[1]) * cols[0].scale})
    return pd.DataFrame.from_records(recs, columns=["panel", "group", "series", "kind", "value", "lo", "hi"])


def _draw(ax, df: pd.DataFrame, groups: list[str], series: list[str], colours: dict, ylabel: str) -> None:
    width = 0.8 / max(len(series), 1)
    for i, s in enumerate(series):
        sub = df[df.series == s].set_index("group")
        xs, ys, err_lo, err_hi = [], [], [], []
        for g_i, g in enumerate(groups):
            if g in sub.index:
                row = sub.loc[g]
                xs.append(g_i - 0.4 + width * (i + 0.5))
                ys.append(row.value)
                has_ci = math.isfinite(row.lo) and math.isfinite(row.hi)
                err_lo.append(row.value - row.lo if has_ci else 0.0)
                err_hi.append(row.hi - row.value if has_ci else 0.0)
        if not xs:
            continue
        claimed = sub.kind.iloc[0] == "claimed"
        ax.bar(xs, ys, width, label=s, color=colours[s], hatch="//" if claimed else None,
               edgecolor="black", linewidth=0.4, yerr=None if claimed else [err_lo, err_hi],
               capsize=2, error_kw={"linewidth": 0.6})
    ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", linewidth=0.3)
    ax.set_axisbelow(True)


def write_figure(claims_path, metrics, config_path, out, rows=DEFAULT_ROWS) -> Path:
    claims = load_claims(claims_path)
    config = load_config(config_path)
    df = figure_bars(claims, load_metrics(metrics), config, tuple(rows))
    series = list(dict.fromkeys(df.series))
    cmap = plt.get_cmap("tab10")
    colours = {s: cmap(i % 10) for i, s in enumerate(series)}
    paper = df[df.panel == "paper"]
    unmapped = df[df.panel == "unmapped"]
    t = claims.tables["depth"]
    groups = [c.header for c in t.columns if not c.mean_of]
    ncols = 2 if len(unmapped) else 1
    fig, axes = plt.subplots(1, ncols, figsize=(10 if ncols == 2 else 8, 3.6), squeeze=False,
                             gridspec_kw={"width_ratios": [4, 1][:ncols]})
    _draw(axes[0, 0], paper, groups, [s for s in series if s in set(paper.series)], colours, r"$\delta_1$")
    axes[0, 0].set_title("Paper datasets (hatched: claimed; solid: reproduced, 95 % CI)", fontsize=9)
    if ncols == 2:
        ugroups = list(dict.fromkeys(unmapped.group))
        _draw(axes[0, 1], unmapped, ugroups, [s for s in series if s in set(unmapped.series)], colours, "")
        axes[0, 1].set_title("No paper counterpart", fontsize=9)
    handles, labels = [], []
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
    plt.close(fig)
    with atomic_path(out.with_suffix(".csv")) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")
    log.info("%d bars -> %s", len(df), out)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--claims", default="paper/claims.yaml")
    p.add_argument("--metrics", required=True, nargs="+", help="metrics root(s) and/or metrics .json files")
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True, help="results/figures/paper_depth_delta1.png")
    p.add_argument("--rows", nargs="+", default=list(DEFAULT_ROWS), help="paper rows drawn as claimed bars")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    write_figure(a.claims, a.metrics, a.config, a.out, a.rows)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.report.paper_figures")
