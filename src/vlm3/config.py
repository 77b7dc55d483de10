"""Load and validate a workflow config against the schema shipped with the package
(src/vlm3/schemas/config.schema.yaml) with errors that name the key.

    python -m vlm3.config --merge config/config.yaml config/ablation_focal.yaml --out results/config.yaml

writes the deep merge of several config files as Snakemake merges `--configfile A B` (mappings
merged key by key, later files win; any other value, lists included, is replaced), validated.
An overlay removes a model of the base file by setting it to null (`models: {median: null}`, as
config/released.yaml does); `validate` drops such entries."""

from __future__ import annotations

import argparse
from pathlib import Path

import jsonschema
import yaml

from vlm3.utils import atomic_path, load_mapping

SCHEMA = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"  # package data


class ConfigError(ValueError):
    pass


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "<top level>"


def validate(config: dict, schema_path: str | Path = SCHEMA, source: str = "config") -> dict:
    """Raise ConfigError naming the offending key (e.g. `runs.tiny-depth.lr`) and the problem.
    Models set to null by an overlay are removed from `config` (in place) first."""
    models = config.get("models")
    if isinstance(models, dict):
        for name in [k for k, v in models.items() if v is None]:
            del models[name]
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors[:10]:
            msg = e.message
            if e.validator == "additionalProperties":
                msg = f"unknown key(s): {msg.split('(')[-1].rstrip(')')}"
            lines.append(f"  {_where(e)}: {msg}")
        raise ConfigError(f"{source} is invalid:\n" + "\n".join(lines))

    def bad(where: str, msg: str) -> ConfigError:
        return ConfigError(f"{source} is invalid:\n  {where}: {msg}")

    for run, spec in config.get("runs", {}).items():
        missing = [name for name in run_mixtures(spec) if name not in config.get("mixtures", {})]
        if missing and "mixtures" not in spec:
            raise bad(f"runs.{run}.task", f"no mixture for task {spec['task']!r}")
        if missing:
            raise bad(f"runs.{run}.mixtures", f"unknown mixture {missing[0]!r} (not a key of mixtures)")
        _check_batch(spec, f"runs.{run}", bad)
        if spec.get("from_built") and "build" not in config.get("base_model", {}):
            raise bad(f"runs.{run}.from_built", "needs base_model.build (a hub model is not built by the workflow)")
    for task, mix in config.get("mixtures", {}).items():
        if not any(w > 0 for w in mix["sources"].values()):
            raise bad(f"mixtures.{task}.sources", "every weight is 0 (weight 0 switches a source off)")
        for ds in mix["sources"]:
            if ds not in config.get("datasets", {}):
                raise bad(f"mixtures.{task}.sources", f"unknown dataset {ds!r}")
            if "train" not in config["datasets"][ds]["splits"]:
                raise bad(f"mixtures.{task}.sources", f"dataset {ds!r} has no 'train' in its splits")
    for name, m in config.get("models", {}).items():
        need = {"run": "run", "hub": "hub"}.get(m["kind"])
        if need and need not in m:
            raise ConfigError(f"{source} is invalid:\n  models.{name}: kind {m['kind']!r} needs key {need!r}")
        if need and isinstance(m[need], dict):  # one checkpoint (hub) or run per task
            missing = [t for t in m.get("tasks", []) if t not in m[need]]
            if missing:
                what = "checkpoint" if need == "hub" else "run"
                raise bad(f"models.{name}.{need}", f"no {what} for task(s) {missing} listed in tasks")
        if m["kind"] == "run":
            for task in m.get("tasks", m["run"] if isinstance(m["run"], dict) else config.get("benchmarks", {})):
                run = model_run(m, task)
                if run not in config.get("runs", {}):
                    raise ConfigError(f"{source} is invalid:\n  models.{name}.run: {m['run']!r} names "
                                      f"run {run!r} for task {task!r}, which is not in runs")
    for task, benches in config.get("benchmarks", {}).items():
        for b in benches:
            if b["dataset"] not in config["datasets"]:
                raise ConfigError(f"{source} is invalid:\n  benchmarks.{task}: unknown dataset {b['dataset']!r}")
            if b["split"] not in config["datasets"][b["dataset"]]["splits"]:
                raise bad(f"benchmarks.{task}", f"split {b['split']!r} is not in datasets.{b['dataset']}.splits")
    return config


def model_run(model: dict, task: str) -> str:
    """The fine-tuning run a model of kind run answers `task` with: its `run` name with {task}
    filled in, or, where `run` maps tasks to runs, the one it names for `task` (so one run trained
    on several tasks' mixtures answers each of them)."""
    run = model["run"]
    return run[task] if isinstance(run, dict) else run.format(task=task)


def run_mixtures(run: dict) -> list[str]:
    """The training mixtures (keys of the config's `mixtures`) a run trains on, their train.jsonl
    files concatenated: its `mixtures`, by default the one of its task. The workflow's training data
    (rules/common.smk run_data: rule train and the leak check) follows from it."""
    return list(run.get("mixtures", [run["task"]]))


def _check_batch(spec: dict, where: str, bad) -> None:
    """global_batch = batch_size * grad_accum * gpus (gpus: all nodes together); with `samples`,
    max_steps = ceil(samples / global_batch)."""
    gpus, nodes = spec.get("gpus", 0), spec.get("nodes", 1)
    if gpus and gpus % nodes:
        raise bad(f"{where}.gpus", f"{gpus} GPUs do not split evenly over {nodes} nodes")
    if "global_batch" in spec and gpus:
        got = spec["batch_size"] * spec.get("grad_accum", 1) * gpus
        if got != spec["global_batch"]:
            raise bad(f"{where}.global_batch", f"{spec['global_batch']} != batch_size * grad_accum * gpus "
                      f"= {spec['batch_size']} * {spec.get('grad_accum', 1)} * {gpus} = {got}")
    if "samples" in spec:
        if "global_batch" not in spec:
            raise bad(f"{where}.samples", "needs global_batch (max_steps = ceil(samples / global_batch))")
        steps = -(-spec["samples"] // spec["global_batch"])
        if spec["max_steps"] != steps:
            raise bad(f"{where}.max_steps", f"{spec['max_steps']} != ceil(samples / global_batch) = {steps}")


def load(path: str | Path) -> dict:
    with open(path) as f:
        cfg = yaml.safe_load(f)
    return validate(cfg, source=str(path))


def models_for(config: dict, task: str, kinds: set[str] | None = None) -> list[str]:
    """The configured models that answer `task`, in config order: the one definition behind the
    workflow's jobs (rules/common.smk), the paper tables and figures and the claims audit. A model
    answers every task unless its `tasks` list leaves `task` out or its per-task mapping (`hub` of kind
    hub, `run` of kind run) names nothing for it. `kinds` keeps only the models of those kinds."""
    out = []
    for name, m in (config.get("models") or {}).items():
        if kinds and m.get("kind") not in kinds:
            continue
        if "tasks" in m and task not in m["tasks"]:
            continue
        per_task = m.get({"hub": "hub", "run": "run"}.get(m.get("kind"), ""))
        if isinstance(per_task, dict) and task not in per_task:
            continue
        out.append(name)
    return out


def merge(base: dict, over: dict) -> dict:
    """Deep merge as snakemake.utils.update_config: new dict, `over` wins, key order of `base` first."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k] if isinstance(out.get(k), dict) else {}, v) if isinstance(v, dict) else v
    return out


def merge_files(paths: list[str | Path]) -> dict:
    cfg: dict = {}
    for p in paths:
        cfg = merge(cfg, load_mapping(p, "--merge"))
    return validate(cfg, source="merge of " + " + ".join(map(str, paths)))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vlm3.config", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--merge", nargs="+", required=True, help="config files, later ones override")
    p.add_argument("--out", required=True, help="merged config (YAML)")
    a = p.parse_args(argv)
    cfg = merge_files(a.merge)
    with atomic_path(Path(a.out)) as tmp:
        tmp.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.config")
