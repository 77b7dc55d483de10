"""rules/train.smk: CPU runs call `python -m vlm3.train`; runs with GPUs go through the accelerate
launcher (once per node via srun when they span nodes) with the run's recipe keys as flags; the
predict rule asks hub models for `--auto-processor`. Checked on Snakemake's dry-run shell commands."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from _dryrun import PAPER, dry_run, dry_run_env, workdir

ROOT = Path(__file__).resolve().parents[1]

GPU_RUN = {"task": "depth", "max_steps": 10, "lr": 1.0e-3, "batch_size": 4, "grad_accum": 2, "global_batch": 16,
           "gpus": 2, "nodes": 1, "packing": True, "freeze_vision": False, "gradient_checkpointing": True,
           "checkpoint_fraction": 0.5, "bf16": True, "compile": True, "liger": False, "sparse_lm_head": True,
           "optim": "adamw_torch_fused", "pin_memory": False}


# A CPU run fixed here (not the live embedded default, whose budget is tuned over time).
CPU_RUN = {"task": "depth", "threads": 2, "max_steps": 650, "max_minutes": 8.0, "lr": 1.0e-3, "batch_size": 16,
           "grad_accum": 1}


def _shell(out: str, run: str) -> str:
    lines = [ln for ln in out.splitlines() if f"--out results/checkpoints/{run} " in ln]
    assert len(lines) == 1, out[-3000:]
    return lines[0].split("Shell command: ", 1)[-1].strip()


@pytest.fixture(scope="module")
def dry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trainrule")
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["runs"]["gpu-depth"] = GPU_RUN
    cfg["runs"]["cpu-depth"] = CPU_RUN
    cfg["runs"]["gpu2-depth"] = {**GPU_RUN, "gpus": 16, "nodes": 2, "global_batch": 128}
    (tmp / "gpu.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    wd = workdir(tmp)
    return dry_run(["-c2", "--configfile", str(tmp / "gpu.yaml"), "--forcerun", "train", "--",
                         "results/checkpoints/cpu-depth", "results/checkpoints/gpu-depth",
                         "results/checkpoints/gpu2-depth"], wd, dry_run_env(tmp))


def test_cpu_run_is_unchanged(dry):
    assert _shell(dry, "cpu-depth") == (
        "exec python -m vlm3.train --model results/models/base --data results/qa/depth/train.jsonl"
        " --out results/checkpoints/cpu-depth --state results/train_state/cpu-depth --seed 0 --threads 2"
        " --max-steps 650 --max-minutes 8.0 --lr 0.001 --batch-size 16 --grad-accum 1"
        " > results/logs/train/cpu-depth.log 2>&1")


def test_gpu_run_uses_the_launcher_with_the_recipe(dry):
    assert _shell(dry, "gpu-depth") == (
        "exec python -m vlm3.train.launch -- python -m vlm3.train --model results/models/base"
        " --data results/qa/depth/train.jsonl --out results/checkpoints/gpu-depth"
        " --state results/train_state/gpu-depth --seed 0 --threads 1 --max-steps 10 --lr 0.001 --batch-size 4"
        " --global-batch 16 --checkpoint-fraction 0.5 --optim adamw_torch_fused --packing --no-freeze-vision"
        " --gradient-checkpointing --compile --bf16 --no-liger --sparse-lm-head --no-pin-memory"
        " > results/logs/train/gpu-depth.log 2>&1")


def test_multi_node_run_starts_one_launcher_per_node(dry):
    cmd = _shell(dry, "gpu2-depth")
    assert cmd.startswith("exec srun --overlap --nodes=2 --ntasks-per-node=1 --kill-on-bad-exit=1"
                          " python -m vlm3.train.launch -- python -m vlm3.train ")
    assert "--global-batch 128" in cmd and "--grad-accum" not in cmd


def test_the_launcher_accepts_the_rule_command(dry):
    """What the rule passes after `--` parses into the trainer's module and flags."""
    from vlm3.train.__main__ import parse_config
    from vlm3.train.launch import parse_args

    cmd = _shell(dry, "gpu-depth").split(" > ")[0].split()
    args = parse_args(cmd[cmd.index("vlm3.train.launch") + 1:])
    assert args.module == "vlm3.train"
    cfg = parse_config(args.module_args)
    assert (cfg.global_batch, cfg.batch_size, cfg.grad_accum, cfg.packing, cfg.checkpoint_fraction, cfg.bf16,
            cfg.freeze_vision, cfg.sparse_lm_head, cfg.optim, cfg.pin_memory) == (
        16, 4, 1, True, 0.5, True, False, True, "adamw_torch_fused", False)


def test_paper_runs_launch_packed_bf16_and_hub_models_get_auto_processor(tmp_path):
    out = dry_run(["--configfile", str(PAPER), "--", "results/tables/depth.tex"], workdir(tmp_path),
                       dry_run_env(tmp_path))
    cmd = _shell(out, "paper-depth")
    assert cmd.startswith("exec srun --overlap --nodes=4 --ntasks-per-node=1 --kill-on-bad-exit=1 python -m "
                          "vlm3.train.launch -- python -m vlm3.train --model Qwen/Qwen3-VL-4B-Instruct ")
    assert "--global-batch 1344 " in cmd and "--batch-size 7 " in cmd and "--grad-accum" not in cmd
    predicts = re.findall(r"python -m vlm3\.predict --model (\S+) .*", out)
    assert predicts
    for line in re.findall(r"python -m vlm3\.predict .*", out):
        hub = "--model results/checkpoints/" not in line
        assert ("--auto-processor" in line) == hub, line


def test_predict_jobs_declare_gpus_and_launch_one_process_per_gpu(tmp_path):
    cfg = yaml.safe_load(PAPER.read_text())
    cfg["predict"]["gpus"] = 4
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = dry_run(["--configfile", str(tmp_path / "p.yaml"), "--", "results/tables/depth.tex"],
                       workdir(tmp_path), dry_run_env(tmp_path))
    lines = re.findall(r"Shell command: (.*python -m vlm3\.predict .*)", out)
    assert lines and all(ln.startswith("python -m vlm3.train.launch --gpus-per-node 4 -- python -m "
                                               "vlm3.predict ") for ln in lines)
    jobs = [j for j in out.split("\n\n") if "rule predict:" in j]
    assert len(jobs) == len(lines) and all(re.search(r"resources: .*gpu=4, mem_mb=64000", j) for j in jobs)


def test_paper_runs_pass_every_recipe_key_to_the_trainer(tmp_path):
    """Every trainer key of each paper run reaches `python -m vlm3.train` with its value, read back
    from the dry run's command line through the launcher's and the trainer's own parsers, and the
    runs ship the recipe benchmarks/train_throughput.py measures as `product`."""
    from vlm3.train.__main__ import parse_config
    from vlm3.train.launch import parse_args
    from vlm3.train.trainer import SWITCHES, TrainConfig

    spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "benchmarks" / "train_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    product = parse_config(["--model", "m", "--data", "d", "--out", "o", *bench.PRODUCT_FLAGS])
    paper = yaml.safe_load(PAPER.read_text())
    out = dry_run(["--configfile", str(PAPER), "--forcerun", "train", "--",
                        *[f"results/checkpoints/{run}" for run in paper["runs"]]], workdir(tmp_path),
                       dry_run_env(tmp_path))
    keys = {f.name for f in dataclasses.fields(TrainConfig)}
    for run, r in paper["runs"].items():
        cmd = _shell(out, run).split(" > ")[0].split()
        cfg = parse_config(parse_args(cmd[cmd.index("vlm3.train.launch") + 1:]).module_args)
        passed = {k: v for k, v in r.items() if k in keys and k != "grad_accum"}
        assert {"batch_size", "global_batch", "optim", "num_workers", *SWITCHES} - {
            "freeze_vision", "liger", "single_turn", "shared_prefix"} <= set(passed), run
        for k, v in passed.items():
            assert getattr(cfg, k) == v, (run, k)
        for k in SWITCHES:
            assert getattr(cfg, k) == getattr(product, k), (run, k)
        assert (cfg.optim, cfg.num_workers) == (product.optim, product.num_workers), run
