"""Figure: the worst-answered questions of one task, from the per-question results of the score stage.

    python -m vlm3.report.worst --questions results/metrics/*/depth/*.questions.jsonl \
        --out results/figures/worst_depth.png [--n 15]

A table rendered as PNG: the `--n` worst questions over all given files (one per model and
benchmark), missing answers first, then unparsed ones, then the largest `error` (docs/CONTRACTS.md,
"Score"); ties in file and line order. Columns: model, benchmark, question id and turn, the raw
prediction (cut to 48 characters), the target value and the error. Same inputs, same bytes.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from vlm3.report.figures import _save, plt
from vlm3.utils import read_jsonl

log = logging.getLogger("vlm3.report.worst")
WIDTH = 48


def _rank(row: dict) -> tuple:
    if row["prediction"] is None:
        return (0, 0.0)
    if row["parsed"] is None:
        return (1, 0.0)
    e = row["error"]
    return (2, -(e if e is not None and math.isfinite(e) else -1.0))


def worst(paths: list[str | Path], n: int) -> list[dict]:
    """The n worst rows over the files, each with its model and bench (from the path)."""
    rows = []
    for p in map(Path, paths):
        bench = p.name.removesuffix(".questions.jsonl")
        for _, r in read_jsonl(p, "--questions"):
            rows.append({**r, "model": p.parent.parent.name, "bench": bench})
    order = sorted(range(len(rows)), key=lambda i: (_rank(rows[i]), i))
    return [rows[i] for i in order[:n]]


def _cell(v) -> str:
    if v is None:
        return "(none)"
    s = json.dumps(v) if not isinstance(v, str) else v.replace("\n", " ")
    return s if len(s) <= WIDTH else s[:WIDTH - 3] + "..."


def plot_worst(paths: list[str | Path], out: str | Path, n: int = 15, title: str = "") -> Path:
    rows = worst(paths, n)
    cells = [[r["model"], r["bench"], f"{r['id']} #{r['turn']}", _cell(r["prediction"]),
              _cell(r["target"].get("value") if isinstance(r["target"], dict) else r["target"]),
              "missing" if r["prediction"] is None else "unparsed" if r["parsed"] is None
              else f"{r['error']:.3g}" if r["error"] is not None else "-"] for r in rows]
    plt.rcParams.update({"font.size": 7})
    fig, ax = plt.subplots(figsize=(11.0, 0.3 * (len(cells) + 2)))
    ax.axis("off")
    if cells:
        table = ax.table(cellText=cells, colLabels=["model", "benchmark", "question", "prediction", "target", "error"],
                         loc="upper left", cellLoc="left", colWidths=[0.12, 0.12, 0.24, 0.3, 0.12, 0.08])
        table.auto_set_font_size(False)
        table.set_fontsize(6.5)
    else:
        ax.text(0, 0.5, "no questions", fontsize=8)
    ax.set_title(title or f"worst {len(cells)} questions", fontsize=8, loc="left")
    fig.tight_layout()
    return _save(fig, Path(out))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m vlm3.report.worst", description=__doc__.split("\n")[0])
    ap.add_argument("--questions", nargs="+", required=True, help="per-question results (*.questions.jsonl)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=15)
    ap.add_argument("--title", default="")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    plot_worst(a.questions, a.out, a.n, a.title)


if __name__ == "__main__":
    main()
