"""The pair-tasks overlay (config/pair_tasks.yaml, issue 13): it plans correspondence and pose from
their own ramp-compass dataset through one run that answers both (from the built model), depth and
object as the default does, and a source weighted 0 is left out of its mixture."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from _dryrun import DEFAULT_JOBS, dry_run, dry_run_env, job_counts, workdir

from vlm3.config import ConfigError, merge_files, validate

ROOT = Path(__file__).resolve().parents[1]
FILES = ["config/config.yaml", "config/pair_tasks.yaml"]


def test_the_pair_tasks_plan_one_run_on_the_pan_dataset(tmp_path):
    wd, env = workdir(tmp_path), dry_run_env(tmp_path)
    out = dry_run(["-c2", "--configfile", *FILES], wd, env)
    # the default's jobs, a second dataset's data chain, and one run fewer
    more = {"generate_synthetic": 2, "index": 2, "calibrate": 2, "calibration_report": 2, "resize": 2}
    want = {k: v + more.get(k, 0) for k, v in DEFAULT_JOBS.items()}
    want.update({"train": 3, "train_config": 3, "merged_config": 1})
    assert job_counts(out) == want
    gens = {m[1]: m[0] for m in re.finditer(r"python -m vlm3.synthetic.generate --out data/raw/(\S+) --split train.*",
                                            out)}
    assert "--compass-style ramp" in gens["synthetic-pan"] and "--compass" not in gens["synthetic"]
    # the pair mixtures read the pan dataset only (synthetic weighted 0 is not an input)
    for task in ("correspondence", "pose"):
        assert (f"python -m vlm3.qa.mix --inputs results/qa/{task}/synthetic-pan/train.jsonl:1.0 --n 1800 "
                f"--seed 0 --out results/qa/{task}/train.jsonl") in out
        assert f"results/qa/{task}/synthetic/" not in out
    trains = re.findall(r"exec python -m vlm3.train --config results/train_config/(\S+)\.yaml --model (\S+)", out)
    assert sorted(trains) == [(r, "results/models/base") for r in ("tiny-depth", "tiny-object", "tiny-pairs")]
    # one checkpoint answers both pair tasks, on the pan dataset's test split
    for task in ("correspondence", "pose"):
        assert re.search(rf"python -m vlm3.predict --model results/checkpoints/tiny-pairs --qa "
                         rf"results/qa/{task}/synthetic-pan/test.jsonl", out), task
    cfg = merge_files([ROOT / f for f in FILES])
    assert cfg["datasets"]["synthetic-pan"]["generate"]["common"]["compass_style"] == "ramp"
    assert cfg["runs"]["tiny-pairs"]["mixtures"] == ["pose", "correspondence"]


def test_with_the_pretrained_base_the_pair_run_still_starts_from_the_built_model(tmp_path):
    """`runs.<run>.from_built: true`: that run fine-tunes results/models/base (and waits for it, not
    for the pre-training) while every other run starts from results/models/pretrained."""
    wd, env = workdir(tmp_path), dry_run_env(tmp_path)
    out = dry_run(["-c2", "--configfile", "config/config.yaml", "config/pretrained_base.yaml", "config/pair_tasks.yaml"],
                  wd, env)
    trains = re.findall(r"exec python -m vlm3.train --config results/train_config/(\S+)\.yaml --model (\S+)", out)
    assert sorted(trains) == [("tiny-depth", "results/models/pretrained"), ("tiny-object", "results/models/pretrained"),
                              ("tiny-pairs", "results/models/base")]
    block = next(b for b in out.split("\n\n") if "output: results/checkpoints/tiny-pairs" in b)
    assert re.search(r"input: results/models/base, results/qa/pose/train.jsonl", block)
    assert "from_built" not in re.search(r"--recipe '(.*?)' --out results/train_config/tiny-pairs.yaml", out)[1]


def test_a_mixture_needs_one_source_weighted_above_0():
    cfg = merge_files([ROOT / f for f in FILES])
    validate(copy.deepcopy(cfg), source="merged")
    cfg["mixtures"]["pose"]["sources"] = {"synthetic": 0, "synthetic-pan": 0}
    with pytest.raises(ConfigError, match=r"mixtures.pose.sources: every weight is 0"):
        validate(cfg, source="merged")
    assert yaml.safe_load((ROOT / "config" / "pair_tasks.yaml").read_text())["mixtures"]["pose"]["sources"] == {
        "synthetic": 0, "synthetic-pan": 1.0}
