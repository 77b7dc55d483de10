"""The pre-trained-base overlay (config/pretrained_base.yaml): it validates as Snakemake merges it,
plans the skills corpus and the pre-training once before every run, and changes only the object
recipe besides the base model."""

from __future__ import annotations

from pathlib import Path

import yaml
from _dryrun import DEFAULT_JOBS, dry_run, dry_run_env, job_counts, workdir
from snakemake.utils import update_config

from vlm3.config import merge_files

ROOT = Path(__file__).resolve().parents[1]
BASE, OVERLAY = ROOT / "config" / "config.yaml", ROOT / "config" / "pretrained_base.yaml"


def test_merge_is_snakemakes_and_changes_only_the_base_and_the_object_recipe():
    base = yaml.safe_load(BASE.read_text())
    want = yaml.safe_load(BASE.read_text())
    update_config(want, yaml.safe_load(OVERLAY.read_text()))
    got = merge_files([BASE, OVERLAY])
    assert got == want
    assert got["base_model"]["pretrain"] == {"records": 60000, "max_steps": 1500, "batch_size": 32, "lr": 1.0e-3,
                                             "threads": 2}
    changed = {(part, key) for part in got if isinstance(got[part], dict)
               for key in got[part] if got[part][key] != base.get(part, {}).get(key)}
    assert changed == {("base_model", "pretrain"), ("tasks", "object"), ("mixtures", "object"),
                       ("runs", "tiny-object")}
    assert got["runs"]["tiny-object"]["shared_prefix"] is True
    assert got["tasks"]["object"]["questions_per_image"] == 24


def test_overlay_pretrains_once_and_every_run_starts_from_it(tmp_path):
    wd, env = workdir(tmp_path), dry_run_env(tmp_path)
    out = dry_run(["-c2", "--configfile", "config/config.yaml", "config/pretrained_base.yaml"], wd, env)
    want = {**DEFAULT_JOBS, "skills_corpus": 1, "pretrain_base": 1, "merged_config": 1}
    assert job_counts(out) == want
    trains = [ln for ln in out.splitlines() if "exec python -m vlm3.train --config results/train_config/" in ln]
    assert len(trains) == 4 and all("--model results/models/pretrained " in ln for ln in trains)
    assert "exec python -m vlm3.train --model results/models/base --data results/qa/skills/train.jsonl" in out
    assert "python -m vlm3.model.skills --n 60000 --seed 0 --out results/qa/skills/train.jsonl" in out
    assert ("python -m vlm3.qa.build --task object --resized results/resized/synthetic/train "
            "--out results/qa/object/synthetic/train.jsonl") in out
    assert "--questions-per-image 24" in out
