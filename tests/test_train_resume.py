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
