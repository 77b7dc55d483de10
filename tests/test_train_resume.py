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

from vlm3.train.trainer import SIGTERM_EXIT, checkpoint_missing, last_complete_checkpoint

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
    # no staging of the killed run is left (issue 17 item 10)
    assert [p for p in (setup / "killed").rglob(".*")] == []


def test_sigterm_checkpoints_exits_143_and_resumes(setup, reference):
    rc = _start_and_signal(setup, "term", signal.SIGTERM, after_ckpt=4)
    assert rc == SIGTERM_EXIT
    assert not (setup / "term" / "model.safetensors").exists()
    last = last_complete_checkpoint(setup / "term" / "trainer_state")
    step = int(last.rsplit("-", 1)[1])
    assert 4 < step < STEPS  # a checkpoint written at the step the signal arrived in
    subprocess.run(_cmd(setup, "term"), env=_env(), check=True, capture_output=True)
    assert (setup / "term" / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()


def _fake_checkpoint(d: Path, state: str = '{"global_step": 4}', files=("model.safetensors", "optimizer.pt",
                     "scheduler.pt", "rng_state.pth")) -> None:
    d.mkdir()
    if state is not None:
        (d / "trainer_state.json").write_text(state)
    for f in files:
        (d / f).write_bytes(b"x")


def test_incomplete_checkpoint_is_skipped(tmp_path):
    _fake_checkpoint(tmp_path / "checkpoint-4")
    _fake_checkpoint(tmp_path / "checkpoint-8", state='{"global_st')
    _fake_checkpoint(tmp_path / "checkpoint-12", state=None)
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert last_complete_checkpoint(tmp_path / "none") is None


def test_checkpoint_without_optimizer_falls_back_with_warning(tmp_path, caplog):
    """Issue 17 defect 3: the newest checkpoint lacks optimizer/scheduler/RNG state -> the previous
    complete one is resumed, and the warning names both."""
    import logging

    _fake_checkpoint(tmp_path / "checkpoint-4")
    _fake_checkpoint(tmp_path / "checkpoint-8", files=("model.safetensors", "rng_state.pth"))
    assert checkpoint_missing(tmp_path / "checkpoint-8") == ["optimizer.pt", "scheduler.pt"]
    assert checkpoint_missing(tmp_path / "checkpoint-4") == []
    with caplog.at_level(logging.WARNING, logger="vlm3.train.trainer"):
        assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert (f"{tmp_path / 'checkpoint-8'} lacks optimizer.pt, scheduler.pt; resuming from the previous "
            f"complete checkpoint {tmp_path / 'checkpoint-4'} instead") in caplog.text


def test_no_complete_checkpoint_refuses(tmp_path):
    _fake_checkpoint(tmp_path / "checkpoint-8", files=("model.safetensors", "optimizer.pt", "scheduler.pt"))
    with pytest.raises(ValueError, match=r"no complete checkpoint to resume from \(.*checkpoint-8 lacks "
                                         r"rng_state.pth\)"):
        last_complete_checkpoint(tmp_path)


def test_resume_after_optimizer_lost_is_bitwise_identical(setup, reference):
    """End to end: kill a run, delete optimizer.pt from its newest checkpoint; the rerun resumes from
    the previous complete one (not with a fresh optimizer) and ends bitwise as the uninterrupted run."""
    rc = _start_and_signal(setup, "noopt", signal.SIGKILL, after_ckpt=8)
    assert rc == -signal.SIGKILL
    state = setup / "noopt" / "trainer_state"
    newest = last_complete_checkpoint(state)
    (Path(newest) / "optimizer.pt").unlink()
    res = subprocess.run(_cmd(setup, "noopt"), env=_env(), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    for name in ("model.safetensors", "loss.csv"):
        assert (setup / "noopt" / name).read_bytes() == (reference / name).read_bytes(), name
    assert f"{newest} lacks optimizer.pt; resuming from the previous complete checkpoint" in res.stderr


def test_state_of_other_settings_is_not_resumed(setup, reference, caplog):
    """Issue 17 defect 4: a rerun with another lr must not resume (and return) the old run's state."""
    import json
    import logging
    import shutil

    from vlm3.train.trainer import FINGERPRINT, TrainConfig, check_state, run_fingerprint

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
