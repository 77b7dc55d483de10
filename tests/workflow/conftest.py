"""Shared fixtures of the workflow tests (SLURM, DVC, the HTML report).

Every workflow test runs in a throwaway `git clone` of the current HEAD (committed files only), so
the developer's results/, data/ and .snakemake/ are never touched, and uses the quick setting of
the embedded default (`quick_config`): the same chain, with fewer scenes, steps and records.
`finished_run` is that chain run once per session (through `dvc repro`, as a user would); the
DVC and report tests share it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# The quick setting: the embedded default with small sizes (a run takes minutes on 2 CPU cores).
QUICK = {
    "generate": {"train": 30, "test": 8},
    "run": {"max_steps": 3, "max_minutes": 0.5, "batch_size": 4},
    "mixture_n": 40,
    "pretrain": {"records": 200, "max_steps": 3, "batch_size": 4},
}


def quick_config(base: dict) -> dict:
    """The embedded default `base` (config/config.yaml as a dict) shrunk to the quick setting."""
    cfg = yaml.safe_load(yaml.safe_dump(base))  # deep copy
    for ds in cfg["datasets"].values():
        if "generate" in ds:
            for split, n in QUICK["generate"].items():
                ds["generate"][split]["n_scenes"] = n
    if "pretrain" in cfg["base_model"]:
        cfg["base_model"]["pretrain"].update(QUICK["pretrain"])
    for run in cfg["runs"].values():
        run.update(QUICK["run"])
    for mix in cfg["mixtures"].values():
        mix["n"] = QUICK["mixture_n"]
    return cfg


def write_quick_config(src: Path, dst: Path) -> Path:
    """Write the quick setting of the config file `src` to `dst`; returns `dst`."""
    cfg = quick_config(yaml.safe_load(src.read_text()))
    dst.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dst


def run(cmd: list[str] | str, cwd: Path, timeout: float, env: dict | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    """Run a command, capture its output; on failure (check) fail the test with the output's tail."""
    full_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=full_env, text=True, capture_output=True,
                              timeout=timeout, shell=isinstance(cmd, str))
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or "") if isinstance(err.stdout, str) else ""
        pytest.fail(f"{cmd} timed out after {timeout} s in {cwd}\n{out[-4000:]}")
    if check and proc.returncode != 0:
        pytest.fail(f"{cmd} exited {proc.returncode} in {cwd}\n"
                    f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")
    return proc


def clone_head(dst: Path) -> Path:
    """`git clone` of the repository's current HEAD into `dst` (a fresh, committed-only copy)."""
    run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(dst)], cwd=dst.parent, timeout=120)
    run(["git", "config", "user.email", "test@example.invalid"], cwd=dst, timeout=10)
    run(["git", "config", "user.name", "workflow test"], cwd=dst, timeout=10)
    return dst


def _asked_for(config) -> bool:
    """Workflow tests run when asked for: a path under tests/workflow on the command line, a -m
    expression naming `slow` or `slurm`, or VLM3_WORKFLOW_TESTS=1 / VLM3_REQUIRE_SLURM=1."""
    if os.environ.get("VLM3_WORKFLOW_TESTS") == "1" or os.environ.get("VLM3_REQUIRE_SLURM") == "1":
        return True
    markexpr = config.getoption("markexpr", "") or ""
    if re.search(r"(?<!not )\b(slow|slurm)\b", markexpr):  # `-m slow`, not `-m "not slow"`
        return True
    here = Path(__file__).parent.resolve()
    for arg in config.args:
        path = (Path(config.invocation_params.dir) / arg.split("::")[0]).resolve()
        if path == here or here in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config, items):
    # A plain `pytest` of the whole suite must not start 20-minute runs on the shared SLURM
    # cluster: these tests are opt-in (reported as skipped, with how to run them).
    if _asked_for(config):
        return
    skip = pytest.mark.skip(reason="workflow test (minutes, submits SLURM jobs): run "
                            "`pytest tests/workflow`, `-m slow`, or set VLM3_WORKFLOW_TESTS=1")
    here = Path(__file__).parent.resolve()
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A throwaway clone of HEAD (one per test module)."""
    return clone_head(tmp_path_factory.mktemp("clone") / "repo")


@pytest.fixture(scope="module")
def quick_yaml(clone: Path, tmp_path_factory) -> Path:
    """The quick config, derived from the clone's config/config.yaml, in a temp dir."""
    return write_quick_config(clone / "config" / "config.yaml",
                              tmp_path_factory.mktemp("config") / "quick.yaml")


DVC_ENV = {"DVC_NO_ANALYTICS": "1"}


def dvc(args: list[str], cwd: Path, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return run(["dvc", *args], cwd=cwd, timeout=timeout, env=DVC_ENV, check=check)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """(repository A, output of its `dvc repro`): a clone of HEAD with the quick setting committed
    as config/config.yaml, its raw data written by Snakemake (`raw_data`) and recorded in data.dvc
    (`dvc commit -f data.dvc`, committed), then the whole chain run by `dvc repro`."""
    a = clone_head(tmp_path_factory.mktemp("dvc") / "a")
    write_quick_config(a / "config" / "config.yaml", a / "config" / "config.yaml")
    run(["git", "commit", "-q", "-am", "quick setting"], cwd=a, timeout=30)
    run(["snakemake", "--cores", "all", "raw_data"], cwd=a, timeout=900)
    dvc(["commit", "-f", "data.dvc"], a, timeout=300)
    run(["git", "commit", "-q", "-am", "raw data of the quick setting"], cwd=a, timeout=30)
    return a, dvc(["repro"], a, timeout=3000)


@pytest.fixture(scope="session")
def snakemake_exe() -> str:
    exe = shutil.which("snakemake")
    if exe is None:
        pytest.fail("snakemake is not on PATH (pip install -r requirements.txt)")
    return exe


@pytest.fixture(scope="session")
def python_exe() -> str:
    return sys.executable
