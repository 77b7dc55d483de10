"""QA records (docs/CONTRACTS.md) -> the single-turn questions a baseline answers.

Same flattening as `vlm3.predict.questions` (turn t = the t-th user message, its target =
meta.targets[t]), repeated here in a few lines so the baselines do not import torch/transformers.
"""

from __future__ import annotations

import re
from pathlib import Path

from vlm3.utils import read_jsonl

_PAIR_RE = re.compile(r"\((\d+),\s*(\d+)\)")
_BOX_RE = re.compile(r"bounding box region \((\d+), (\d+), (\d+), (\d+)\)")


def read_qa(path: str | Path, arg: str = "--qa") -> list[dict]:
    """Records of a QA JSONL; ValueError names the argument, file and line of a problem."""
    recs = []
    for ln, rec in read_jsonl(path, arg):
        for key in ("id", "messages", "meta"):
            if key not in rec:
                raise ValueError(f"{arg} {path}:{ln}: record lacks {key!r}")
        recs.append(rec)
    if not recs:
        raise ValueError(f"{arg} {path}: no records")
    return recs


def questions(rec: dict) -> list[dict]:
    """[{"id", "turn", "question", "target"}] of one record, in turn order."""
    targets = rec.get("meta", {}).get("targets")
    users = [m for m in rec["messages"] if m["role"] == "user"]
    if targets is None or len(targets) != len(users):
        raise ValueError(f"record {rec['id']}: {len(users)} user turns but "
                         f"{'no' if targets is None else len(targets)} meta.targets")
    out = []
    for t, msg in enumerate(users):
        content = msg["content"]
        text = content if isinstance(content, str) else "".join(
            item["text"] for item in content if item.get("type") == "text")
        out.append({"id": rec["id"], "turn": t, "question": text, "target": targets[t]})
    return out


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


def question_boxes(q: dict) -> list[list[int]]:
    """The [0, 1000] region boxes of an object question, in the order they are named."""
    boxes = q["target"].get("boxes")
    if boxes is None:
        boxes = [[int(v) for v in m] for m in _BOX_RE.findall(q["question"])]
    return [[int(v) for v in b] for b in boxes]
