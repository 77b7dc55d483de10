"""QA records and prediction lines (docs/CONTRACTS.md "QA", "Predict"): the one reader of each,
torch-free, for prediction, baselines, training, scoring, the leak check and the report.

- `read_qa(path, arg, need_targets)` (`read_qa_lines` with line numbers): the records of a QA
  jsonl, each checked to be one (`id`, `images` a list, `messages` a list of {role, content}
  objects, one image item per image path); with `need_targets` (every evaluation reader) also one
  meta.targets entry per user turn. A problem is a ValueError naming the argument, the file and
  its line; the CLI's `vlm3.<stage>: error:` prefix names the stage.
- `questions(rec)`: a record as the single-turn questions evaluation asks (turn t = the t-th user
  message, its target meta.targets[t]); `question_boxes` / `query_point`: the regions and query
  pixel a question names.
- `prediction_row` / `prediction_line` / `read_predictions`: the lines of a predictions file,
  `{"id", "turn", "question", "prediction", "target"}`.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from vlm3.tasks import ANSWER_KINDS
from vlm3.utils import read_jsonl

BOX_RE = re.compile(r"bounding box region \((\d+), (\d+), (\d+), (\d+)\)")  # a region as questions name it
_PAIR_RE = re.compile(r"\((\d+),\s*(\d+)\)")


# ----------------------------------------------------------------------------- QA records


def _targets_problem(rec: dict) -> str | None:
    """Why meta.targets does not hold one target per user turn, or None."""
    targets = (rec.get("meta") or {}).get("targets")
    users = sum(m["role"] == "user" for m in rec["messages"])
    if isinstance(targets, list) and len(targets) == users:
        return None
    return f"{users} user turns but {len(targets) if isinstance(targets, list) else 'no'} meta.targets"


def _record_problem(rec: dict, need_targets: bool) -> str | None:
    """Why `rec` is not a QA record (module docstring), or None."""
    for key in ("id", "images", "messages"):
        if key not in rec:
            return f"record lacks {key!r}"
    if not isinstance(rec["messages"], list) or not all(
            isinstance(m, dict) and "role" in m and "content" in m for m in rec["messages"]):
        return "messages must be a list of {role, content} objects"
    if not isinstance(rec["images"], list):
        return "images must be a list of paths"
    if need_targets and (problem := _targets_problem(rec)):
        return problem
    n_img = sum(1 for m in rec["messages"] if isinstance(m["content"], list)
                for item in m["content"] if isinstance(item, dict) and item.get("type") == "image")
    if n_img != len(rec["images"]):
        return f"{n_img} image items but {len(rec['images'])} image paths"
    return None


def read_qa_lines(path: str | Path, arg: str = "--qa", need_targets: bool = True) -> list[tuple[int, dict]]:
    """(line number, record) of every record of a QA jsonl, in file order; ValueError
    "{arg} {path}:{line}: ..." at the first malformed one, "{arg} {path}: no QA records" for a file
    without any. `need_targets=False` (training, figures, the leak check's mixtures) skips the
    meta.targets check."""
    records = read_jsonl(path, arg)
    for n, rec in records:
        if problem := _record_problem(rec, need_targets):
            raise ValueError(f"{arg} {path}:{n}: {problem}")
    if not records:
        raise ValueError(f"{arg} {path}: no QA records")
    return records


def read_qa(path: str | Path, arg: str = "--qa", need_targets: bool = True) -> list[dict]:
    """The records of a QA jsonl, in file order, checked as `read_qa_lines` does."""
    return [rec for _, rec in read_qa_lines(path, arg, need_targets)]


def message_text(msg: dict) -> str:
    """The text of a chat message: its string content, or its text items joined."""
    content = msg["content"]
    return content if isinstance(content, str) else "".join(
        item["text"] for item in content if item.get("type") == "text")


def questions(rec: dict) -> list[dict]:
    """[{"id", "turn", "question", "target"}] of one record, in turn order: each user turn asked
    as its own single-turn conversation (with the record's images), as evaluation asks it."""
    if problem := _targets_problem(rec):
        raise ValueError(f"record {rec['id']}: {problem}")
    targets = rec["meta"]["targets"]
    users = [m for m in rec["messages"] if m["role"] == "user"]
    return [{"id": rec["id"], "turn": t, "question": message_text(msg), "target": targets[t]}
            for t, msg in enumerate(users)]


def question_boxes(q: dict) -> list[tuple[int, ...]]:
    """The [0, 1000] region boxes of an object question (or prediction line), in the order they
    are named: target["boxes"], else read from the question text."""
    boxes = q["target"].get("boxes")
    if boxes is None:
        boxes = BOX_RE.findall(q.get("question", ""))
    return [tuple(int(v) for v in b) for b in boxes]


def query_point(q: dict) -> tuple[int, int]:
    """The normalised query pixel of a correspondence question: target["query"] when the QA
    stage stores it, else the first "(x, y)" of integers in the question text."""
    t = q["target"]
    for key in ("query", "query_norm", "pixel_norm_1"):
        if key in t:
            return int(t[key][0]), int(t[key][1])
    m = _PAIR_RE.search(q["question"])
    if not m:
        raise ValueError(f"question {q['id']} turn {q['turn']}: no query pixel '(x, y)' in {q['question']!r}")
    return int(m.group(1)), int(m.group(2))


# ----------------------------------------------------------------------------- prediction lines


def prediction_row(q: dict, prediction: str) -> dict:
    """The prediction line of question `q` (from `questions`) answered with `prediction`."""
    return {"id": q["id"], "turn": q["turn"], "question": q["question"], "prediction": prediction,
            "target": q["target"]}


def prediction_line(row: dict, ensure_ascii: bool = True) -> str:
    """One line of a predictions file. Models' files escape non-ASCII text (json's default), the
    baselines' files keep it as UTF-8 (`ensure_ascii=False`); both read back to the same rows, and
    each keeps its bytes of before."""
    return json.dumps(row, ensure_ascii=ensure_ascii) + "\n"


# Shape of each target kind's value: a number, a bool, or a list of that many numbers.
_VALUE_SHAPES = {"depth": 0, "distance": 0, "rotation_angle": 0, "clock": 0, "choice": 0, "yesno": "bool",
                 "point": 2, "offset": 2, "euler": 3, "direction": 3}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def target_value(target: dict, where: str):
    """target["value"]; ValueError naming `where` when it has none."""
    if "value" not in target:
        raise ValueError(f"{where}: target lacks 'value'")
    return target["value"]


def _check_value(kind: str, target: dict, where: str) -> None:
    """ValueError naming `where` unless target["value"] has the shape of its kind."""
    shape = _VALUE_SHAPES[kind]
    v = target_value(target, where)
    if shape == "bool":
        ok, want = isinstance(v, bool), "true or false"
    elif shape == 0:
        ok, want = _number(v), "a finite number"
    else:
        ok, want = isinstance(v, list) and len(v) == shape and all(map(_number, v)), f"{shape} finite numbers"
    if not ok:
        raise ValueError(f"{where}: {kind} target value {v!r} is not {want}")


def read_predictions(path: str | Path, task: str, allow_empty: bool = False) -> list[dict]:
    """Read and check a predictions JSONL of `task`; ValueError names the file and line of any
    problem (an empty file too, unless `allow_empty`: scored against a QA file, all its questions
    are missing)."""
    recs, seen = [], set()
    for ln, r in read_jsonl(path, "--pred"):
        for key in ("id", "turn", "prediction", "target"):
            if key not in r:
                raise ValueError(f"{path}:{ln}: prediction line lacks {key!r}")
        kind = r["target"].get("kind") if isinstance(r["target"], dict) else None
        if kind not in ANSWER_KINDS[task]:
            raise ValueError(f"{path}:{ln}: target kind {kind!r} is not a {task} answer "
                             f"(expected one of {sorted(ANSWER_KINDS[task])})")
        if not isinstance(r["prediction"], str):
            raise ValueError(f"{path}:{ln}: prediction is {type(r['prediction']).__name__} "
                             f"{r['prediction']!r}, not the model's text")
        _check_value(kind, r["target"], f"{path}:{ln}")
        key = (r["id"], r["turn"])
        if key in seen:
            raise ValueError(f"{path}:{ln}: duplicate question id={r['id']!r} turn={r['turn']!r}")
        seen.add(key)
        recs.append(r)
    if not recs and not allow_empty:
        raise ValueError(f"{path}: no predictions")
    return recs
