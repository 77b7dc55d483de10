"""The report and paper rules read only declared inputs and write only their outputs: their
commands name the files the config asks for (never a results/ folder to glob) and `--out` is
the rule's own output. Checked on a forced dry run of the embedded default in a fresh-checkout
view (a stale prediction file of a model the config no longer has lies in results/predictions)."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml
from _dryrun import ROOT, dry_run, dry_run_env, workdir

TARGETS = ["results/figures/depth_scatter.png", "results/audit/report.md", "results/tables/paper_depth.tex",
           "results/tables/depth.tex", "results/paper/macros.tex", "results/figures/paper_depth_delta1.png"]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> dict[str, dict]:
    """rule -> {input, output, command (argv)} of every report/paper job of a forced dry run."""
    tmp = tmp_path_factory.mktemp("dry")
    wd = workdir(tmp)
    stale = wd / "results" / "predictions" / "old-model" / "depth" / "synthetic_test.jsonl"
    stale.parent.mkdir(parents=True)
    stale.write_text("")
    out = dry_run(["-F", "--cores", "1", *TARGETS], wd, dry_run_env(tmp))
    found: dict[str, dict] = {}
    for block in re.split(r"\n(?=\[.*\]\n(?:local)?rule \w+:)", out):
        m = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if not m:
            continue
        fields = {k: [s.strip() for s in v.split(",")] for k, v in re.findall(r"^\s+(input|output): (.*)$", block, re.M)}
        cmd = re.search(r"^Shell command: .*?python -m vlm3\.\S+ (.*?) > \S+ 2>&1$", block, re.M)
        found[m.group(1)] = {**fields, "command": shlex.split(cmd.group(1)) if cmd else []}
    return found


def flag_values(argv: list[str], flag: str) -> list[str]:
    i = argv.index(flag) + 1
    vals = []
    while i < len(argv) and not argv[i].startswith("--"):
        vals.append(argv[i])
        i += 1
    return vals


def expected_predictions() -> list[str]:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    from vlm3.config import models_for
    return [f"results/predictions/{m}/{t}/{b['dataset']}_{b['split']}.jsonl"
            for t, benches in cfg["benchmarks"].items() for m in models_for(cfg, t) for b in benches]


def test_figures_reads_the_configured_files_only(jobs):
    fig = jobs["figures"]
    argv = fig["command"]
    preds = flag_values(argv, "--predictions")
    assert sorted(preds) == sorted(expected_predictions())
    assert not any("old-model" in a for a in argv)
    assert flag_values(argv, "--qa") == ["results/qa/correspondence/synthetic-pan/test.jsonl"]
    assert flag_values(argv, "--checkpoints") == [f"results/checkpoints/tiny-{r}" for r in ("depth", "object", "pairs")]
    # every path the command names is a declared input, and the images of the QA file are too
    named = preds + flag_values(argv, "--qa") + flag_values(argv, "--checkpoints") + flag_values(argv, "--config")
    assert set(named) <= set(fig["input"])
    assert "results/resized/synthetic-pan/test" in fig["input"]
    assert flag_values(argv, "--out") == ["results/figures"]


@pytest.mark.parametrize("rule", ["tables", "paper_tables", "audit", "paper_figures", "paper_macros"])
def test_report_rules_name_inputs_and_write_outputs(jobs, rule):
    job = jobs[rule]
    argv = job["command"]
    named = [a for a in argv if "/" in a]
    assert named and set(named) <= set(job["input"]) | set(job["output"]), set(named) - set(job["input"])
    outs = flag_values(argv, "--out")
    assert outs and set(outs) <= set(job["output"])
    assert not any(a.rstrip("/") in {"results/tables", "results/audit", "results/metrics", "results/predictions",
                                     "results/qa", "results/checkpoints"} for a in argv)
