"""Two CPU processes (gloo) through `python -m vlm3.train.launch --cpu`: FSDP2 sharding of a tiny
Qwen3-VL, sharded checkpoint save, and a resume whose losses equal the uninterrupted run's."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _launch(out: Path, *extra: str, port: int) -> dict:
    cmd = [sys.executable, "-m", "vlm3.train.launch", "--cpu", "--gpus-per-node", "2", "--main-port", str(port),
           "--module", "benchmarks.fsdp_cpu", "--", "--out", str(out), "--steps", "4", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in [k for k in env if k.startswith("SLURM_")]:
        env.pop(k)
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((out / "losses.json").read_text())


def test_two_process_fsdp_save_and_resume(tmp_path):
    full = _launch(tmp_path / "full", "--save-at", "2", port=29611)
    assert full["world"] == 2
    # each rank holds about half of every sharded parameter
    assert abs(full["rank0_local_numel"] - full["full_numel"] / 2) < 0.01 * full["full_numel"]
    shards = sorted(p.name for p in (tmp_path / "full" / "ckpt_2").glob("*.distcp"))
    assert shards == ["__0_0.distcp", "__1_0.distcp"]
    resumed = _launch(tmp_path / "resumed", "--resume", str(tmp_path / "full" / "ckpt_2"), port=29612)
    assert sorted(resumed["losses"]) == ["2", "3"]
    for step in ("2", "3"):
        # same step, same data, restored weights + AdamW moments + schedule: identical numbers
        assert resumed["losses"][step] == full["losses"][step]
    assert full["losses"]["0"]["loss"] != full["losses"]["3"]["loss"]
