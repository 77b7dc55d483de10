"""The one-GPU replica (config/replica.yaml): it validates, its DAG is the embedded default's chain
plus the focal-ablation arm, every run trains through the GPU launcher, prediction jobs declare a
GPU, and its camera design keeps the unified images at about the native pixel budget."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from _dryrun import dry_run, dry_run_env, job_counts, workdir

from vlm3.config import validate

ROOT = Path(__file__).resolve().parents[1]
REPLICA = ROOT / "config" / "replica.yaml"

JOBS = {"generate_synthetic": 4, "index": 4, "calibrate": 4, "calibration_report": 4, "resize": 4,
        "resize_native": 2, "qa": 8, "qa_native": 2, "mix": 4, "mix_native": 1, "baseline": 4,
        "build_tiny_model": 1, "expert": 2, "predict": 9, "score": 15, "train_config": 4, "train": 4, "figures": 1, "audit": 1,
        "paper_figures": 1, "paper_tables": 1, "tables": 4, "all": 1, "eval_manifest": 5, "leak_check": 4,
        "worst_cases": 4}


def test_replica_dry_run_plans_the_gpu_path(tmp_path):
    wd, env = workdir(tmp_path), dry_run_env(tmp_path)
    out = dry_run(["-c16", "--configfile", "config/replica.yaml"], wd, env)
    assert job_counts(out) == JOBS
    for task in ("depth", "object"):
        assert (f"exec python -m vlm3.train.launch -- python -m vlm3.train --config results/train_config/"
                f"replica-{task}.yaml --model results/models/base --data results/qa/{task}/train.jsonl"
                f" --out results/checkpoints/replica-{task}") in out
    # one run on both pair tasks' QA, from the pan dataset alone, answers both
    assert ("exec python -m vlm3.train.launch -- python -m vlm3.train --config results/train_config/replica-pairs.yaml"
            " --model results/models/base --data results/qa/pose/train.jsonl results/qa/correspondence/train.jsonl"
            " --out results/checkpoints/replica-pairs") in out
    for task in ("correspondence", "pose"):
        assert f"--inputs results/qa/{task}/synthetic-pan/train.jsonl:1.0 --n 6000" in out
        assert re.search(rf"--model results/checkpoints/replica-pairs --qa results/qa/{task}/synthetic-pan/test.jsonl", out)
    assert "--data results/qa_native/depth/train.jsonl --out results/checkpoints/replica-depth-native" in out
    assert ("""--recipe '{"batch_size": 32, "bf16": true, "grad_accum": 1, "gradient_checkpointing": true,"""
            """ "lr": 0.001, "max_minutes": 5.0, "max_steps": 250,"""
            """ "num_workers": 3, "packing": true, "shared_prefix": true}'"""
            " --out results/train_config/replica-depth.yaml") in out
    assert "python -m vlm3.model.build --config config/replica_model.yaml" in out
    # every prediction of the workflow's own models asks for a GPU; baselines and experts do not
    blocks = out.split("\n\n")
    pred = [b for b in blocks if "rule predict:" in b]
    assert len(pred) == 9 and all(re.search(r"resources: .*gpu=1", b) for b in pred)
    base = [b for b in blocks if "rule baseline:" in b]
    assert base and not any("gpu=1" in b for b in base)


def test_replica_keeps_the_native_pixel_budget():
    cfg = yaml.safe_load(REPLICA.read_text())
    validate(cfg, source=str(REPLICA))
    gen = cfg["datasets"]["synthetic"]["generate"]["common"]
    assert gen["sizes"] == ["320x240"]  # one native size: the native arm's size says nothing of its focal
    lo, hi = gen["focal_range"]
    # focal log-uniform in [lo, hi]: E[(F / f)^2] = F^2 (lo^-2 - hi^-2) / (2 ln(hi / lo))
    ratio = cfg["target_focal"] ** 2 * (lo ** -2 - hi ** -2) / (2 * math.log(hi / lo))
    f = np.exp(np.random.default_rng(0).uniform(math.log(lo), math.log(hi), 200_000))
    assert np.mean((cfg["target_focal"] / f) ** 2) == pytest.approx(ratio, rel=5e-3)
    assert 0.95 <= ratio <= 1.1
    pan = cfg["datasets"]["synthetic-pan"]["generate"]["common"]  # the pair tasks' data: the same budget
    assert (pan["sizes"], pan["focal_range"], pan["compass_style"]) == (gen["sizes"], gen["focal_range"], "ramp")
    assert cfg["runs"]["replica-depth-native"]["unify_focal"] is False
    assert all(r["gpus"] == 1 for r in cfg["runs"].values())
