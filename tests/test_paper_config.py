"""config/paper.yaml: valid, names the registry's datasets, carries the paper's numbers, and its DAG
(download -> ... -> tables) builds on a machine with no data."""

from __future__ import annotations

import copy
import math

import pytest
from _dryrun import PAPER, ROOT, dry_run, dry_run_env, job_counts, workdir

from vlm3.config import ConfigError, load, validate
from vlm3.download import load_registry

# REFERENCE.md "Training data (paper) and recipe" (numbers copied by hand, not read from the registry).
DEPTH_WEIGHTS = {"argoverse2": 0.21, "waymo": 0.04, "nuscenes": 0.01, "scannetpp": 0.01,
                 "taskonomy": 0.51, "hm3d": 0.78, "matterport3d": 0.006, "streetview-internal": 1.0}
# task: (lr, global batch, samples, GPUs, wall time in minutes)
RECIPES = {"depth": (5.5e-5, 1344, 32_000_000, 32, 3 * 24 * 60),
           "object": (3.5e-4, 640, 1_000_000, 32, 3 * 60),
           "correspondence": (2e-5, 2816, 80_000_000, 64, 7 * 24 * 60),
           "pose": (5e-5, 448, 10_000_000, 32, 4 * 24 * 60)}
# REFERENCE.md "Evaluation sets", as registry names
BENCHMARKS = {
    "depth": ["argoverse2", "ddad", "nuscenes", "eth3d", "scannetpp", "sunrgbd", "ibims1", "nyuv2"],
    "object": ["spatialrgpt-bench"],
    "correspondence": ["ufm-eth3d", "ufm-dtu", "ufm-tawb"],
    "pose": ["eth3d-wai", "scannetpp-wai"],
}


@pytest.fixture(scope="module")
def cfg():
    return load(PAPER)


@pytest.fixture(scope="module")
def reg():
    return load_registry(ROOT / "config" / "datasets.yaml")["datasets"]


def test_datasets_are_registry_entries_with_their_loader(cfg, reg):
    for name, ds in cfg["datasets"].items():
        assert name in reg, name
        assert ds["source"] == "download", name
        assert ds.get("registry", "config/datasets.yaml") == "config/datasets.yaml"
        assert reg[name]["loader"] is not None and ds["type"] == reg[name]["loader"], name
    assert cfg["datasets"]["spatialrgpt-bench"]["calibrate"] == ["metadata", "exif", "geocalib"]
    assert cfg["target_focal"] == 1000


def test_benchmarks_are_the_papers_eval_sets_on_their_eval_split(cfg, reg):
    got = {t: [b["dataset"] for b in bs] for t, bs in cfg["benchmarks"].items()}
    assert got == BENCHMARKS
    for task, benches in cfg["benchmarks"].items():
        for b in benches:
            assert b["split"] == reg[b["dataset"]]["eval_split"], b
            assert task in reg[b["dataset"]]["role"]["eval"], b


def test_depth_mixture_has_the_paper_weights(cfg, reg):
    sources = cfg["mixtures"]["depth"]["sources"]
    # every paper source with a loader is in, with the paper's weight; those left out have none
    left_out = {n for n in DEPTH_WEIGHTS if reg[n]["loader"] is None}
    assert left_out == {"waymo", "streetview-internal"}
    assert sources == {n: w for n, w in DEPTH_WEIGHTS.items() if n not in left_out}
    for n, w in sources.items():
        assert reg[n]["mixture"] == {**reg[n]["mixture"], "task": "depth", "weight": w}
    assert cfg["mixtures"]["depth"]["n"] == RECIPES["depth"][2]


def test_pair_mixtures_use_the_pair_sources_with_loaders(cfg, reg):
    for task in ("correspondence", "pose"):
        src = cfg["mixtures"][task]["sources"]
        assert set(src) == {"scannetpp", "megadepth", "blendedmvs", "tartanair"}
        for n in src:
            assert task in reg[n]["role"]["train"] and "train" in cfg["datasets"][n]["splits"]
        assert cfg["mixtures"][task]["n"] == RECIPES[task][2]
    # the paper's object source has no loader, hence no object mixture (documented in paper.yaml)
    assert reg["spatialrgpt-train"]["loader"] is None and "object" not in cfg["mixtures"]


@pytest.mark.parametrize("task", ["depth", "correspondence", "pose"])
def test_runs_follow_the_paper_recipe(cfg, task):
    lr, batch, samples, gpus, minutes = RECIPES[task]
    r = cfg["runs"][f"paper-{task}"]
    assert r["task"] == task
    assert (r["lr"], r["global_batch"], r["samples"], r["gpus"], r["runtime_min"]) == (lr, batch, samples,
                                                                                       gpus, minutes)
    assert r["batch_size"] * r["grad_accum"] * r["gpus"] == batch
    assert r["max_steps"] == math.ceil(samples / batch)
    assert (r["warmup_ratio"], r["grad_clip"]) == (0.1, 0.02)
    assert r["gpus"] == 8 * r["nodes"]


def test_models(cfg):
    m = cfg["models"]
    assert cfg["base_model"] == {"hub": "Qwen/Qwen3-VL-4B-Instruct"}
    assert m["qwen3-vl-4b"] == {"kind": "hub", "hub": "Qwen/Qwen3-VL-4B-Instruct", "label": "Qwen3-VL-4B"}
    assert m["vlm3-released"]["hub"] == {"depth": "facebook/VLM3-depth", "object": "facebook/VLM3-object",
                                         "correspondence": "facebook/VLM3-corr", "pose": "facebook/VLM3-pose"}
    assert m["vlm3-ours"]["kind"] == "run" and m["vlm3-ours"]["run"] == "paper-{task}"
    assert {m["median"]["kind"], m["opencv"]["kind"]} == {"baseline", "expert"}


def _expect_error(cfg, edit, match):
    bad = copy.deepcopy(cfg)
    edit(bad)
    with pytest.raises(ConfigError, match=match):
        validate(bad, source="paper.yaml")


def test_validation_rejects_inconsistent_recipes(cfg):
    def batch(c):
        c["runs"]["paper-depth"]["grad_accum"] = 1
    _expect_error(cfg, batch, r"runs.paper-depth.global_batch: 1344 != batch_size \* grad_accum \* gpus "
                              r"= 7 \* 1 \* 32 = 224")

    def steps(c):
        c["runs"]["paper-pose"]["max_steps"] = 22321
    _expect_error(cfg, steps, r"runs.paper-pose.max_steps: 22321 != ceil\(samples / global_batch\) = 22322")

    def nodes(c):
        c["runs"]["paper-pose"]["nodes"] = 3
    _expect_error(cfg, nodes, r"runs.paper-pose.gpus: 32 GPUs do not split evenly over 3 nodes")

    def split(c):
        c["benchmarks"]["depth"][0]["split"] = "test"
    _expect_error(cfg, split, r"benchmarks.depth: split 'test' is not in datasets.argoverse2.splits")

    def train(c):
        c["mixtures"]["depth"]["sources"]["ddad"] = 0.5
    _expect_error(cfg, train, r"mixtures.depth.sources: dataset 'ddad' has no 'train' in its splits")

    def hub(c):
        c["models"]["vlm3-released"]["tasks"] = ["depth", "object"]
        del c["models"]["vlm3-released"]["hub"]["object"]
    _expect_error(cfg, hub, r"models.vlm3-released.hub: no checkpoint for task\(s\) \['object'\]")

    def hubkey(c):
        c["models"]["vlm3-released"]["hub"]["segmentation"] = "x/y"
    _expect_error(cfg, hubkey, r"models.vlm3-released.hub")

    def opts(c):
        c["datasets"]["nuscenes"]["split_options"] = {"bad-split": {}}
    _expect_error(cfg, opts, r"datasets.nuscenes.split_options")


# ---------------------------------------------------------------- the workflow's DAG, dry run
EXPECTED_JOBS = {"download": 11, "index": 14, "calibrate": 14, "resize": 14, "qa": 14, "mix": 1,
                 "train_config": 1, "train": 1, "predict": 24, "baseline": 8, "score": 32, "tables": 1, "eval_manifest": 8,
                 "leak_check": 1}


def test_paper_dry_run_lists_every_stage(tmp_path):
    wd = workdir(tmp_path)
    out = dry_run(["--configfile", str(PAPER), "--", "results/tables/depth.tex"], wd, dry_run_env(tmp_path))
    assert job_counts(out) == EXPECTED_JOBS
    # the index rule hands the registry entry and the split's options to vlm3.index
    assert ("python -m vlm3.index --type nuscenes --registry config/datasets.yaml --dataset nuscenes"
            " --option 'version=\"v1.0-trainval\"' --raw data/raw/nuscenes --split train") in out
    assert "--type nuscenes --registry config/datasets.yaml --dataset nuscenes --raw data/raw/nuscenes --split mini" in out
    assert "python -m vlm3.download --dataset spatialrgpt-bench" not in out  # depth table only
    assert "python -m vlm3.predict --model facebook/VLM3-depth --qa results/qa/depth/ibims1/test.jsonl" in out
    assert ("python -m vlm3.train --config results/train_config/paper-depth.yaml --model Qwen/Qwen3-VL-4B-Instruct"
            " --data results/qa/depth/train.jsonl") in out
    assert '"grad_clip": 0.02' in out and '"lr": 5.5e-05' in out  # the recipe rule train_config writes


def test_slurm_profile_dry_run(tmp_path):
    """`--profile slurm`, verbatim from the repository root, finds profiles/slurm/ (through the
    link ./slurm), beside the workflow profile profiles/default/."""
    assert (ROOT / "profiles" / "slurm" / "config.yaml").is_file() and (ROOT / "profiles" / "default").is_dir()
    assert (ROOT / "slurm").is_symlink() and (ROOT / "slurm").resolve() == (ROOT / "profiles" / "slurm").resolve()
    wd = workdir(tmp_path)
    out = dry_run(["--profile", "slurm", "results/tables/depth.tex"], wd, dry_run_env(tmp_path))
    assert "Using profiles slurm and workflow specific profile profiles/default" in out
    assert job_counts(out) == EXPECTED_JOBS
    assert "config/paper.yaml" in out  # the profile's configfile reaches the tables rule


def test_all_tables_dry_run(tmp_path):
    """Every task's table: object evaluates the hub models only (no object training source)."""
    wd = workdir(tmp_path)
    out = dry_run(["--configfile", str(PAPER), "--", *(f"results/tables/{t}.tex" for t in BENCHMARKS)],
                   wd, dry_run_env(tmp_path))
    jobs = job_counts(out)
    assert jobs["train"] == 3 and jobs["tables"] == 4 and jobs["mix"] == 3
    assert "--model facebook/VLM3-object --qa results/qa/object/spatialrgpt-bench/test.jsonl" in out
    assert "--model facebook/VLM3-corr --qa results/qa/correspondence/ufm-dtu/test.jsonl" in out
    assert "results/predictions/vlm3-ours/object" not in out
