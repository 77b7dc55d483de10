"""Stage `report` (tables): results/metrics/{model}/{task}/{bench}.json -> results/tables/{task}.tex + .csv.

CLI: `python -m vlm3.report.tables --metrics results/metrics --out results/tables [--config C]
[--task T ...]`; `--metrics` also takes a list of single metrics files and `--out` a `{task}.tex`.

One LaTeX table per task (booktabs), one row per model, for every benchmark the headline metrics
of that task (`COLUMNS`), plus a "Mean" column of the first metric when there are several
benchmarks. The 95 % bootstrap interval is printed under the value where the metrics file has one;
the best value of every column is bold (ties: all of them, compared as printed); "--" (an en dash)
marks a missing value. A CSV twin beside each .tex holds the raw, unscaled numbers.

Row order: the config's `models` section (name -> label, or name -> {label: ...}) in its order,
then the baseline names of `vlm3.baselines` (`BASELINE_LABELS`), then any other model found under
results/metrics, sorted, labelled with its own name.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vlm3.tasks import TASKS
from vlm3.utils import atomic_path, load_mapping, read_text

log = logging.getLogger("vlm3.report.tables")



@dataclass(frozen=True)
class Col:
    """A table column: metric key in the metrics JSON, LaTeX header, direction, print format."""

    key: str
    header: str
    higher_better: bool
    fmt: str = "{:.3f}"
    scale: float = 1.0  # printed value = scale * stored value (e.g. 100 for percentages)


# Headline metrics per task; names are those written by vlm3.score.
COLUMNS: dict[str, list[Col]] = {
    "depth": [Col("delta1", r"$\delta_1\uparrow$", True),
              Col("abs_rel", r"AbsRel$\downarrow$", False)],
    "object": [Col("qualitative_acc", r"Qual.\,\%$\uparrow$", True, "{:.1f}", 100.0),
               Col("quantitative_acc", r"Quant.\,\%$\uparrow$", True, "{:.1f}", 100.0),
               Col("overall_acc", r"All\,\%$\uparrow$", True, "{:.1f}", 100.0)],
    "correspondence": [Col("epe", r"EPE$\downarrow$", False, "{:.2f}"),
                       Col("pck_5", r"PCK@5\%$\uparrow$", True, "{:.1f}", 100.0)],
    "pose": [Col("auc30", r"AUC@30$\uparrow$", True, "{:.1f}", 100.0),
             Col("auc10", r"AUC@10$\uparrow$", True, "{:.1f}", 100.0)],
}

# Fallback labels of the model names config/config.yaml gives the baselines (the config's own
# labels win); `mean` is the optional second constant baseline.
BASELINE_LABELS = {
    "median": "Constant (train median)",
    "mean": "Constant (train mean)",
    "opencv": "Classical expert (SIFT + RANSAC)",
}

DASH = "--"
_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    """Escape LaTeX special characters in plain text (labels, benchmark names)."""
    return "".join(_TEX_ESCAPES.get(c, c) for c in str(text))


def model_labels(config_path: str | Path | None) -> dict[str, str]:
    """Ordered name -> label mapping from the config's `models` section (empty without config)."""
    if config_path is None:
        return {}
    path = Path(config_path)
    cfg = load_mapping(path, "--config", empty_ok=True)
    models = cfg.get("models") or {}
    if not isinstance(models, dict):
        raise ValueError(f"{path}: `models` must be a mapping name -> label, got {type(models).__name__}")
    labels = {}
    for name, val in models.items():
        if isinstance(val, dict):
            labels[str(name)] = str(val.get("label", name))
        elif isinstance(val, str):
            labels[str(name)] = val
        else:
            raise ValueError(f"{path}: models.{name} must be a label string or a mapping with `label`")
    return labels


def load_metrics(paths) -> dict[str, dict[str, dict[str, dict]]]:
    """Read metrics files -> {task: {model: {bench: record}}}.

    `paths` is one path or a list; each is a metrics root (every {model}/{task}/{bench}.json below
    it is read) or a single .../{model}/{task}/{bench}.json file. Model, task and bench come from
    the path; the file's own `task` must agree.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*/*/*.json"))
        elif p.is_file() and p.suffix == ".json":
            files.append(p)
        else:
            raise ValueError(f"--metrics {p}: not a directory or a .json metrics file")
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for f in files:
        model, task, bench = f.parent.parent.name, f.parent.name, f.stem
        try:
            rec = json.loads(read_text(f))
        except json.JSONDecodeError as e:
            raise ValueError(f"{f}: not valid JSON ({e})") from e
        if not isinstance(rec, dict) or not isinstance(rec.get("metrics"), dict):
            raise ValueError(f"{f}: metrics file lacks a `metrics` mapping")
        for k, v in rec["metrics"].items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ValueError(f"{f}: metric {k!r} is {v!r}, not a number or null")
        if rec.get("task", task) != task:
            raise ValueError(f"{f}: task {rec.get('task')!r} does not match its folder {task!r}")
        out.setdefault(task, {}).setdefault(model, {})[bench] = rec
    return out


def row_order(models: list[str], labels: dict[str, str]) -> list[tuple[str, str]]:
    """(name, label) rows: configured models in config order, then baselines, then the rest sorted."""
    present = set(models)
    rows = [(m, lab) for m, lab in labels.items() if m in present]
    rows += [(m, lab) for m, lab in BASELINE_LABELS.items() if m in present and m not in labels]
    known = {m for m, _ in rows}
    rows += [(m, m) for m in sorted(present - known)]
    return rows


def _value(rec: dict | None, key: str) -> tuple[float, float, float]:
    """(value, ci_lo, ci_hi) of metric `key`; NaN where absent."""
    nan = float("nan")
    if rec is None:
        return nan, nan, nan
    v = rec["metrics"].get(key)
    v = nan if v is None else float(v)
    ci = (rec.get("ci95") or {}).get(key)
    lo, hi = (nan, nan)
    if ci and ci[0] is not None and ci[1] is not None:  # vlm3.score writes NaN bounds as null
        lo, hi = float(ci[0]), float(ci[1])
    return v, lo, hi


def build_table(task: str, by_model: dict[str, dict[str, dict]],
                labels: dict[str, str]) -> tuple[str, pd.DataFrame]:
    """LaTeX source and CSV frame of one task's table."""
    if task not in COLUMNS:
        raise ValueError(f"unknown task {task!r}; tables exist for {', '.join(COLUMNS)}")
    cols = COLUMNS[task]
    benches = sorted({b for recs in by_model.values() for b in recs})
    rows = row_order(list(by_model), labels)
    with_mean = len(benches) > 1
    main = cols[0]

    # cells[r][c] = (value, lo, hi) in stored units; columns = benches x cols (+ mean)
    col_specs: list[Col] = [c for _ in benches for c in cols] + ([main] if with_mean else [])
    cells: list[list[tuple[float, float, float]]] = []
    for name, _ in rows:
        line = [_value(by_model[name].get(b), c.key) for b in benches for c in cols]
        if with_mean:
            vals = [_value(by_model[name].get(b), main.key)[0] for b in benches]
            m = sum(vals) / len(vals) if all(math.isfinite(v) for v in vals) else float("nan")
            line.append((m, float("nan"), float("nan")))
        cells.append(line)

    def show(c: Col, v: float) -> str:
        return c.fmt.format(v * c.scale)

    best: list[str | None] = []
    for j, c in enumerate(col_specs):
        vals = [cells[i][j][0] for i in range(len(rows)) if math.isfinite(cells[i][j][0])]
        best.append(show(c, max(vals) if c.higher_better else min(vals)) if vals else None)

    ncol = len(col_specs)
    lines = [r"\begin{tabular}{l" + "c" * ncol + "}", r"\toprule"]
    head1 = [""]
    for b in benches:
        head1.append(rf"\multicolumn{{{len(cols)}}}{{c}}{{{tex_escape(b)}}}")
    if with_mean:
        head1.append("Mean")
    lines.append(" & ".join(head1) + r" \\")
    rules = [rf"\cmidrule(lr){{{2 + k * len(cols)}-{1 + (k + 1) * len(cols)}}}" for k in range(len(benches))]
    if with_mean:
        rules.append(rf"\cmidrule(lr){{{ncol + 1}-{ncol + 1}}}")
    if rules:
        lines.append(" ".join(rules))
    lines.append(" & ".join(["Model"] + [c.header for c in col_specs]) + r" \\")
    lines.append(r"\midrule")
    for i, (_, label) in enumerate(rows):
        out = [tex_escape(label)]
        for j, c in enumerate(col_specs):
            v, lo, hi = cells[i][j]
            if not math.isfinite(v):
                out.append(DASH)
                continue
            s = show(c, v)
            if s == best[j]:
                s = rf"\textbf{{{s}}}"
            if math.isfinite(lo) and math.isfinite(hi):
                s += rf" {{\scriptsize[{show(c, lo)}, {show(c, hi)}]}}"
            out.append(s)
        lines.append(" & ".join(out) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", ""]

    records = []
    for i, (name, label) in enumerate(rows):
        rec: dict[str, object] = {"model": name, "label": label}
        for j, c in enumerate(col_specs):
            bench = benches[j // len(cols)] if j < len(benches) * len(cols) else "mean"
            v, lo, hi = cells[i][j]
            rec[f"{bench}:{c.key}"] = v
            if bench != "mean":
                rec[f"{bench}:{c.key}:lo"] = lo
                rec[f"{bench}:{c.key}:hi"] = hi
        records.append(rec)
    return "\n".join(lines), pd.DataFrame.from_records(records)


def write_tables(metrics, out: str | Path, config: str | Path | None = None,
                 tasks: tuple[str, ...] = TASKS) -> list[Path]:
    """Write {task}.tex and {task}.csv for every task in `tasks`; a task without metrics gets a
    table with a header and no rows, so downstream \\input never breaks. Returns the .tex paths.

    `metrics`: as `load_metrics`. `out`: a folder, or a single `{name}.tex` path when exactly
    one task is asked for (the CSV then goes beside it as `{name}.csv`).
    """
    labels = model_labels(config)
    data = load_metrics(metrics)
    out = Path(out)
    if out.suffix == ".tex":
        if len(tasks) != 1:
            raise ValueError(f"--out {out}: a .tex path needs exactly one task, got {list(tasks)}")
        targets = {tasks[0]: out}
    else:
        targets = {t: out / f"{t}.tex" for t in tasks}
    for task, tex_path in targets.items():
        tex, df = build_table(task, data.get(task, {}), labels)
        with atomic_path(tex_path) as tmp:
            tmp.write_text(tex)
        with atomic_path(tex_path.with_suffix(".csv")) as tmp:
            df.to_csv(tmp, index=False, lineterminator="\n")
        log.info("%s: %d rows -> %s", task, len(df), tex_path)
    return list(targets.values())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--metrics", required=True, nargs="+",
                   help="metrics root(s) (results/metrics) and/or single metrics .json files")
    p.add_argument("--out", required=True, help="output folder (results/tables) or one {task}.tex path")
    p.add_argument("--config", help="workflow config with a `models` section (row labels/order)")
    p.add_argument("--tasks", "--task", nargs="+", default=list(TASKS), choices=TASKS)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    write_tables(a.metrics, a.out, a.config, tuple(a.tasks))


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.report.tables")
