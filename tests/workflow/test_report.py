"""`snakemake --report` on a finished run, and the figures of a run with stale files beside it.

Both use `finished_run` (conftest.py): the quick setting of the embedded default, run by
`dvc repro` in a throwaway clone.
- `snakemake -c all --report report.html` builds one self-contained HTML page holding every task
  table, figure, paper table and the claims audit (their bytes, base64), each with its caption
  (report/*.rst).
- A prediction file of a model the config does not have, left in results/predictions by an earlier
  config, changes no figure when rule figures runs again.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
from conftest import run

pytestmark = pytest.mark.slow

TASKS = ("depth", "object", "correspondence", "pose")


@pytest.fixture(scope="module")
def repo(finished_run) -> Path:
    return finished_run[0]


def test_report_html_holds_tables_figures_and_audit(repo, tmp_path, snakemake_exe):
    html = tmp_path / "report.html"
    run([snakemake_exe, "--cores", "all", "--report", str(html)], cwd=repo, timeout=600)
    text = html.read_text()
    results = repo / "results"
    marked = [results / "tables" / f"{t}.csv" for t in TASKS]
    marked += [results / "figures" / f"{n}.png" for n in ("depth_scatter", "pose_cdf", "loss",
                                                          "correspondence_tiny-trained", "paper_depth_delta1")]
    marked += [results / "figures" / f"worst_{t}.png" for t in TASKS]
    marked += sorted((results / "tables").glob("paper_*.csv")) + [results / "audit" / "report.md"]
    assert len(marked) > 20
    for path in marked:
        assert base64.b64encode(path.read_bytes()).decode() in text, f"{path} is not in the report"
    for caption in ("Task table", "Predicted against true depth", "The claims audit", "in the paper's layout",
                    "VLM3 reproduction workflow"):
        assert caption in text
    assert "{{" not in text.split("Task table", 1)[1][:400]  # the caption's template was rendered


def test_stale_prediction_file_is_not_in_the_figures(repo, snakemake_exe):
    """An earlier config's model ('old-model') left its predictions in results/predictions: rule
    figures, run again, draws exactly what it drew before."""
    figures = ["depth_scatter.png", "pose_cdf.png", "correspondence_tiny-trained.png", "loss.png"]
    before = {n: (repo / "results" / "figures" / n).read_bytes() for n in figures}
    stale = repo / "results" / "predictions" / "old-model"
    for task, bench in (("depth", "synthetic_test"), ("pose", "synthetic-pan_test"),
                        ("correspondence", "synthetic-pan_test")):
        src = repo / "results" / "predictions" / "tiny-trained" / task / f"{bench}.jsonl"
        (stale / task).mkdir(parents=True)
        shutil.copy(src, stale / task / f"{bench}.jsonl")
    try:
        proc = run([snakemake_exe, "--cores", "1", "--forcerun", "figures", "--allowed-rules", "figures",
                    *(f"results/figures/{n}" for n in figures)], cwd=repo, timeout=600)
        assert "rule figures:" in proc.stdout + proc.stderr
        assert not (repo / "results" / "figures" / "correspondence_old-model.png").exists()
        for n in figures:
            assert (repo / "results" / "figures" / n).read_bytes() == before[n], n
    finally:
        shutil.rmtree(stale)
