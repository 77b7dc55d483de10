"""SIGKILL in the middle of resize, QA generation and prediction (training: tests/test_train_resume.py,
which also checks its staging): the rerun's outputs are byte-identical to an uninterrupted run's and
no staging is left.

The kill is a real SIGKILL of the stage's process, sent by the process itself at a fixed point (the
k-th call of a function the stage calls while writing its output), so the test is deterministic."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.world import ROOT
from vlm3.errors import run_stage

# Run `python -m MODULE ARGV...` with FUNCTION (module:attr.path) replaced by one that SIGKILLs the
# process at its K-th call.
_KILLER = """
import importlib, os, runpy, signal, sys
mod_name, attr, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
owner = importlib.import_module(mod_name)
*path, name = attr.split(".")
for p in path:
    owner = getattr(owner, p)
real, calls = getattr(owner, name), [0]
def killer(*a, **kw):
    calls[0] += 1
    if calls[0] >= k:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*a, **kw)
setattr(owner, name, killer)
sys.argv = [sys.argv[4]] + sys.argv[5:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}


def _run(module: str, argv: list[str]) -> None:
    """The uninterrupted run and the rerun: the stage's CLI entry in this process (faster)."""
    run_stage(importlib.import_module(module).main, module, argv)


def _killed(module: str, argv: list[str], function: str, k: int) -> None:
    mod, attr = function.split(":")
    res = subprocess.run([sys.executable, "-c", _KILLER, mod, attr, str(k), module, *argv], env=_env(),
                         capture_output=True, text=True)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]


def _tree(out: Path) -> dict:
    if out.is_file():
        return {out.name: out.read_bytes()}
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _staging(out: Path) -> list[str]:
    return [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def _kill_rerun_compare(module, argv, out: Path, function, k):
    """Uninterrupted run -> bytes; remove; killed run (leaves staging); rerun; same bytes, no staging."""
    _run(module, argv)
    want = _tree(out)
    assert want
    if out.is_dir():
        import shutil
        shutil.rmtree(out)
    else:
        out.unlink()
    _killed(module, argv, function, k)
    assert not out.exists() and _staging(out), "the kill left no partial staging (it came too late)"
    _run(module, argv)
    assert _tree(out) == want
    assert _staging(out) == []


def test_sigkill_during_resize(world, tmp_path):
    out = tmp_path / "resized" / "test"
    argv = ["--calib", str(world.calib), "--pairs", str(world.pairs), "--out", str(out), "--target-focal", "60"]
    # the 3rd file written into the staging folder (images, depth maps, masks)
    _kill_rerun_compare("vlm3.resize", argv, out, "pathlib:Path.write_bytes", 3)


@pytest.mark.parametrize("task", ["depth", "correspondence"])
def test_sigkill_during_qa_generation(world, tmp_path, task):
    out = tmp_path / "qa" / f"{task}.jsonl"
    argv = ["--task", task, "--resized", str(world.resized), "--out", str(out), "--border", "2",
            "--questions-per-image", "2", "--answer-style", "fixed", "--min-covisibility", "0.05"]
    # every record written and closed in the staging file, killed as it is moved into place
    _kill_rerun_compare("vlm3.qa.build", argv, out, "os:replace", 1)


def test_sigkill_during_prediction(world, tmp_path):
    out = tmp_path / "pred" / "depth.jsonl"
    argv = ["--model", str(world.model), "--qa", str(world.qa["depth"]), "--out", str(out),
            "--max-new-tokens", "3", "--batch-size", "2", "--threads", "1"]
    # every answer generated and written to the staging file, killed as it is moved into place
    _kill_rerun_compare("vlm3.predict", argv, out, "os:replace", 1)
