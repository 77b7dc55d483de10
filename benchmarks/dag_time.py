"""Time to build the workflow's DAG (`snakemake -n`) for the paper config on a machine with no data.

    python benchmarks/dag_time.py [--repeat 3] [--json out.json]

Each case runs `python -m snakemake -s <repo>/Snakefile -n ...` in a fresh working directory that
links the repository's files but has no data/ or results/ (what a new user on a login node has),
so every job from download to the table is planned. Reported per case: wall seconds (median and
min over the repeats) and CPU seconds of the child process (user + system, median), and the job
count from Snakemake's "Job stats". `snakemake --version` is the start-up floor (interpreter +
Snakemake import). Goal: the paper depth-table DAG in < 20 s wall. Recorded in
benchmarks/RESULTS.md ("DAG construction").

The slurm-profile case needs `conda` on PATH (the profile deploys rule envs with conda; a dry run
only queries it). Without conda that case is skipped and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER = str(ROOT / "config" / "paper.yaml")
TABLES = [f"results/tables/{t}.tex" for t in ("depth", "object", "correspondence", "pose")]
CASES = {
    "startup (snakemake --version)": ["--version"],
    "paper: results/tables/depth.tex": ["-n", "--configfile", PAPER, "--", TABLES[0]],
    "paper: all four tables": ["-n", "--configfile", PAPER, "--", *TABLES],
    "slurm profile: results/tables/depth.tex": ["-n", "--profile", str(ROOT / "profiles" / "slurm"), TABLES[0]],
    "embedded default: all": ["-n", "-c2"],
}


def fresh_workdir(parent: Path) -> Path:
    wd = Path(tempfile.mkdtemp(dir=parent))
    for p in ROOT.iterdir():
        if p.name not in {"results", "data", ".snakemake", ".git"}:
            (wd / p.name).symlink_to(p)
    return wd


def run_once(args: list[str], parent: Path) -> tuple[float, float, int | None]:
    """(wall s, child CPU s, jobs planned) of one snakemake call in a fresh working directory."""
    wd = fresh_workdir(parent)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=wd, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{(res.stdout + res.stderr)[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = re.search(r"^total\s+(\d+)\s*$", res.stdout + res.stderr, re.M)
    shutil.rmtree(wd)
    return wall, cpu, int(m[1]) if m else None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the numbers here")
    a = ap.parse_args(argv)
    if a.repeat < 1:
        raise ValueError(f"--repeat must be >= 1, got {a.repeat}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in CASES.items():
            if "--profile" in args and shutil.which("conda") is None:
                print(f"skipped: {name} (no conda on PATH; the profile deploys envs with conda)")
                continue
            runs = [run_once(args, Path(tmp)) for _ in range(a.repeat)]
            walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
            rows.append({"case": name, "wall_median_s": round(statistics.median(walls), 2),
                         "wall_min_s": round(min(walls), 2), "cpu_median_s": round(statistics.median(cpus), 2),
                         "jobs": runs[0][2]})
    load = os.getloadavg()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load[0]:.1f}, "
          f"repeats {a.repeat}")
    print("| case | jobs | wall s (median) | wall s (min) | CPU s (median) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['jobs'] or '-'} | {r['wall_median_s']} | {r['wall_min_s']} | {r['cpu_median_s']} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"load_average": load, "rows": rows}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
