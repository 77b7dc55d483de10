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
    cfg = _with(["runs", "tiny-pose", "mixtures"], ["pose", "corespondence"])
    with pytest.raises(ConfigError) as e:
        validate(cfg, source="config/config.yaml")
    assert str(e.value) == ("config/config.yaml is invalid:\n"
                            "  runs.tiny-pose.mixtures: unknown mixture 'corespondence' (not a key of mixtures)")
    cfg = _with(["runs", "tiny-pose", "mixtures"], ["pose", "pose"])
    with pytest.raises(ConfigError) as e:
        validate(cfg, source="config/config.yaml")
    assert str(e.value).splitlines()[1] == "  runs.tiny-pose.mixtures: ['pose', 'pose'] has non-unique elements"
    cfg = _with(["runs", "tiny-pose", "mixtures"], ["correspondence"])
    del cfg["mixtures"]["pose"]
    assert validate(cfg)["runs"]["tiny-pose"]["mixtures"] == ["correspondence"]
    del cfg["runs"]["tiny-pose"]["mixtures"]  # by default a run trains on its task's mixture
    with pytest.raises(ConfigError) as e:
        validate(cfg, source="config/config.yaml")
    assert str(e.value) == "config/config.yaml is invalid:\n  runs.tiny-pose.task: no mixture for task 'pose'"


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
