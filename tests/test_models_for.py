"""`vlm3.config.models_for`: the one definition of which configured models answer a task, used by
the workflow's rules, the paper tables and figures and the claims audit."""

from __future__ import annotations

from vlm3.config import models_for
from vlm3.report.claims import models_matching

CONFIG = {
    "models": {
        "base": {"kind": "base"},
        "ours": {"kind": "run", "run": "r-{task}", "tasks": ["depth", "pose"]},
        "released": {"kind": "hub", "hub": {"depth": "org/depth", "object": "org/object"}},
        "one-hub": {"kind": "hub", "hub": "org/all"},
        "median": {"kind": "baseline", "tasks": ["depth"]},
    }
}


def test_tasks_list_and_per_task_hub_mapping():
    assert models_for(CONFIG, "depth") == ["base", "ours", "released", "one-hub", "median"]
    assert models_for(CONFIG, "object") == ["base", "released", "one-hub"]
    assert models_for(CONFIG, "pose") == ["base", "ours", "one-hub"]
    assert models_for(CONFIG, "correspondence") == ["base", "one-hub"]


def test_kinds_filter():
    assert models_for(CONFIG, "pose", {"run"}) == ["ours"]
    assert models_for(CONFIG, "correspondence", {"hub", "run"}) == ["one-hub"]
    assert models_for({"models": {}}, "depth") == []


def test_claims_match_only_models_that_answer_the_task():
    hub = [{"kind": "hub"}]
    assert models_matching(hub, CONFIG, "pose") == ["one-hub"]  # released has no pose checkpoint
    assert models_matching(hub, CONFIG, "depth") == ["released", "one-hub"]
    assert models_matching(hub, CONFIG) == ["released", "one-hub"]
