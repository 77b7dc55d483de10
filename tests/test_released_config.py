"""config/released.yaml: the base model and the four released checkpoints (hub models) on every
benchmark of the paper's tables, no training; its dry run lists the jobs (no weights needed)."""

from __future__ import annotations

import re

from _dryrun import PAPER, ROOT, dry_run, dry_run_env, job_counts, workdir

RELEASED = ROOT / "config" / "released.yaml"
N_BENCH = 8 + 1 + 3 + 2  # depth, object, correspondence, pose benchmarks of config/paper.yaml


def test_released_dry_run_lists_the_jobs(tmp_path):
    out = dry_run(["--configfile", str(PAPER), str(RELEASED)], workdir(tmp_path), dry_run_env(tmp_path))
    jobs = job_counts(out)
    assert "train" not in jobs and "mix" not in jobs and "baseline" not in jobs and "expert" not in jobs
    assert jobs["predict"] == jobs["score"] == 2 * N_BENCH
    assert (jobs["tables"], jobs["audit"], jobs["leak_check"], jobs["eval_manifest"]) == (4, 1, 4, N_BENCH)
    models = set(re.findall(r"python -m vlm3\.predict --model (\S+) ", out))
    assert models == {"Qwen/Qwen3-VL-4B-Instruct", "facebook/VLM3-depth", "facebook/VLM3-object",
                      "facebook/VLM3-corr", "facebook/VLM3-pose"}
    assert all("--auto-processor" in ln for ln in re.findall(r"python -m vlm3\.predict .*", out))
    assert "results/metrics/vlm3-released/depth/nyuv2_test.json" in out
    assert "results/metrics/qwen3-vl-4b/object/spatialrgpt-bench_test.json" in out


def test_null_removes_a_model_of_the_base_config():
    from vlm3.config import merge_files

    cfg = merge_files([PAPER, RELEASED])
    assert list(cfg["models"]) == ["qwen3-vl-4b", "vlm3-released"]
