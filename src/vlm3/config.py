"""Load and validate a workflow config against config/schema.yaml with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


class ConfigError(ValueError):
    pass


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "<top level>"


def validate(config: dict, schema_path: str | Path = SCHEMA, source: str = "config") -> dict:
    """Raise ConfigError naming the offending key (e.g. `runs.tiny-depth.lr`) and the problem."""
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
    for run, spec in config.get("runs", {}).items():
        if spec["task"] not in config.get("mixtures", {}):
            raise ConfigError(f"{source} is invalid:\n  runs.{run}.task: no mixture for task {spec['task']!r}")
    for name, m in config.get("models", {}).items():
        need = {"run": "run", "hub": "hub"}.get(m["kind"])
        if need and need not in m:
            raise ConfigError(f"{source} is invalid:\n  models.{name}: kind {m['kind']!r} needs key {need!r}")
        if m["kind"] == "run":
            for task in m.get("tasks", config.get("benchmarks", {})):
                run = m["run"].format(task=task)
                if run not in config.get("runs", {}):
                    raise ConfigError(f"{source} is invalid:\n  models.{name}.run: {m['run']!r} names "
                                      f"run {run!r} for task {task!r}, which is not in runs")
    for task, benches in config.get("benchmarks", {}).items():
        for b in benches:
            if b["dataset"] not in config["datasets"]:
                raise ConfigError(f"{source} is invalid:\n  benchmarks.{task}: unknown dataset {b['dataset']!r}")
    return config


def load(path: str | Path) -> dict:
    with open(path) as f:
        cfg = yaml.safe_load(f)
    return validate(cfg, source=str(path))
