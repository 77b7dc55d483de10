"""The focal-unification ablation overlay (config/ablation_focal.yaml): merged as Snakemake merges
several --configfile, it plans exactly the extra native-focal jobs, the embedded default plans
exactly the old ones, and the audit pairs tiny-trained (unified) with tiny-native (native focal)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from _dryrun import DEFAULT_JOBS, dry_run, dry_run_env, job_counts, workdir
from snakemake.utils import update_config

from vlm3.config import ConfigError, main, merge_files
from vlm3.report.claims import load_claims, models_matching

ROOT = Path(__file__).resolve().parents[1]
BASE, OVERLAY = ROOT / "config" / "config.yaml", ROOT / "config" / "ablation_focal.yaml"

EXTRA_JOBS = {"merged_config": 1, "resize_native": 2, "qa_native": 2, "mix_native": 1, "train": 1, "predict": 1,
              "score": 1, "eval_manifest": 1, "train_config": 1}


def test_merge_is_snakemakes_and_validates(tmp_path):
    want = yaml.safe_load(BASE.read_text())
    update_config(want, yaml.safe_load(OVERLAY.read_text()))
    got = merge_files([BASE, OVERLAY])
    assert got == want and list(got["models"]) == list(want["models"])
    assert got["runs"]["tiny-depth-native"] == {**got["runs"]["tiny-depth"], "unify_focal": False}
    main(["--merge", str(BASE), str(OVERLAY), "--out", str(tmp_path / "m.yaml")])
    assert yaml.safe_load((tmp_path / "m.yaml").read_text()) == want
    bad = tmp_path / "bad.yaml"
    bad.write_text("runs:\n  tiny-depth-native: {unify_focal: 0}\n")
    with pytest.raises(ConfigError, match=r"runs.tiny-depth-native.unify_focal: 0 is not of type 'boolean'"):
        main(["--merge", str(BASE), str(OVERLAY), str(bad), "--out", str(tmp_path / "x.yaml")])
    assert not (tmp_path / "x.yaml").exists()


def test_audit_pairs_unified_and_native_runs():
    cfg = merge_files([BASE, OVERLAY])
    claim = load_claims(ROOT / "paper" / "claims.yaml").synthetic["focal_unification_helps"]
    assert models_matching([claim.better], cfg, "depth") == ["tiny-trained"]  # tiny-{task}: not tiny-depth-native
    assert models_matching(claim.than, cfg, "depth") == ["tiny-native"]
    base = yaml.safe_load(BASE.read_text())
    assert models_matching(claim.than, base, "depth") == []
    mixed = copy.deepcopy(cfg)
    mixed["runs"]["tiny-pairs"]["unify_focal"] = False  # a model's runs must agree
    assert models_matching([claim.better], mixed, "depth") == []


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ablation")
    wd, env = workdir(tmp), dry_run_env(tmp)
    default = dry_run(["-c2"], wd, env)
    overlay = dry_run(["-c2", "--configfile", "config/config.yaml", "config/ablation_focal.yaml"], wd, env)
    return default, overlay


def test_default_plans_exactly_the_old_jobs(dry_runs):
    default, _ = dry_runs
    assert job_counts(default) == DEFAULT_JOBS
    assert "native" not in default and "results/config.yaml" not in default
    assert ("--config config/config.yaml --runs results/checkpoints/tiny-depth results/checkpoints/tiny-object "
            "results/checkpoints/tiny-pairs --out results/audit") in default


def test_overlay_adds_the_native_focal_chain(dry_runs):
    _, out = dry_runs
    want = dict(DEFAULT_JOBS)
    for k, n in EXTRA_JOBS.items():
        want[k] = want.get(k, 0) + n
    assert job_counts(out) == want
    for cmd in (
        "python -m vlm3.resize --calib results/calib/synthetic/train.parquet --pairs results/index/synthetic/"
        "train_pairs.parquet --out results/resized_native/synthetic/train --target-focal none --workers 2",
        "python -m vlm3.qa.build --task depth --resized results/resized_native/synthetic/test"
        " --out results/qa_native/depth/synthetic/test.jsonl",
        "python -m vlm3.qa.mix --inputs results/qa_native/depth/synthetic/train.jsonl:1.0 --n 1800 --seed 0"
        " --out results/qa_native/depth/train.jsonl",
        "exec python -m vlm3.train --config results/train_config/tiny-depth-native.yaml --model results/models/pretrained"
        " --data results/qa_native/depth/train.jsonl --out results/checkpoints/tiny-depth-native",
        "python -m vlm3.predict --model results/checkpoints/tiny-depth-native --qa results/qa_native/depth/"
        "synthetic/test.jsonl --out results/predictions/tiny-native/depth/synthetic_test.jsonl",
        # the unified run and the baseline are untouched; the report CLIs read the merged config
        "exec python -m vlm3.train --config results/train_config/tiny-depth.yaml --model results/models/pretrained"
        " --data results/qa/depth/train.jsonl --out results/checkpoints/tiny-depth ",
        "python -m vlm3.predict --model results/checkpoints/tiny-depth --qa results/qa/depth/synthetic/test.jsonl",
        "python -m vlm3.config --merge config/config.yaml config/ablation_focal.yaml --out results/config.yaml",
        # the audit also reads the native run's checkpoint (its steps reached)
        "--config results/config.yaml --runs results/checkpoints/tiny-depth results/checkpoints/tiny-depth-native "
        "results/checkpoints/tiny-object results/checkpoints/tiny-pairs --out results/audit",
    ):
        assert cmd in out, cmd
    predicts = [ln for ln in out.splitlines() if "python -m vlm3.predict " in ln]
    assert sum("--qa results/qa_native/" in ln for ln in predicts) == 1  # only tiny-native answers at native focal
