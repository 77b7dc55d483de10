"""The DVC pipeline (dvc.yaml) end to end, data.dvc, and the push / clone / pull round trip.

- data.dvc: in a fresh clone of HEAD, Snakemake regenerates the embedded default's raw data
  (`raw_data`) and its hash is exactly the committed data.dvc's (the synthetic data is
  deterministic); one changed byte is detected.
- In a throwaway clone of HEAD ("A", fixture `finished_run`) with the quick setting committed as
  config/config.yaml and its raw data recorded in data.dvc: `dvc repro` runs the chain, a second
  `dvc repro` runs nothing, `dvc push` sends data/raw and every output to a local directory
  remote. A fresh `git clone` of A ("B") pulls them (data/raw byte-identical) and regenerates the
  tables with only the report stage: training never runs, although the pulled checkpoints are
  older than the training data (modification times a pull can leave behind).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import pytest
import yaml
from conftest import clone_head, dvc, run

pytestmark = pytest.mark.slow

STAGES = ["prepare", "train", "evaluate", "report"]


def ran_stages(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def snakemake_jobs(output: str) -> list[str]:
    """Rules of the jobs Snakemake started (`rule x:` / `localrule x:` headers in its output)."""
    return re.findall(r"^\s*(?:local)?rule (\w+):$", output, flags=re.M)


@pytest.fixture(scope="module")
def repo_a(finished_run) -> Path:
    return finished_run[0]


@pytest.fixture(scope="module")
def first_repro(finished_run):
    return finished_run[1]


def test_regenerated_raw_data_has_data_dvc_hash(tmp_path):
    """The committed data.dvc is the embedded default's raw data: regenerating it reproduces the
    hash exactly (`dvc commit -f data.dvc` rewrites data.dvc from the workspace: no change)."""
    c = clone_head(tmp_path / "repo")
    committed = (c / "data.dvc").read_text()
    out = yaml.safe_load(committed)["outs"][0]
    assert out["path"] == "data/raw" and out["md5"].endswith(".dir") and out["nfiles"] > 0
    run(["snakemake", "--cores", "all", "raw_data"], cwd=c, timeout=900)
    dvc(["commit", "-f", "data.dvc"], c, timeout=600)
    assert (c / "data.dvc").read_text() == committed
    assert "Data and pipelines are up to date." in dvc(["status", "data.dvc"], c).stdout
    # the comparison can fail: one changed byte is another hash
    image = next((c / "data" / "raw").rglob("*.png"))
    data = image.read_bytes()
    image.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert "modified:" in dvc(["status", "data.dvc"], c, timeout=600).stdout
    dvc(["commit", "-f", "data.dvc"], c, timeout=600)
    assert yaml.safe_load((c / "data.dvc").read_text())["outs"][0]["md5"] != out["md5"]


def test_repro_runs_the_chain(repo_a, first_repro):
    out = first_repro.stdout + first_repro.stderr
    assert ran_stages(out) == STAGES
    assert "'data.dvc' didn't change, skipping" in out  # the raw data recorded before the repro
    # raw data is Snakemake's (rule raw_data, before the repro): no stage rewrote it
    assert "generate_synthetic" not in snakemake_jobs(out)
    for task in ("depth", "object", "correspondence", "pose"):
        assert "\\bottomrule" in (repo_a / "results" / "tables" / f"{task}.tex").read_text()
    assert (repo_a / "dvc.lock").is_file()


def test_second_repro_does_nothing(repo_a, first_repro):
    logs = set((repo_a / ".snakemake" / "log").iterdir())
    proc = dvc(["repro"], repo_a, timeout=600)
    out = proc.stdout + proc.stderr
    assert ran_stages(out) == []
    assert "Data and pipelines are up to date." in out
    assert set((repo_a / ".snakemake" / "log").iterdir()) == logs  # Snakemake was not started


@pytest.fixture(scope="module")
def repo_b(repo_a, first_repro, tmp_path_factory) -> Path:
    """A's outputs pushed to a directory remote; B = a fresh clone of A that pulled them."""
    remote = tmp_path_factory.mktemp("remote")
    dvc(["remote", "add", "-d", "shared", str(remote)], repo_a)
    run(["git", "add", "dvc.lock", ".dvc/config", "data.dvc"], cwd=repo_a, timeout=30)
    run(["git", "commit", "-q", "-m", "results of the quick setting"], cwd=repo_a, timeout=30)
    dvc(["push"], repo_a, timeout=600)
    b = tmp_path_factory.mktemp("dvc_b") / "b"
    run(["git", "clone", "-q", str(repo_a), str(b)], cwd=b.parent, timeout=120)
    dvc(["pull"], b, timeout=600)
    return b


def test_pull_restores_every_output(repo_a, repo_b):
    proc = dvc(["status"], repo_b)
    assert "Data and pipelines are up to date." in proc.stdout
    # data.dvc round trip: the raw data, byte for byte
    assert _digests(repo_b / "data" / "raw") == _digests(repo_a / "data" / "raw")
    assert len(_digests(repo_b / "data" / "raw")) == yaml.safe_load((repo_b / "data.dvc").read_text())["outs"][0]["nfiles"]
    for rel in ("results/tables/depth.tex", "results/checkpoints/tiny-depth/config.json",
                "results/metrics/tiny-trained/depth/synthetic_test.json"):
        assert (repo_b / rel).read_bytes() == (repo_a / rel).read_bytes()


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_pulled_clone_regenerates_tables_without_training(repo_a, repo_b, snakemake_exe):
    # The modification times a pull can leave: checkpoints and base model older than the
    # training data they were made from.
    hour_ago = time.time() - 3600
    for sub in ("models", "checkpoints"):
        for path in (repo_b / "results" / sub).rglob("*"):
            os.utime(path, (hour_ago, hour_ago))
    # With plain Snakemake that retrains (the hazard is real) ...
    dry = run([snakemake_exe, "-n", "--cores", "1", "results/tables/depth.tex", "--forcerun", "tables"],
              cwd=repo_b, timeout=300)
    assert "train" in snakemake_jobs(dry.stdout + dry.stderr)
    # ... the report stage, run because its output is gone, must not.
    ckpt = _digests(repo_b / "results" / "checkpoints")
    for table in (repo_b / "results" / "tables").iterdir():
        table.unlink()
    proc = dvc(["repro"], repo_b, timeout=900)
    out = proc.stdout + proc.stderr
    assert ran_stages(out) == ["report"]
    # Every rule writes its log under results/logs/<stage>/ and logs are not shared; `--touch`
    # leaves an empty log for each upstream job it marks. Only the report's rules wrote one.
    logs = [p for p in (repo_b / "results" / "logs").rglob("*") if p.is_file()]
    assert {p.parent.name for p in logs if p.stat().st_size > 0} == {"report"}
    assert (repo_b / "results" / "logs" / "train" / "tiny-depth.log").stat().st_size == 0
    assert "Finished jobid" in out and "tables" in snakemake_jobs(out)
    assert _digests(repo_b / "results" / "checkpoints") == ckpt
    for task in ("depth", "object", "correspondence", "pose"):
        rel = f"results/tables/{task}.tex"
        assert (repo_b / rel).read_bytes() == (repo_a / rel).read_bytes()
    assert "Data and pipelines are up to date." in dvc(["status"], repo_b).stdout
