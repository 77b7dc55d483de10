"""rules/train.smk: rule train_config writes a run's recipe to results/train_config/{run}.yaml; CPU
runs call `python -m vlm3.train --config` with it, runs with GPUs go through the accelerate launcher
(once per node via srun when they span nodes) with the same command; the predict rule asks hub
models for `--auto-processor`. Checked on Snakemake's dry-run shell commands and on the recipe files
Snakemake writes (rule train_config run for real), read back through the launcher's and the
trainer's own parsers."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _dryrun import PAPER, dry_run, dry_run_env, workdir

from vlm3.train.__main__ import parse_config
from vlm3.train.launch import parse_args
from vlm3.train.settings import RECIPE, SWITCHES
from vlm3.train.settings import main as write_recipe_cli

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


def _trainer_config(cmd: str, wd: Path):
    """The TrainConfig the trainer builds from a rule's command (after the launcher, if any), in `wd`."""
    argv = cmd.split(" > ")[0].split()
    if "vlm3.train.launch" in argv:
        args = parse_args(argv[argv.index("vlm3.train.launch") + 1:])
        assert args.module == "vlm3.train"
        argv = args.module_args
    else:
        argv = argv[argv.index("vlm3.train") + 1:]
    i = argv.index("--config") + 1
    argv[i] = str(wd / argv[i])
    return parse_config(argv)


@pytest.fixture(scope="module")
def dry(tmp_path_factory):
    """(dry-run output, working directory holding the three runs' recipe files)."""
    tmp = tmp_path_factory.mktemp("trainrule")
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["runs"]["gpu-depth"] = GPU_RUN
    cfg["runs"]["cpu-depth"] = CPU_RUN
    cfg["runs"]["gpu2-depth"] = {**GPU_RUN, "gpus": 16, "nodes": 2, "global_batch": 128}
    (tmp / "gpu.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    wd, env = workdir(tmp), dry_run_env(tmp)
    runs = ("cpu-depth", "gpu-depth", "gpu2-depth")
    out = dry_run(["-c2", "--configfile", str(tmp / "gpu.yaml"), "--forcerun", "train", "--",
                   *(f"results/checkpoints/{r}" for r in runs)], wd, env)
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-c1", "--configfile",
                          str(tmp / "gpu.yaml"), "--", *(f"results/train_config/{r}.yaml" for r in runs)],
                         cwd=wd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    return out, wd


RULE_COMMANDS = {
    "cpu-depth": ("exec python -m vlm3.train", 2, "batch_size: 16\ngrad_accum: 1\nlr: 0.001\nmax_minutes: 8.0\nmax_steps: 650\n"),
    "gpu-depth": ("exec python -m vlm3.train.launch -- python -m vlm3.train", 1, yaml.safe_dump(
        {k: v for k, v in GPU_RUN.items() if k in RECIPE and k != "grad_accum"})),
}


@pytest.mark.parametrize("run", RULE_COMMANDS)
def test_the_rule_calls_the_trainer_with_the_runs_recipe_file(dry, run):
    """CPU runs call the trainer, GPU runs the launcher; the recipe is in the file (grad_accum left
    out beside global_batch), the invocation settings are flags."""
    out, wd = dry
    prefix, threads, recipe = RULE_COMMANDS[run]
    assert _shell(out, run) == (
        f"{prefix} --config results/train_config/{run}.yaml --model results/models/pretrained"
        f" --data results/qa/depth/train.jsonl --out results/checkpoints/{run} --state results/train_state/{run}"
        f" --seed 0 --threads {threads} > results/logs/train/{run}.log 2>&1")
    assert (wd / f"results/train_config/{run}.yaml").read_text() == recipe


def test_cpu_run_trains_as_with_the_flags_the_rule_passed_before(dry):
    out, wd = dry
    assert _trainer_config(_shell(out, "cpu-depth"), wd) == parse_config(
        "--model results/models/pretrained --data results/qa/depth/train.jsonl --out results/checkpoints/cpu-depth"
        " --state results/train_state/cpu-depth --seed 0 --threads 2 --max-steps 650 --max-minutes 8.0"
        " --lr 0.001 --batch-size 16 --grad-accum 1".split())


def test_multi_node_run_starts_one_launcher_per_node(dry):
    out, wd = dry
    cmd = _shell(out, "gpu2-depth")
    assert cmd.startswith("exec srun --overlap --nodes=2 --ntasks-per-node=1 --kill-on-bad-exit=1"
                          " python -m vlm3.train.launch -- python -m vlm3.train --config ")
    recipe = yaml.safe_load((wd / "results/train_config/gpu2-depth.yaml").read_text())
    assert recipe["global_batch"] == 128 and "grad_accum" not in recipe


def test_the_launcher_passes_the_recipe_file_to_the_trainer(dry):
    """What the rule passes after `--` parses into the trainer's module and flags, --config included."""
    out, wd = dry
    cfg = _trainer_config(_shell(out, "gpu-depth"), wd)
    assert (cfg.global_batch, cfg.batch_size, cfg.grad_accum, cfg.packing, cfg.checkpoint_fraction, cfg.bf16,
            cfg.freeze_vision, cfg.sparse_lm_head, cfg.optim, cfg.pin_memory, cfg.max_steps, cfg.seed) == (
        16, 4, 1, True, 0.5, True, False, True, "adamw_torch_fused", False, 10, 0)


def test_paper_runs_launch_packed_bf16_and_hub_models_get_auto_processor(tmp_path):
    out = dry_run(["--configfile", str(PAPER), "--", "results/tables/depth.tex"], workdir(tmp_path),
                       dry_run_env(tmp_path))
    cmd = _shell(out, "paper-depth")
    assert cmd.startswith("exec srun --overlap --nodes=4 --ntasks-per-node=1 --kill-on-bad-exit=1 python -m "
                          "vlm3.train.launch -- python -m vlm3.train --config results/train_config/paper-depth.yaml"
                          " --model Qwen/Qwen3-VL-4B-Instruct ")
    recipe = re.search(r"vlm3\.train\.settings --recipe '(.*)' --out results/train_config/paper-depth\.yaml ", out)
    recipe = json.loads(recipe[1])
    assert (recipe["global_batch"], recipe["batch_size"], "grad_accum" in recipe) == (1344, 7, False)
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
    """Every trainer key of each paper run reaches `python -m vlm3.train` with its value: rule
    train_config's command (from the dry run) writes the recipe file, read back through the
    launcher's and the trainer's own parsers from rule train's command; and the runs ship the
    recipe benchmarks/train_throughput.py measures as `product`."""
    spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "benchmarks" / "train_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    product = parse_config(["--model", "m", "--data", "d", "--out", "o", *bench.PRODUCT_FLAGS])
    paper = yaml.safe_load(PAPER.read_text())
    out = dry_run(["--configfile", str(PAPER), "--forcerun", "train", "--",
                        *[f"results/checkpoints/{run}" for run in paper["runs"]]], workdir(tmp_path),
                       dry_run_env(tmp_path))
    for run, r in paper["runs"].items():
        line = next(ln for ln in out.splitlines() if f"--out results/train_config/{run}.yaml " in ln)
        argv = shlex.split(line.split("python -m vlm3.train.settings ", 1)[1].split(" > ")[0])
        argv[argv.index("--out") + 1] = str(tmp_path / argv[argv.index("--out") + 1])
        write_recipe_cli(argv)
        cfg = _trainer_config(_shell(out, run), tmp_path)
        passed = {k: v for k, v in r.items() if k in RECIPE and k != "grad_accum"}
        assert {"batch_size", "global_batch", "optim", "num_workers", *SWITCHES} - {
            "freeze_vision", "liger", "single_turn", "shared_prefix"} <= set(passed), run
        for k, v in passed.items():
            assert getattr(cfg, k) == v, (run, k)
        for k in SWITCHES:
            assert getattr(cfg, k) == getattr(product, k), (run, k)
        assert (cfg.optim, cfg.num_workers) == (product.optim, product.num_workers), run


def test_a_run_with_several_mixtures_trains_on_all_and_the_leak_check_reads_all(tmp_path):
    """`runs.<run>.mixtures: [pose, correspondence]`: rule train passes both train.jsonl files after
    --data, in that order (native runs from results/qa_native), and the task's leak check takes both."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["runs"]["tiny-pose"] = {**cfg["runs"]["tiny-pairs"], "threads": 1}
    cfg["runs"]["tiny-pose-native"] = {**cfg["runs"]["tiny-pose"], "unify_focal": False}
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = dry_run(["-c2", "--configfile", str(tmp_path / "mix.yaml"), "--", "results/checkpoints/tiny-pose",
                   "results/checkpoints/tiny-pose-native", "results/manifests/leak_check_pose.json"],
                  workdir(tmp_path), dry_run_env(tmp_path))
    for run, root in (("tiny-pose", "results/qa"), ("tiny-pose-native", "results/qa_native")):
        assert _shell(out, run) == (
            f"exec python -m vlm3.train --config results/train_config/{run}.yaml --model results/models/base"  # from_built
            f" --data {root}/pose/train.jsonl {root}/correspondence/train.jsonl --out results/checkpoints/{run}"
            f" --state results/train_state/{run} --seed 0 --threads 1 > results/logs/train/{run}.log 2>&1")
        argv = _shell(out, run).split(" > ")[0].split()[4:]  # after `exec python -m vlm3.train`
        assert argv[:2] == ["--config", f"results/train_config/{run}.yaml"]
        assert parse_config(argv[2:]).data == [f"{root}/pose/train.jsonl", f"{root}/correspondence/train.jsonl"]
    jobs = [j for j in out.split("\n\n") if "rule leak_check:" in j]
    assert len(jobs) == 1
    inputs = re.search(r"^\s*input: (.*)$", jobs[0], re.M)[1].split(", ")
    assert inputs == ["results/qa/correspondence/train.jsonl", "results/qa/pose/train.jsonl",
                      "results/manifests/qa/pose/synthetic-pan_test.json"]
    assert re.findall(r"python -m vlm3\.qa\.leak check .*", out) == [
        "python -m vlm3.qa.leak check --train results/qa/correspondence/train.jsonl results/qa/pose/train.jsonl"
        " --manifests results/manifests/qa/pose/synthetic-pan_test.json --out results/manifests/leak_check_pose.json"
        " > results/logs/manifest/leak_check_pose.log 2>&1"]


def test_base_model_pretrain_puts_the_skills_pretraining_between_build_and_runs(tmp_path):
    """`base_model.pretrain`: rule skills_corpus writes the corpus, rule pretrain_base trains the built
    model (its tokenizer trained on the QA text alone) on it with the config's recipe, and the runs and
    the `base` model rows use results/models/pretrained."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["base_model"]["pretrain"] = {"records": 6000, "max_steps": 300, "batch_size": 32, "lr": 2.0e-3, "threads": 2}
    (tmp_path / "pt.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = dry_run(["-c2", "--configfile", str(tmp_path / "pt.yaml"), "--", "results/checkpoints/tiny-object",
                   "results/predictions/tiny-untrained/object/synthetic_test.jsonl"],
                  workdir(tmp_path), dry_run_env(tmp_path))
    assert re.findall(r"python -m vlm3\.model\.skills .*", out) == [
        "python -m vlm3.model.skills --n 6000 --seed 0 --out results/qa/skills/train.jsonl"
        " > results/logs/train/skills_corpus.log 2>&1"]
    build = re.findall(r"python -m vlm3\.model\.build .*", out)  # the tokenizer: QA text only, as measured
    assert len(build) == 1 and " results/qa/pose/train.jsonl --seed 0 " in build[0] and "skills" not in build[0]
    assert re.findall(r"exec python -m vlm3\.train --model .*", out) == [
        "exec python -m vlm3.train --model results/models/base --data results/qa/skills/train.jsonl"
        " --out results/models/pretrained --state results/train_state/_pretrain_base --seed 0 --packing"
        " --max-steps 300 --batch-size 32 --lr 0.002 --threads 2 > results/logs/train/pretrain_base.log 2>&1"]
    assert _shell(out, "tiny-object").startswith(
        "exec python -m vlm3.train --config results/train_config/tiny-object.yaml --model results/models/pretrained ")
    predict = re.findall(r"python -m vlm3\.predict .*tiny-untrained.*", out)
    assert len(predict) == 1 and "--model results/models/pretrained " in predict[0]
