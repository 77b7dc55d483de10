"""Snakemake dry runs of the workflow in a fresh-checkout view of the repository, for the config
tests (test_paper_config.py, test_released_config.py, test_replica_config.py, test_train_rule.py,
test_ablation_focal.py, test_default_config.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"
# Jobs of the embedded default (config/config.yaml) from a fresh checkout; overlays add to them.
DEFAULT_JOBS = {"generate_synthetic": 4, "index": 4, "calibrate": 4, "calibration_report": 4, "resize": 4, "qa": 8,
                "mix": 4, "baseline": 4, "build_tiny_model": 1, "skills_corpus": 1, "pretrain_base": 1, "expert": 2,
                "predict": 8, "score": 14, "train": 3, "train_config": 3, "figures": 1, "audit": 1, "paper_figures": 1,
                "paper_tables": 1, "tables": 4, "all": 1, "eval_manifest": 4, "leak_check": 4, "worst_cases": 4}


def workdir(tmp: Path) -> Path:
    """A working directory with no data and no results that sees the repository's files (config/,
    paper/, envs/, ...) through links: the DAG of a fresh checkout, whatever ran in ROOT."""
    wd = tmp / "wd"
    wd.mkdir()
    for p in ROOT.iterdir():
        if p.name not in {"results", "data", ".snakemake", ".git"}:
            (wd / p.name).symlink_to(p)
    return wd


def dry_run_env(tmp: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    if shutil.which("conda") is None:
        # FAKE conda: the slurm profile deploys rule envs with conda, which cannot be installed on
        # this machine. A dry run only asks conda for its info, version and channel priority; this
        # stand-in answers those three and refuses anything else. Where conda exists it is used.
        fake = tmp / "fakebin"
        fake.mkdir()
        (fake / "conda").write_text(
            "#!/bin/sh\n"
            'case "$1 $2" in\n'
            '  "info --json") echo \'{"conda_prefix": "/nonexistent", "platform": "linux-64"}\';;\n'
            '  "--version ") echo "conda 24.7.1";;\n'
            '  "config --get") echo \'{"get": {"channel_priority": "strict"}}\';;\n'
            '  *) echo "fake conda: $*" >&2; exit 1;;\n'
            "esac\n")
        (fake / "conda").chmod(0o755)
        env["PATH"] = f"{fake}{os.pathsep}{env['PATH']}"
    return env


def dry_run(args: list[str], cwd: Path, env: dict) -> str:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-n", "-p", *args]
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    return out


def job_counts(out: str) -> dict:
    table = out.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}
