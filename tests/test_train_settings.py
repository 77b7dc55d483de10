"""vlm3.train.settings: TrainConfig is the one definition of the training settings. The config
schema's run keys are its recipe fields plus the workflow's own keys, with the same types; every
field is a flag and a --config key of `python -m vlm3.train` and is read by the trainer; a run's
recipe file is written byte-for-byte the same for the same recipe."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vlm3.config import SCHEMA
from vlm3.train.__main__ import parse_config
from vlm3.train.settings import (
    INVOCATION,
    KINDS,
    OPTIMIZERS,
    RECIPE,
    SWITCHES,
    WORKFLOW_RUN_KEYS,
    TrainConfig,
    coerce,
    run_recipe,
    write_recipe,
)

ROOT = Path(__file__).resolve().parents[1]
FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]
RUN_SCHEMA = yaml.safe_load(SCHEMA.read_text())["properties"]["runs"]["additionalProperties"]
INVOKE = ["--model", "m", "--data", "d.jsonl", "--out", "o"]


def other_value(name: str):
    """A value of field `name` that is not its default."""
    default = {f.name: f.default for f in dataclasses.fields(TrainConfig)}[name]
    kind = KINDS[name]
    if kind is bool:
        return not default
    if kind is str:
        return next(o for o in OPTIMIZERS if o != default) if name == "optim" else "x"
    if kind is int:
        return 3 if default in (None, dataclasses.MISSING) else default + 2
    return 0.25 if default != 0.25 else 0.5


def test_schema_run_keys_are_the_recipe_and_the_workflow_keys():
    keys = set(RUN_SCHEMA["properties"])
    assert set(WORKFLOW_RUN_KEYS) <= keys
    assert keys - set(WORKFLOW_RUN_KEYS) == set(RECIPE)
    assert sorted(RECIPE + INVOCATION) == sorted(FIELDS) and not set(RECIPE) & set(INVOCATION)
    assert "weight_decay" in RECIPE and "logging_steps" in RECIPE  # the config can set what the CLI can


def test_schema_types_are_the_fields_types():
    types = {"integer": int, "number": float, "boolean": bool}
    for name in RECIPE:
        prop = RUN_SCHEMA["properties"][name]
        if "enum" in prop:
            assert (KINDS[name], tuple(prop["enum"])) == (str, OPTIMIZERS), name
        else:
            assert types[prop["type"]] is KINDS[name], name
    assert SWITCHES == tuple(n for n in RECIPE if RUN_SCHEMA["properties"][n].get("type") == "boolean")


def test_every_field_is_read_by_the_trainer():
    src = (ROOT / "src/vlm3/train/trainer.py").read_text()
    assert [n for n in FIELDS if not re.search(rf"\bcfg\.{n}\b", src)] == []


@pytest.mark.parametrize("name", RECIPE)
def test_every_recipe_setting_reaches_the_trainer_through_the_file_and_the_flag(name, tmp_path):
    value = other_value(name)
    write_recipe(run_recipe({"task": "depth", name: value}), tmp_path / "r.yaml")
    cfg = parse_config(["--config", str(tmp_path / "r.yaml"), *INVOKE])
    assert getattr(cfg, name) == value and type(getattr(cfg, name)) is type(value)
    flag = "--" + name.replace("_", "-")
    argv = [flag if value else "--no-" + flag[2:]] if KINDS[name] is bool else [flag, str(value)]
    assert getattr(parse_config([*INVOKE, *argv]), name) == value
    others = {f for f in FIELDS if f != name}
    assert {f: getattr(cfg, f) for f in others} == {f: getattr(TrainConfig("m", ["d.jsonl"], "o"), f) for f in others}


def test_invocation_flags_and_the_file_override():
    cfg = parse_config(["--model", "m", "--data", "a", "b", "--out", "o", "--state", "s", "--seed", "3",
                        "--threads", "2", "--image-root", "img"])
    assert (cfg.data, cfg.state, cfg.seed, cfg.threads, cfg.image_root) == (["a", "b"], "s", 3, 2, "img")
    with pytest.raises(SystemExit):
        parse_config([*INVOKE, "--extra", "x"])  # a mapping: Python callers only


def test_run_recipe():
    run = {"task": "depth", "mixtures": ["depth", "object"], "threads": 2, "gpus": 8, "nodes": 1,
           "runtime_min": 60, "samples": 100, "unify_focal": True, "max_steps": 8, "max_minutes": 8, "lr": 1e-3,
           "batch_size": 7, "grad_accum": 8, "global_batch": 56, "packing": True}
    assert run_recipe(run) == {"max_steps": 8, "max_minutes": 8.0, "lr": 1e-3, "batch_size": 7,
                               "global_batch": 56, "packing": True}  # grad_accum follows from the GPUs
    assert run_recipe({"task": "depth", "grad_accum": 2}) == {"grad_accum": 2}
    with pytest.raises(ValueError, match=r"^runs\.x: unknown key 'learning_rate' \(neither a training setting"):
        run_recipe({"task": "depth", "learning_rate": 1}, "runs.x")
    with pytest.raises(ValueError, match=r"^runs\.x: packing: expected true or false, got 'yes'$"):
        run_recipe({"packing": "yes"}, "runs.x")


def test_coerce():
    assert coerce("lr", "2e-3") == 0.002 and coerce("lr", 1) == 1.0 and type(coerce("lr", 1)) is float
    assert coerce("max_steps", 4.0) == 4 and type(coerce("max_steps", 4.0)) is int
    assert coerce("max_minutes", None) is None and coerce("data", "a.jsonl") == ["a.jsonl"]
    for name, value, words in [("max_steps", 2.5, "an integer"), ("max_steps", True, "an integer"),
                               ("lr", "fast", "a number"), ("lr", None, "a number"),
                               ("packing", 1, "true or false"), ("optim", 3, "a string"),
                               ("data", [1], "a file name or a list of them")]:
        with pytest.raises(ValueError, match=f"^{name}: expected {words}, got {re.escape(repr(value))}$"):
            coerce(name, value)


def test_recipe_file_bytes(tmp_path):
    write_recipe({"packing": True, "max_steps": 650, "lr": 0.001, "batch_size": 16}, tmp_path / "r.yaml")
    assert (tmp_path / "r.yaml").read_text() == "batch_size: 16\nlr: 0.001\nmax_steps: 650\npacking: true\n"


def _cli(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_cli_unknown_key_is_one_line_naming_file_and_key(tmp_path):
    (tmp_path / "run.yaml").write_text("max_steps: 3\nlearning_rate: 0.1\n")
    res = _cli("vlm3.train", ["--config", "run.yaml", *INVOKE], tmp_path)
    assert res.returncode == 1 and res.stderr.strip().splitlines() == [
        "vlm3.train: error: --config run.yaml: unknown key 'learning_rate' "
        "(not a setting of vlm3.train.settings.TrainConfig)"]
    assert not (tmp_path / "o").exists()


def test_settings_cli_writes_the_recipe_or_one_line(tmp_path):
    res = _cli("vlm3.train.settings", ["--recipe", '{"task": "pose", "single_turn": true, "lr": 0.002}',
                                       "--out", "r.yaml"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "r.yaml").read_text() == "lr: 0.002\nsingle_turn: true\n"
    res = _cli("vlm3.train.settings", ["--recipe", '{"lr": "fast"}', "--out", "bad.yaml"], tmp_path)
    assert res.returncode == 1 and res.stderr.strip().splitlines() == [
        "vlm3.train.settings: error: --recipe: lr: expected a number, got 'fast'"]
    assert not (tmp_path / "bad.yaml").exists()
