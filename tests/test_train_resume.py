"""Training: checkpoints resume bitwise after SIGKILL, SIGTERM checkpoints and exits 143."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from _tiny import build_tiny
from vlm3.train.trainer import SIGTERM_EXIT, last_complete_checkpoint


STEPS = 24


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    qa = build_tiny(d, 16)
    (d / "run.yaml").write_text(yaml.safe_dump({
        "model": str(d / "init"), "data": [str(qa)], "max_steps": STEPS, "batch_size": 2, "grad_accum": 2,
        "lr": 3e-3, "seed": 0, "save_steps": 4, "threads": 1}))
    return d


def _cmd(d: Path, out: str) -> list[str]:
    return [sys.executable, "-m", "vlm3.train", "--config", str(d / "run.yaml"), "--out", str(d / out)]


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")


def _start_and_signal(d: Path, out: str, sig: int, after_ckpt: int) -> int:
    """Start a run, send `sig` once checkpoint-`after_ckpt` is complete; return the exit status."""
    proc = subprocess.Popen(_cmd(d, out), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = d / out / "trainer_state" / f"checkpoint-{after_ckpt}" / "trainer_state.json"
    deadline = time.monotonic() + 60
    while not state.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    proc.stderr.close()
    return proc.returncode


@pytest.fixture(scope="module")
def reference(setup):
    subprocess.run(_cmd(setup, "ref"), env=_env(), check=True, capture_output=True)
    return setup / "ref"


def test_uninterrupted_outputs(reference):
    names = {p.name for p in reference.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "processor_config.json", "loss.csv",
            "loss.png", "train_summary.json", "trainer_state"} <= names
    lines = (reference / "loss.csv").read_text().splitlines()
    assert lines[0] == "step,loss,lr" and len(lines) == STEPS + 1
    assert last_complete_checkpoint(reference / "trainer_state").endswith(f"checkpoint-{STEPS}")


def test_sigkill_then_resume_is_bitwise_identical(setup, reference):
    rc = _start_and_signal(setup, "killed", signal.SIGKILL, after_ckpt=8)
    assert rc == -signal.SIGKILL
    assert not (setup / "killed" / "model.safetensors").exists()  # died mid-way
    subprocess.run(_cmd(setup, "killed"), env=_env(), check=True, capture_output=True)
    for name in ("model.safetensors", "loss.csv"):
        assert (setup / "killed" / name).read_bytes() == (reference / name).read_bytes(), name


def test_sigterm_checkpoints_exits_143_and_resumes(setup, reference):
    rc = _start_and_signal(setup, "term", signal.SIGTERM, after_ckpt=4)
    assert rc == SIGTERM_EXIT
    assert not (setup / "term" / "model.safetensors").exists()
    last = last_complete_checkpoint(setup / "term" / "trainer_state")
    step = int(last.rsplit("-", 1)[1])
    assert 4 < step < STEPS  # a checkpoint written at the step the signal arrived in
    subprocess.run(_cmd(setup, "term"), env=_env(), check=True, capture_output=True)
    assert (setup / "term" / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()


def test_incomplete_checkpoint_is_skipped(tmp_path):
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text('{"global_step": 4}')
    (tmp_path / "checkpoint-8").mkdir()
    (tmp_path / "checkpoint-8" / "trainer_state.json").write_text('{"global_st')
    (tmp_path / "checkpoint-12").mkdir()
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert last_complete_checkpoint(tmp_path / "none") is None


def test_state_of_other_settings_is_not_resumed(setup, reference, caplog):
    """Issue 17 defect 4: a rerun with another lr must not resume (and return) the old run's state."""
    import json
    import shutil

    import logging

    from vlm3.train.trainer import FINGERPRINT, check_state, run_fingerprint, TrainConfig

    d = setup
    shutil.copytree(reference / "trainer_state", d / "stale_state")
    cfg = yaml.safe_load((d / "run.yaml").read_text())
    old = run_fingerprint(TrainConfig(out=str(d / "x"), **cfg))
    assert json.loads((d / "stale_state" / FINGERPRINT).read_text()) == old
    # same settings: checkpoints kept (a plain resume)
    check_state(d / "stale_state", old)
    assert last_complete_checkpoint(d / "stale_state") is not None
    new = run_fingerprint(TrainConfig(out=str(d / "x"), **{**cfg, "lr": 1e-3}))
    assert new["recipe"]["lr"] == 1e-3 and new["data"] == old["data"] and new["base_model"] == old["base_model"]
    with caplog.at_level(logging.WARNING, logger="vlm3.train.trainer"):
        check_state(d / "stale_state", new)
    assert last_complete_checkpoint(d / "stale_state") is None
    assert json.loads((d / "stale_state" / FINGERPRINT).read_text()) == new
    assert "checkpoint(s) of other settings (differs: recipe (lr)); starting afresh" in caplog.text
    # end to end: the rule's rerun with another lr trains from scratch to max_steps, it does not
    # return the reference's weights
    (d / "run_lr.yaml").write_text(yaml.safe_dump({**cfg, "lr": 1e-3}))
    shutil.copytree(reference / "trainer_state", d / "rerun" / "trainer_state")
    res = subprocess.run([sys.executable, "-m", "vlm3.train", "--config", str(d / "run_lr.yaml"), "--out",
                          str(d / "rerun")], env=_env(), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "starting afresh" in res.stderr
    summ = json.loads((d / "rerun" / "train_summary.json").read_text())
    assert summ["global_step"] == STEPS and summ["config"]["lr"] == 1e-3
    assert (d / "rerun" / "model.safetensors").read_bytes() != (reference / "model.safetensors").read_bytes()
