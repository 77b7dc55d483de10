"""The embedded default's recipe (config/config.yaml, issue 13): the built tiny model is pre-trained
once on number skills and the depth and object runs fine-tune from it; depth and object come from the
`synthetic` dataset, correspondence and pose from their own ramp-compass pan dataset `synthetic-pan`
through one run that answers both, from the built model (from_built); and a mixture source weighted 0
is left out (an overlay's way to switch one off)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from _dryrun import DEFAULT_JOBS, dry_run, dry_run_env, job_counts, workdir

from vlm3.config import ConfigError, validate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_the_default_plans_all_four_tasks(tmp_path):
    wd, env = workdir(tmp_path), dry_run_env(tmp_path)
    out = dry_run(["-c2"], wd, env)
    assert job_counts(out) == DEFAULT_JOBS
    # the pre-training: once, from the built model, on the generated skills corpus
    assert "python -m vlm3.model.skills --n 60000 --seed 0 --out results/qa/skills/train.jsonl" in out
    assert ("exec python -m vlm3.train --model results/models/base --data results/qa/skills/train.jsonl "
            "--out results/models/pretrained") in out
    trains = re.findall(r"exec python -m vlm3.train --config results/train_config/(\S+)\.yaml --model (\S+) "
                        r"--data (.+?) --out", out)
    assert sorted(trains) == [
        ("tiny-depth", "results/models/pretrained", "results/qa/depth/train.jsonl"),
        ("tiny-object", "results/models/pretrained", "results/qa/object/train.jsonl"),
        ("tiny-pairs", "results/models/base", "results/qa/pose/train.jsonl results/qa/correspondence/train.jsonl")]
    # from_built: the pair run waits for the built model, not the pre-training, and the key stays
    # out of the trainer's recipe
    block = next(b for b in out.split("\n\n") if "output: results/checkpoints/tiny-pairs" in b)
    assert re.search(r"input: results/models/base, results/qa/pose/train.jsonl", block)
    pairs_recipe = re.search(r"--recipe '(.*?)' --out results/train_config/tiny-pairs.yaml", out)[1]
    assert "from_built" not in pairs_recipe
    # the measured budgets (benchmarks/RESULTS.md): 1200 object steps, 1000 pair steps, both of 16
    assert '"batch_size": 16' in pairs_recipe and '"max_steps": 1000' in pairs_recipe
    assert '"max_steps": 1200' in re.search(r"--recipe '(.*?)' --out results/train_config/tiny-object.yaml", out)[1]
    # object: every category an image supports, from the default's scenes
    assert re.search(r"python -m vlm3.qa.build --task object --resized results/resized/synthetic/train "
                     r"--out results/qa/object/synthetic/train.jsonl .*--questions-per-image 24", out)
    # the pair tasks: their own dataset (ramp compass), mixtures and benchmarks; one checkpoint answers both
    gens = {m[1]: m[0] for m in re.finditer(r"python -m vlm3.synthetic.generate --out data/raw/(\S+) --split train.*",
                                            out)}
    assert "--compass-style ramp" in gens["synthetic-pan"] and "--compass" not in gens["synthetic"]
    for task in ("correspondence", "pose"):
        assert (f"python -m vlm3.qa.mix --inputs results/qa/{task}/synthetic-pan/train.jsonl:1.0 --n 1800 "
                f"--seed 0 --out results/qa/{task}/train.jsonl") in out
        assert f"results/qa/{task}/synthetic/" not in out
        assert re.search(rf"python -m vlm3.predict --model results/checkpoints/tiny-pairs --qa "
                         rf"results/qa/{task}/synthetic-pan/test.jsonl", out), task
    assert re.search(r"--answer-points offset", out)


def test_a_source_weighted_0_is_left_out_of_its_mixture(tmp_path):
    """An overlay that merges into the default cannot delete a mixture's source; weight 0 switches it
    off: the mix reads only the others (the same command as without the key)."""
    over = tmp_path / "over.yaml"
    over.write_text(yaml.safe_dump({"mixtures": {"pose": {"sources": {"synthetic": 0, "synthetic-pan": 1.0},
                                                          "n": 1800}}}))
    wd, env = workdir(tmp_path), dry_run_env(tmp_path)
    out = dry_run(["-c2", "--configfile", "config/config.yaml", str(over), "--", "results/qa/pose/train.jsonl"],
                  wd, env)
    assert ("python -m vlm3.qa.mix --inputs results/qa/pose/synthetic-pan/train.jsonl:1.0 --n 1800 --seed 0 "
            "--out results/qa/pose/train.jsonl") in out
    assert "results/qa/pose/synthetic/train.jsonl" not in out
    cfg = copy.deepcopy(DEFAULT)
    cfg["mixtures"]["pose"]["sources"] = {"synthetic": 0, "synthetic-pan": 0}
    with pytest.raises(ConfigError, match=r"mixtures.pose.sources: every weight is 0"):
        validate(cfg, source="c.yaml")
