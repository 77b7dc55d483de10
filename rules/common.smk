# Shared helpers: what the config asks for, turned into file lists for the rules.

import json
import os
import re
import shlex
import types

from vlm3.config import models_for as config_models_for
from vlm3.config import model_run, run_mixtures
from vlm3.tasks import TASKS as ALL_TASKS
from vlm3.train.settings import run_recipe

# Rules run `python -m vlm3.<stage>` from the repository root with src/ importable, so the same
# commands work in the dev environment, in a conda env from envs/, and on cluster nodes.
shell.prefix("set -euo pipefail; export PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}}; ")

# The config file in use (labels and model order for tables and figures read it). Several
# --configfile (e.g. config/config.yaml config/ablation_focal.yaml) are deep-merged by Snakemake;
# the report CLIs then read their merge, written by rule merged_config (rules/report.smk).
_CF = workflow.config_settings.configfiles
CONFIGFILES = [os.path.relpath(f) for f in _CF] or ["config/config.yaml"]
CONFIGFILE = "results/config.yaml" if len(_CF) > 1 else str(_CF[0]) if _CF else "config/config.yaml"
TASKS = [t for t in ALL_TASKS if t in config["benchmarks"]]
SEED = config["seed"]
NEURAL_KINDS = {"base", "run", "hub"}
# Worker processes of the data stages (generate, calibrate, resize): every core up to 16. Their
# outputs do not depend on the number of workers; 2 on the embedded default's 2-core machine.
DATA_THREADS = min(16, workflow.cores)


wildcard_constraints:
    dataset=r"[A-Za-z0-9-]+",
    split=r"[A-Za-z0-9]+",
    task=r"depth|object|correspondence|pose",
    run=r"[A-Za-z0-9_.-]+",


def dataset_cfg(name):
    return config["datasets"][name]


def raw_input(wildcards):
    """The raw folder (generated) or the verified-download marker a dataset's index reads."""
    ds = dataset_cfg(wildcards.dataset)
    if ds["source"] == "generate":
        return f"data/raw/{wildcards.dataset}/{wildcards.split}"
    if ds["source"] == "download":
        return f"data/raw/{wildcards.dataset}/.verified"
    return ds.get("raw", f"data/raw/{wildcards.dataset}")


def raw_dir(wildcards):
    ds = dataset_cfg(wildcards.dataset)
    return ds.get("raw", f"data/raw/{wildcards.dataset}")


def registry_path(name):
    return dataset_cfg(name).get("registry", "config/datasets.yaml")


def index_flags(w):
    """Loader of `python -m vlm3.index`: downloaded datasets name their registry entry (its loader and
    loader_options); the config's loader_options, then split_options[split], become --option flags."""
    ds = dataset_cfg(w.dataset)
    flags = [f"--type {shlex.quote(ds['type'])}"]
    if ds["source"] == "download" or "registry" in ds:
        flags.append(f"--registry {shlex.quote(registry_path(w.dataset))} --dataset {shlex.quote(w.dataset)}")
    opts = {**ds.get("loader_options", {}), **ds.get("split_options", {}).get(w.split, {})}
    # JSON is YAML: the index CLI parses each value back to the same scalar or list.
    flags += [f"--option {shlex.quote(f'{k}={json.dumps(v)}')}" for k, v in sorted(opts.items())]
    return " ".join(flags)


def models_for(task, kinds=None):
    """The models that answer `task` (vlm3.config.models_for on this workflow's config)."""
    return config_models_for(config, task, kinds)


def run_checkpoint(model, task):
    """Checkpoint folder a model of kind run answers `task` with (its run name may hold {task})."""
    return f"results/checkpoints/{model_run(config['models'][model], task)}"


def used_checkpoints():
    """Checkpoint folders of the fine-tuning runs that configured models (kind run) answer with."""
    return sorted({run_checkpoint(m, t) for t in TASKS for m in models_for(t, {"run"})})


def benches(task):
    return [f"{b['dataset']}_{b['split']}" for b in config["benchmarks"].get(task, [])]


def calibration_reports():
    """Focal-error reports for generated datasets (their withheld intrinsics are the truth)."""
    return [
        f"results/calib/{name}/{split}_report.json"
        for name, ds in config["datasets"].items()
        if ds["source"] == "generate" and "vanishing" in ds.get("calibrate", [])
        for split in ds["splits"]
    ]


def model_names_regex(kinds):
    names = [n for n, m in config["models"].items() if m["kind"] in kinds]
    return "|".join(map(re.escape, names)) if names else "$^"


def qa_flags(w):
    t = config["tasks"].get(w.task, {})
    flags = {
        "questions_per_image": "--questions-per-image",
        "answer_style": "--answer-style",
        "answer_regions": "--answer-regions",
        "answer_points": "--answer-points",
        "border": "--border",
        "min_covisibility": "--min-covisibility",
    }
    return " ".join(f"{flag} {t[k]}" for k, flag in flags.items() if k in t)


def mix_weights(task):
    """A mixture's sources with their weights, weight 0 left out: an overlay config switches off a
    source of the config it merges into (a merge cannot delete the key) by weighting it 0."""
    return {ds: wt for ds, wt in config["mixtures"][task]["sources"].items() if wt > 0}


def mix_sources(w, root="results/qa"):
    return [f"{root}/{w.task}/{ds}/train.jsonl" for ds in mix_weights(w.task)]


def mix_weighted(w, root="results/qa"):
    """--inputs of vlm3.qa.mix: each source's training QA with its weight."""
    return " ".join(f"{src}:{wt}" for src, wt in zip(mix_sources(w, root), mix_weights(w.task).values()))


# The focal-unification ablation (config/ablation_focal.yaml): a run with `unify_focal: false` trains
# on QA built from native-focal images (rules resize_native, qa_native, mix_native) and its model is
# evaluated on the same benchmarks at native focal. Every other run and model uses results/qa.
NATIVE_QA = "results/qa_native"


def qa_root(run):
    return "results/qa" if config["runs"][run].get("unify_focal", True) else NATIVE_QA


def run_data(run):
    """The training QA files of a run, in order, as the train rule passes them after --data. One
    train.jsonl per mixture of the run (vlm3.config.run_mixtures; default its task's), under its QA root."""
    return [f"{qa_root(run)}/{m}/train.jsonl" for m in run_mixtures(config["runs"][run])]


def predict_qa(w):
    """The benchmark's QA a model answers: at native focal for a run trained without unification."""
    m = config["models"][w.model]
    root = qa_root(model_run(m, w.task)) if m["kind"] == "run" else "results/qa"
    return f"{root}/{w.task}/{w.dataset}/{w.split}.jsonl"


def eval_manifest(w):
    """The manifest of the QA file a prediction answers (rule eval_manifest)."""
    root = predict_qa(w).split("/")[1]  # qa or qa_native
    return f"results/manifests/{root}/{w.task}/{w.dataset}_{w.split}.json"


def eval_manifests(task):
    """Manifests of every evaluated QA file of a task (models of every kind, every benchmark)."""
    out = set()
    for t in [task]:
        for m in models_for(t):
            for b in config["benchmarks"].get(t, []):
                w = types.SimpleNamespace(model=m, task=t, dataset=b["dataset"], split=b["split"])
                out.add(eval_manifest(w))
    return sorted(out)


def training_mixtures(task):
    """Every training QA file (run_data) of the runs that configured models answer a task with."""
    runs = {model_run(config["models"][m], task) for m in models_for(task, {"run"})}
    return sorted({f for r in runs for f in run_data(r)})


def run_cfg(w):
    return config["runs"][w.run]


def train_recipe(w):
    """The run's training settings (vlm3.train.settings.run_recipe) as JSON, which train_config
    writes as YAML. It holds only what the trainer reads, so a changed workflow key (runtime_min,
    gpus) retrains nothing."""
    return json.dumps(run_recipe(run_cfg(w), f"runs.{w.run}"), sort_keys=True)


def train_launcher(w):
    """Prefix of the train command: '' on CPU; the accelerate launcher when the run has GPUs
    (one launcher per node through srun when it spans several nodes)."""
    r = run_cfg(w)
    if r.get("gpus", 0) == 0:
        return ""
    nodes = r.get("nodes", 1)
    srun = f"srun --overlap --nodes={nodes} --ntasks-per-node=1 --kill-on-bad-exit=1 " if nodes > 1 else ""
    return f"{srun}python -m vlm3.train.launch -- "


def train_threads(w, threads):
    """torch CPU threads per training process: the job's cores, shared by the ranks of a node."""
    r = run_cfg(w)
    per_node = r.get("gpus", 0) // r.get("nodes", 1)
    return max(1, threads // per_node) if per_node > 0 else threads


def predict_gpus(w):
    """GPUs of a prediction job (predict.gpus, default 1, one process per GPU): hub models, and the
    workflow's own models when its runs train on GPUs; 0 (CPU) otherwise."""
    m = config["models"][w.model]
    if m["kind"] == "hub":
        on_gpu = True
    elif m["kind"] == "run":
        on_gpu = config["runs"][model_run(m, w.task)].get("gpus", 0) > 0
    else:
        on_gpu = any(r.get("gpus", 0) > 0 for r in config["runs"].values())
    return config["predict"].get("gpus", 1) if on_gpu else 0


def predict_launcher(w):
    """Prefix of the predict command: the train rule's launcher (one process per GPU, shards merged
    by rank 0) when the job has several GPUs, else nothing."""
    n = predict_gpus(w)
    return f"python -m vlm3.train.launch --gpus-per-node {n} -- " if n > 1 else ""


def predict_flags(w):
    """--auto-processor for hub models (released checkpoints ship the full Qwen3-VL processor);
    --plain when the config asks for one full prompt per question (predict.plain)."""
    flags = ["--auto-processor"] if config["models"][w.model]["kind"] == "hub" else []
    if config["predict"].get("plain", False):
        flags.append("--plain")
    return " ".join(flags)


def built_model_path():
    """The model the runs fine-tune when the workflow builds it: the tiny model as built, or that
    model after its generic pre-training (base_model.pretrain, rule pretrain_base)."""
    return "results/models/pretrained" if "pretrain" in config["base_model"] else "results/models/base"


def run_start_path(run):
    """The model a run fine-tunes: the workflow's base model, or, for a run with `from_built: true`,
    the tiny model as built even where base_model.pretrain pre-trains it for the other runs."""
    if config["runs"][run].get("from_built"):  # validated: only with base_model.build
        return "results/models/base"
    return base_model_path()


def base_model_input():
    """The built base model as a job input (none when the base comes from the hub)."""
    return built_model_path() if "build" in config["base_model"] else []


def run_model_input(w):
    """The model run `w.run` fine-tunes, as the train job's input (none when it comes from the hub)."""
    return run_start_path(w.run) if "build" in config["base_model"] else []


def base_model_path():
    bm = config["base_model"]
    return built_model_path() if "build" in bm else bm["hub"]


def pretrain_flags(w=None):
    """vlm3.train flags of rule pretrain_base, from base_model.pretrain."""
    p = config["base_model"]["pretrain"]
    return f"--max-steps {p['max_steps']} --batch-size {p['batch_size']} --lr {p['lr']}"


def model_input(w):
    m = config["models"][w.model]
    if m["kind"] == "base":
        return base_model_input()
    if m["kind"] == "run":
        return run_checkpoint(w.model, w.task)
    return []


def model_path(w):
    m = config["models"][w.model]
    if m["kind"] == "base":
        return base_model_path()
    if m["kind"] == "run":
        return run_checkpoint(w.model, w.task)
    return m["hub"][w.task] if isinstance(m["hub"], dict) else m["hub"]


def generate_flags(w):
    """Generator parameters of a split (common + split-specific) as command-line flags."""
    gen = dataset_cfg(w.dataset)["generate"]
    spec = {**gen.get("common", {}), **gen.get(w.split, {})}
    flags = []
    for k, v in sorted(spec.items()):
        if isinstance(v, bool):  # a switch: present when true
            if v:
                flags.append(f"--{k.replace('_', '-')}")
            continue
        if isinstance(v, (list, tuple)):
            v = ",".join(map(str, v))
        flags.append(f"--{k.replace('_', '-')} {v}")
    return " ".join(flags)


def all_predictions(task=None):
    tasks = [task] if task else TASKS
    return [f"results/predictions/{m}/{t}/{b}.jsonl" for t in tasks for m in models_for(t) for b in benches(t)]


def figure_outputs():
    out = {"loss": "results/figures/loss.png"} if used_checkpoints() else {}
    if "depth" in TASKS:
        out["depth"] = "results/figures/depth_scatter.png"
    if "pose" in TASKS:
        out["pose"] = "results/figures/pose_cdf.png"
    if "correspondence" in TASKS:
        for m in models_for("correspondence"):
            out[f"corr_{m}"] = f"results/figures/correspondence_{m}.png"
    return out


def predict_sizes(w):
    """--batch-size and --max-new-tokens (one number, or per task) from the config's predict section;
    a setting it leaves out gets vlm3.predict's CLI default, the one place those defaults are stated."""
    p = config["predict"]
    cap = p.get("max_new_tokens")
    if isinstance(cap, dict):
        cap = cap.get(w.task)
    flags = {"--batch-size": p.get("batch_size"), "--max-new-tokens": cap}
    return " ".join(f"{flag} {v}" for flag, v in flags.items() if v is not None)
