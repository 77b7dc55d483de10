"""vlm3.tasks is the one task list: the stages take it from there, and the config schema's task
names (an enum and pattern keys, which YAML cannot import) are held to it here."""

import re
from pathlib import Path

import yaml

import vlm3
from vlm3.tasks import ANSWER_KINDS, PAIR_TASKS, TASKS

SCHEMA = Path(vlm3.__file__).parent / "schemas" / "config.schema.yaml"


def test_schema_task_names_are_the_task_list():
    text = SCHEMA.read_text()
    schema = yaml.safe_load(text)
    assert tuple(schema["$defs"]["task"]["enum"]) == TASKS
    patterns = re.findall(r'"\^\(([a-z|]+)\)\$"', text)
    assert len(patterns) == 5 and all(tuple(p.split("|")) == TASKS for p in patterns)


def test_answer_kinds_are_parser_names_and_pair_tasks_are_tasks():
    from vlm3.qa.parse import PARSERS

    assert tuple(ANSWER_KINDS) == TASKS
    assert all(k in PARSERS for kinds in ANSWER_KINDS.values() for k in kinds)
    assert set(PAIR_TASKS) < set(TASKS)


def test_stages_use_the_one_list():
    from vlm3 import records, score
    from vlm3.baselines import __main__ as baselines
    from vlm3.qa import build, leak
    from vlm3.report import claims, tables

    assert all(m.TASKS is TASKS for m in (score, baselines, build, claims, tables))
    assert leak.PAIR_TASKS is PAIR_TASKS and records.ANSWER_KINDS is ANSWER_KINDS
