"""vlm3.records: the one reader of QA records and prediction lines (exact messages), its
single-turn questions, and that it and its torch-free users import without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vlm3.records import (
    prediction_line,
    prediction_row,
    query_point,
    question_boxes,
    questions,
    read_predictions,
    read_qa,
    read_qa_lines,
)

IMG = {"type": "image"}


def _rec(rid="r0", n_img=1, turns=(("How far?", "3.00 meters"),), targets=None):
    msgs = []
    for k, (q, a) in enumerate(turns):
        head = [IMG] * n_img if k == 0 else []
        msgs += [{"role": "user", "content": head + [{"type": "text", "text": q}]},
                 {"role": "assistant", "content": [{"type": "text", "text": a}]}]
    if targets is None:
        targets = [{"kind": "depth", "value": 3.0 + k} for k in range(len(turns))]
    return {"id": rid, "images": [f"im{i}.png" for i in range(n_img)], "messages": msgs, "meta": {"targets": targets}}


def _write(path, lines):
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def _err(fn, *a, **k) -> str:
    with pytest.raises(ValueError) as e:
        fn(*a, **k)
    return str(e.value)


def test_read_qa_keeps_order_and_line_numbers(tmp_path):
    a, b = _rec("a"), _rec("b", n_img=2)
    p = _write(tmp_path / "q.jsonl", [a, "", b])
    assert read_qa(p) == [a, b]
    assert read_qa_lines(p) == [(1, a), (3, b)]


@pytest.mark.parametrize("edit,problem", [
    (lambda r: r.pop("id"), "record lacks 'id'"),
    (lambda r: r.pop("images"), "record lacks 'images'"),
    (lambda r: r.pop("messages"), "record lacks 'messages'"),
    (lambda r: r.update(messages={"role": "user"}), "messages must be a list of {role, content} objects"),
    (lambda r: r["messages"][1].pop("content"), "messages must be a list of {role, content} objects"),
    (lambda r: r.update(images="im0.png"), "images must be a list of paths"),
    (lambda r: r["images"].append("x.png"), "1 image items but 2 image paths"),
    (lambda r: r["meta"].pop("targets"), "1 user turns but no meta.targets"),
    (lambda r: r.pop("meta"), "1 user turns but no meta.targets"),
    (lambda r: r["meta"]["targets"].append({}), "1 user turns but 2 meta.targets"),
])
def test_read_qa_names_argument_file_line_and_problem(tmp_path, edit, problem):
    bad = _rec("b")
    edit(bad)
    p = _write(tmp_path / "q.jsonl", [_rec("a"), bad])
    assert _err(read_qa, p, "--train-qa") == f"--train-qa {p}:2: {problem}"


def test_targets_are_checked_only_when_needed(tmp_path):
    rec = _rec("a")
    rec.pop("meta")
    p = _write(tmp_path / "q.jsonl", [rec])
    assert read_qa(p, "QA file", need_targets=False) == [rec]
    assert _err(read_qa, p) == f"--qa {p}:1: 1 user turns but no meta.targets"


def test_read_qa_empty_missing_and_bad_json(tmp_path):
    p = _write(tmp_path / "q.jsonl", ["", "  "])
    assert _err(read_qa, p) == f"--qa {p}: no QA records"
    assert _err(read_qa, tmp_path / "none.jsonl", "QA file") == f"QA file {tmp_path / 'none.jsonl'}: no such file"
    _write(p, [_rec(), "[1, 2"])
    assert _err(read_qa, p).startswith(f"--qa {p}:2: not valid JSON (")


def test_questions_are_the_user_turns_with_their_targets():
    rec = _rec("p", n_img=2, turns=(("Q one (1, 2)?", "A1"), ("Q two", "A2")))
    rec["messages"][2]["content"] = "Q two as a string"
    assert questions(rec) == [
        {"id": "p", "turn": 0, "question": "Q one (1, 2)?", "target": {"kind": "depth", "value": 3.0}},
        {"id": "p", "turn": 1, "question": "Q two as a string", "target": {"kind": "depth", "value": 4.0}}]
    rec["meta"]["targets"].pop()
    assert _err(questions, rec) == "record p: 2 user turns but 1 meta.targets"


def test_boxes_and_query_point():
    text = "Is bounding box region (1, 2, 30, 40) left of bounding box region (5, 6, 7, 8)?"
    q = {"id": "o", "turn": 0, "question": text, "target": {"kind": "choice", "value": 0}}
    assert question_boxes(q) == [(1, 2, 30, 40), (5, 6, 7, 8)]
    assert question_boxes({**q, "target": {"boxes": [[9, 8, 7, 6]]}}) == [(9, 8, 7, 6)]
    assert question_boxes({"target": {}}) == []  # a prediction line without its question
    c = {"id": "c", "turn": 2, "question": "Where is (120, 7) of image 1 in image 2?", "target": {"kind": "point"}}
    assert query_point(c) == (120, 7)
    assert query_point({**c, "target": {"query": [3.0, 4.0]}}) == (3, 4)
    assert _err(query_point, {**c, "question": "Where?"}) == "question c turn 2: no query pixel '(x, y)' in 'Where?'"


def test_prediction_lines_round_trip(tmp_path):
    q = questions(_rec("a", turns=(("Yaw?", "Yaw=+1.0°"),)))[0]
    row = prediction_row(q, "Yaw=+2.0°")
    assert list(row) == ["id", "turn", "question", "prediction", "target"]
    assert prediction_line(row) == json.dumps(row) + "\n" and "\\u00b0" in prediction_line(row)
    assert prediction_line(row, ensure_ascii=False) == json.dumps(row, ensure_ascii=False) + "\n"
    p = tmp_path / "p.jsonl"
    p.write_text(prediction_line(row) + prediction_line({**row, "turn": 1}, ensure_ascii=False), encoding="utf-8")
    assert read_predictions(p, "depth") == [row, {**row, "turn": 1}]
    p.write_text(prediction_line(row) * 2)
    assert _err(read_predictions, p, "depth") == f"{p}:2: duplicate question id='a' turn=0"
    p.write_text(prediction_line({**row, "target": {"kind": "depth", "value": [1]}}))
    assert _err(read_predictions, p, "depth") == f"{p}:1: depth target value [1] is not a finite number"
    assert _err(read_predictions, p, "pose").startswith(f"{p}:1: target kind 'depth' is not a pose answer")


def test_records_and_its_users_import_without_torch():
    mods = "vlm3.records vlm3.score vlm3.baselines.__main__ vlm3.qa.leak vlm3.predict_files vlm3.report.figures"
    code = (f"import importlib, sys\nfor m in {mods.split()!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
