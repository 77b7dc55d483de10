"""Run every case of the fault corpus (tests/faults/cases.py) through its stage's CLI entry
(`vlm3.errors.run_stage` around the module's `main`, exactly what `python -m <module>` runs) and
check the outcome; a few cases also go through a real `python -m` subprocess."""

from __future__ import annotations

import importlib
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.cases import CASES, STAGES, Case
from tests.faults.world import ROOT
from vlm3.errors import run_stage


def _main(module: str):
    """The `main` that `python -m module` runs."""
    mod = importlib.import_module(module)
    return getattr(mod, "main", None) or importlib.import_module(module + ".__main__").main


def _leftovers(out: Path) -> list[str]:
    """Staging entries of `out` beside it."""
    if not out.parent.is_dir():
        return []
    return [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def test_corpus_covers_every_stage():
    assert len(CASES) >= 60
    assert {c.stage for c in CASES} == set(STAGES)
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(c.outcome in ("error", "skip") for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, world, tmp_path, monkeypatch, capsys, caplog):
    d = tmp_path
    run = case.build(world, d)
    run.argv = [a.replace("{d}", str(d)) for a in run.argv]
    if run.patch:
        run.patch(monkeypatch)
    main = _main(run.module)
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        try:
            run_stage(main, run.module, run.argv)
            code = 0
        except SystemExit as e:
            code = e.code
    monkeypatch.undo()
    err = capsys.readouterr().err
    expect = [s.replace("{d}", str(d)) for s in case.expect]
    assert "Traceback" not in err
    if case.outcome == "error":
        assert code not in (0, None), f"{case.id}: the stage succeeded"
        lines = [ln for ln in err.splitlines() if ": error: " in ln]
        assert len(lines) == 1, err[-3000:]
        line = lines[0]
        assert line.startswith(f"{run.module}: error: "), line
        for s in expect:
            assert s in line, f"{case.id}: {s!r} not in {line!r}"
        for out in run.outputs:
            assert not out.exists(), f"{case.id}: partial output {out}"
            assert not _leftovers(out), f"{case.id}: staging left: {_leftovers(out)}"
    else:
        assert code in (0, None), err
        for out in run.outputs:
            assert out.exists(), f"{case.id}: no output {out}"
        text = run.report.read_text() if run.report else caplog.text
        for s in expect:
            assert s in text, f"{case.id}: {s!r} not reported"


@pytest.mark.parametrize("case_id", ["mix-bad-json-line", "config-seed-string"])
def test_real_cli_has_no_traceback_and_debug_has_one(case_id, world, tmp_path):
    """The real `python -m` path: one error line, exit 1; with --debug the traceback is shown."""
    case = next(c for c in CASES if c.id == case_id)
    run = case.build(world, tmp_path)
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", run.module, *run.argv]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(f"{run.module}: error: ")
    res = subprocess.run([*cmd, "--debug"], capture_output=True, text=True, env=env)
    assert res.returncode == 1 and "Traceback" in res.stderr
    json.dumps(res.stderr)


def test_describe_never_prints_a_url_of_an_http_error():
    """An HTTPError's `filename` is its URL (a filled token may sit in it): never shown."""
    import urllib.error

    from vlm3.errors import describe

    e = urllib.error.HTTPError("https://h.example/SECRET123/a.bin", 403, "Forbidden", {}, None)
    assert describe(e) == "download failed: HTTP Error 403: Forbidden"
    assert describe(OSError(28, "No space left on device", "/x/y.json")) == \
        "/x/y.json: no space left on device (the partial output was removed)"
    assert describe(KeyError("k")).startswith("unexpected KeyError: 'k' (a bug; rerun with --debug")
