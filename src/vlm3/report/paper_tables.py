"""Tables in the paper's layout: results/tables/paper_{table}.tex (+ .csv twin) per claims.yaml table.

CLI: `python -m vlm3.report.paper_tables --claims paper/claims.yaml --metrics M [M ...]
--config config/config.yaml --out results/tables/paper_depth.tex [results/tables/paper_pose.tex ...]`
(`--out`: the tables to write, each `{folder}/paper_{table}.tex` of one folder, its .csv twin beside it)

Each table has the paper's columns and, first, the paper's rows marked with a dagger (reported,
printed exactly as in the paper), then one row per configured model that runs the table's task,
marked "(ours)", whose values come from results/metrics through the column -> benchmark mapping of
vlm3.report.claims (with the embedded default none of the paper's benchmarks exist, so these rows
are dashes). Reproduced values are printed like the column's claims (decimals, leading zero). The best value of every
column is bold (compared as printed; ties all bold); an en dash marks a missing value. The .tex is
a complete `table` float with the default placement (booktabs), scaled down to the line width only when wider.
CSV twin: one line per row: row label, kind (reported|reproduced), model, then per column the
value (reported: as printed; reproduced: unrounded), empty where missing.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import pandas as pd

from vlm3.config import models_for
from vlm3.report.claims import Claims, Table, load_claims, reproduced
from vlm3.report.tables import load_metrics, tex_escape
from vlm3.utils import atomic_path, load_mapping

log = logging.getLogger("vlm3.report.paper_tables")

DASH = "--"
DAGGER = r"$^\dagger$"


def load_config(path: str | Path) -> dict:
    path = Path(path)
    cfg = load_mapping(path, "--config", empty_ok=True)
    if not isinstance(cfg.get("models"), dict):
        raise ValueError(f"--config {path}: no `models` mapping")
    return cfg


def table_rows(claims: Claims, t: Table, metrics: dict, config: dict) -> list[dict]:
    """Rows of a paper table: {label, kind, model, cells: {col: (number, printed)}}."""
    rows = []
    for row, cells in t.rows.items():
        label = t.row_meta[row].get("setting", row)
        rows.append({"label": label, "kind": "reported", "model": row,
                     "cells": {k: (c.value, c.text) for k, c in cells.items()}})
    for model in models_for(config, t.task):
        cells = {}
        for c in t.columns:
            r, _ = reproduced(claims, t.key, c.key, model, metrics, config)
            if r is not None:
                cells[c.key] = (r.value, t.fmt(c.key, r.value))
        label = (config["models"][model] or {}).get("label", model)
        rows.append({"label": f"{label} (ours)", "kind": "reproduced", "model": model, "cells": cells})
    return rows


def _printed_value(text: str) -> float:
    return float(text)


def render_tex(t: Table, rows: list[dict]) -> str:
    """A booktabs `table` float in the paper's layout."""
    best = {}
    for c in t.columns:
        vals = [_printed_value(r["cells"][c.key][1]) for r in rows if c.key in r["cells"]]
        if vals:
            best[c.key] = max(vals) if c.higher_better else min(vals)
    n = len(t.columns)
    body = [r"\begin{tabular}{l" + "c" * n + "}", r"\toprule"]
    if any(c.group for c in t.columns):
        # group headers over runs of consecutive columns, \cmidrule under each named group
        spans: list[tuple[str, int, int]] = []  # (group, first, last) 1-based column numbers
        for j, c in enumerate(t.columns, start=2):
            if spans and spans[-1][0] == c.group and c.group:
                spans[-1] = (c.group, spans[-1][1], j)
            else:
                spans.append((c.group, j, j))
        body.append(" & ".join([""] + [rf"\multicolumn{{{b - a + 1}}}{{c}}{{{g}}}" for g, a, b in spans]) + r" \\")
        body.append(" ".join(rf"\cmidrule(lr){{{a}-{b}}}" for g, a, b in spans if g))
    body += [" & ".join(["Model"] + [c.header for c in t.columns]) + r" \\", r"\midrule"]
    prev = None
    for r in rows:
        if prev == "reported" and r["kind"] == "reproduced":
            body.append(r"\midrule")
        prev = r["kind"]
        out = [tex_escape(r["label"]) + (DAGGER if r["kind"] == "reported" else "")]
        for c in t.columns:
            if c.key not in r["cells"]:
                out.append(DASH)
                continue
            s = r["cells"][c.key][1]
            out.append(rf"\textbf{{{s}}}" if _printed_value(s) == best.get(c.key) else s)
        body.append(" & ".join(out) + r" \\")
    body += [r"\bottomrule", r"\end{tabular}"]
    # shrink to the line width only when wider (long model labels, many columns)
    body = [r"\ifdefined\vlmtablebox\else\newsavebox{\vlmtablebox}\fi",
            r"\sbox{\vlmtablebox}{%"] + body + [
            "}%", r"\ifdim\wd\vlmtablebox>\linewidth\resizebox{\linewidth}{!}{\usebox{\vlmtablebox}}"
            r"\else\usebox{\vlmtablebox}\fi"]
    caption = (rf"{t.title}. {DAGGER}\,reported in the paper ({tex_escape(t.source)}); "
               r"(ours): reproduced by this workflow from results/metrics; best per column in bold; "
               r"-- not available.")
    return "\n".join([r"\begin{table}", r"\centering", rf"\caption{{{caption}}}",
                      rf"\label{{tab:paper_{t.key}}}", *body, r"\end{table}", ""])


def render_csv(t: Table, rows: list[dict]) -> pd.DataFrame:
    recs = []
    for r in rows:
        rec: dict[str, object] = {"row": r["label"], "kind": r["kind"], "model": r["model"]}
        for c in t.columns:
            rec[c.key] = r["cells"][c.key][0] if c.key in r["cells"] else math.nan
        recs.append(rec)
    return pd.DataFrame.from_records(recs, columns=["row", "kind", "model"] + [c.key for c in t.columns])


def write_paper_tables(claims_path, metrics, config_path, out, tables: list[str] | None = None) -> list[Path]:
    """Write paper_{table}.tex and .csv into folder `out` for every table (or those named)."""
    claims = load_claims(claims_path)
    config = load_config(config_path)
    data = load_metrics(metrics)
    names = tables or list(claims.tables)
    unknown = [n for n in names if n not in claims.tables]
    if unknown:
        raise ValueError(f"--out: unknown paper table(s) {unknown}; {claims_path} has {list(claims.tables)}")
    written = []
    for name in names:
        t = claims.tables[name]
        rows = table_rows(claims, t, data, config)
        tex = Path(out) / f"paper_{name}.tex"
        with atomic_path(tex) as tmp:
            tmp.write_text(render_tex(t, rows))
        with atomic_path(tex.with_suffix(".csv")) as tmp:
            render_csv(t, rows).to_csv(tmp, index=False, lineterminator="\n")
        log.info("%s: %d rows (%d reproduced) -> %s", name, len(rows),
                 sum(r["kind"] == "reproduced" and bool(r["cells"]) for r in rows), tex)
        written.append(tex)
    return written


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--claims", default="paper/claims.yaml")
    p.add_argument("--metrics", required=True, nargs="+", help="metrics root(s) and/or metrics .json files")
    p.add_argument("--config", required=True, help="workflow config (models, benchmarks)")
    p.add_argument("--out", required=True, nargs="+",
                   help="tables to write: {folder}/paper_{table}.tex, one folder (results/tables/paper_depth.tex ...)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    folder, tables = out_tables(a.out)
    write_paper_tables(a.claims, a.metrics, a.config, folder, tables)


def out_tables(paths: list[str]) -> tuple[Path, list[str]]:
    """--out paths {folder}/paper_{table}.tex -> (folder, [table, ...])."""
    outs = [Path(p) for p in paths]
    bad = [str(o) for o in outs if not (o.name.startswith("paper_") and o.suffix == ".tex")]
    if bad:
        raise ValueError(f"--out {bad[0]}: not a paper_{{table}}.tex path")
    folders = sorted({str(o.parent) for o in outs})
    if len(folders) > 1:
        raise ValueError(f"--out: tables in several folders {folders}; give one")
    return outs[0].parent, [o.stem[len("paper_"):] for o in outs]


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.report.paper_tables")
