"""Issue 17 item 12: values a stage cannot use are refused at config validation, naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from vlm3.config import ConfigError, validate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _with(path: list, value) -> dict:
    cfg = copy.deepcopy(DEFAULT)
    node = cfg
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return cfg


@pytest.mark.parametrize("path,value,key", [
    (["datasets", "synthetic", "generate", "train", "n_scenes"], -5, "datasets.synthetic.generate.train.n_scenes"),
    (["datasets", "synthetic", "generate", "common", "views"], 0, "datasets.synthetic.generate.common.views"),
    (["datasets", "synthetic", "generate", "common", "withheld"], 3, "datasets.synthetic.generate.common.withheld"),
    (["datasets", "synthetic", "generate", "common", "sizes"], ["320by240"], "datasets.synthetic.generate.common.sizes.0"),
    (["datasets", "synthetic", "generate", "common", "focal_range"], [300], "datasets.synthetic.generate.common.focal_range"),
    (["datasets", "synthetic", "generate", "common", "difficulty"], "medium", "datasets.synthetic.generate.common.difficulty"),
    (["datasets", "synthetic", "generate", "common", "n_secnes"], 3, "datasets.synthetic.generate.common"),
    (["target_focal"], 1e7, "target_focal"),
    (["datasets", "synthetic", "target_focal"], 1e7, "datasets.synthetic.target_focal"),
])
def test_unusable_values_name_their_key(path, value, key):
    with pytest.raises(ConfigError) as e:
        validate(_with(path, value), source="config/config.yaml")
    lines = str(e.value).splitlines()
    assert lines[0] == "config/config.yaml is invalid:"
    assert lines[1].startswith(f"  {key}: ")


def test_shipped_configs_validate():
    for name in ("config.yaml", "replica.yaml", "paper.yaml"):
        validate(yaml.safe_load((ROOT / "config" / name).read_text()), source=name)


def test_run_mixtures_must_name_mixtures_of_the_config():
    """`runs.<run>.mixtures` lists keys of `mixtures`; a run may leave its own task out of it."""
    cfg = _with(["runs", "tiny-pairs", "mixtures"], ["pose", "corespondence"])
    with pytest.raises(ConfigError) as e:
        validate(cfg, source="config/config.yaml")
    assert str(e.value) == ("config/config.yaml is invalid:\n"
                            "  runs.tiny-pairs.mixtures: unknown mixture 'corespondence' (not a key of mixtures)")
    cfg = _with(["runs", "tiny-pairs", "mixtures"], ["pose", "pose"])
    with pytest.raises(ConfigError) as e:
        validate(cfg, source="config/config.yaml")
    assert str(e.value).splitlines()[1] == "  runs.tiny-pairs.mixtures: ['pose', 'pose'] has non-unique elements"
    cfg = _with(["runs", "tiny-pairs", "mixtures"], ["correspondence"])
    del cfg["mixtures"]["pose"]
    assert validate(cfg)["runs"]["tiny-pairs"]["mixtures"] == ["correspondence"]
    del cfg["runs"]["tiny-pairs"]["mixtures"]  # by default a run trains on its task's mixture
    with pytest.raises(ConfigError) as e:
        validate(cfg, source="config/config.yaml")
    assert str(e.value) == "config/config.yaml is invalid:\n  runs.tiny-pairs.task: no mixture for task 'pose'"


def test_base_model_pretrain_needs_a_built_model_and_its_whole_recipe():
    """`base_model.pretrain` pre-trains the model the workflow builds (a hub model is pre-trained
    already); records, max_steps, batch_size and lr are all required."""
    recipe = {"records": 600, "max_steps": 50, "batch_size": 8, "lr": 1.0e-3}
    assert validate(_with(["base_model", "pretrain"], recipe))["base_model"]["pretrain"] == recipe
    with pytest.raises(ConfigError) as e:
        validate(_with(["base_model"], {"hub": "Qwen/Qwen3-VL-4B-Instruct", "pretrain": recipe}), source="c.yaml")
    assert str(e.value) == "c.yaml is invalid:\n  base_model: 'build' is a dependency of 'pretrain'"
    with pytest.raises(ConfigError) as e:
        validate(_with(["base_model", "pretrain"], {k: v for k, v in recipe.items() if k != "lr"}), source="c.yaml")
    assert str(e.value) == "c.yaml is invalid:\n  base_model.pretrain: 'lr' is a required property"


def test_from_built_needs_a_built_model():
    """`runs.<run>.from_built` picks the built model over its pre-trained form; with a hub base model
    there is no built model, so the key is refused rather than silently ignored."""
    assert validate(_with(["runs", "tiny-depth", "from_built"], True))["runs"]["tiny-depth"]["from_built"] is True
    cfg = _with(["runs", "tiny-depth", "from_built"], True)
    cfg["base_model"] = {"hub": "Qwen/Qwen3-VL-4B-Instruct"}
    with pytest.raises(ConfigError) as e:
        validate(cfg, source="c.yaml")
    assert str(e.value) == ("c.yaml is invalid:\n  runs.tiny-depth.from_built: needs base_model.build "
                            "(a hub model is not built by the workflow)")


def test_a_model_answers_several_tasks_with_one_run():
    """models.X.run as a task -> run mapping: one run trained on two tasks' mixtures answers both, the
    model answers only the mapped tasks, and a listed task without a run is a one-line error."""
    from vlm3.config import model_run, models_for

    cfg = copy.deepcopy(DEFAULT)
    m = {"kind": "run", "label": "pairs", "run": {"pose": "tiny-pairs", "correspondence": "tiny-pairs"}}
    cfg["models"]["pairs"] = m
    validate(copy.deepcopy(cfg), source="c.yaml")
    assert [model_run(m, t) for t in ("pose", "correspondence")] == ["tiny-pairs", "tiny-pairs"]
    assert model_run({"run": "tiny-{task}"}, "depth") == "tiny-depth"
    assert "pairs" in models_for(cfg, "pose") and "pairs" not in models_for(cfg, "depth")
    # the audit's matcher reads the runs of the tasks the mapping names (not depth's, which it has none for)
    from vlm3.report.claims import model_matches

    assert model_matches({"kind": "run", "unify_focal": True}, "pairs", cfg)
    cfg["runs"]["tiny-pairs"]["unify_focal"] = False
    assert model_matches({"kind": "run", "unify_focal": False}, "pairs", cfg)
    del cfg["runs"]["tiny-pairs"]["unify_focal"]
    cfg["models"]["pairs"] = {**m, "tasks": ["pose", "depth"]}
    with pytest.raises(ConfigError, match=r"models.pairs.run: no run for task\(s\) \['depth'\] listed in tasks"):
        validate(copy.deepcopy(cfg), source="c.yaml")
    cfg["models"]["pairs"] = {**m, "run": {"pose": "tiny-nope"}}
    with pytest.raises(ConfigError, match="names run 'tiny-nope' for task 'pose', which is not in runs"):
        validate(copy.deepcopy(cfg), source="c.yaml")
