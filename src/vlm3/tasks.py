"""The four tasks and the kinds of answer each one's questions have: the one definition that the
QA, baseline, scoring, report and workflow code import (torch-free, so the Snakefile can too).

The config schema's task-name patterns (`src/vlm3/schemas/config.schema.yaml`, "depth|object|...")
are held to `TASKS` by tests/test_tasks.py.
"""

from __future__ import annotations

TASKS = ("depth", "object", "correspondence", "pose")

# `meta.targets[i].kind` values a task's questions may carry (the parser names of vlm3.qa.parse)
ANSWER_KINDS = {
    "depth": frozenset({"depth"}),
    "object": frozenset({"distance", "clock", "yesno", "choice"}),
    "correspondence": frozenset({"point", "offset"}),
    "pose": frozenset({"rotation_angle", "euler", "direction", "distance"}),
}

# tasks whose records ask about an image pair (two images, a scene shared by both)
PAIR_TASKS = ("correspondence", "pose")
