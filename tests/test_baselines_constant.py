"""Constant baselines: exact answers from hand-made training QA, scored through vlm3.score."""

import json

import numpy as np
import pytest

from vlm3 import score
from vlm3.baselines.__main__ import main, run
from vlm3.baselines.constant import ConstantBaseline
from vlm3.qa import templates as T
from vlm3.records import read_predictions


def _rec(rid, task, turns, targets, images=("img.png",)):
    return T.make_record(rid, task, "synthetic", "train", list(images), turns, targets)


def _depth_rec(rid, values):
    return _rec(rid, "depth", [(T.depth_question(1, 2), T.depth_answer(v)) for v in values],
                [{"kind": "depth", "value": v, "pixel": [0, 0]} for v in values])


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_depth_median_and_mean(tmp_path):
    train = [_depth_rec("a", [1.0, 2.0]), _depth_rec("b", [3.0, 10.0])]
    assert ConstantBaseline("depth", train, "median").params["depth"] == 2.5
    assert ConstantBaseline("depth", train, "mean").params["depth"] == 4.0
    test = [_depth_rec("t", [2.5, 5.0, 1.0])]
    tr, te = _write(tmp_path / "train.jsonl", train), _write(tmp_path / "test.jsonl", test)
    out = tmp_path / "pred" / "median" / "depth" / "synthetic_test.jsonl"
    assert run("constant", "depth", te, tr, out) == 3
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["prediction"] for x in lines] == ["2.50 meters"] * 3
    assert [x["turn"] for x in lines] == [0, 1, 2] and lines[1]["target"]["value"] == 5.0
    assert lines[0]["question"] == T.depth_question(1, 2)
    body, _ = score.score_records(read_predictions(out, "depth"), "depth", n_boot=10)
    assert body["n_unparsed"] == 0 and body["metrics"]["delta1"] == pytest.approx(1 / 3)
    main(["--kind", "mean", "--task", "depth", "--qa", str(te), "--train-qa", str(tr), "--out", str(out)])
    assert json.loads(out.read_text().splitlines()[0])["prediction"] == "4.00 meters"


def test_correspondence_zero_motion():
    q = {"kind": "point", "value": [10, 20], "scale": 1000, "query": [300, 400]}
    rec = _rec("p", "correspondence", [(T.correspondence_question(300, 400, 2), "x")], [q], ("a.png", "b.png"))
    base = ConstantBaseline("correspondence", [rec])
    assert base.answer({"id": "p", "turn": 0, "question": "", "target": q}) == "The corresponding pixel is (300, 400)"
    # without a stored query the question text is read
    q2 = {"kind": "point", "value": [10, 20]}
    text = T.correspondence_question(123, 45, 3)
    assert base.answer({"id": "p", "turn": 0, "question": text, "target": q2}) == "The corresponding pixel is (123, 45)"
    # an offset question: zero motion is the zero shift, which reads back as the query
    q3 = {"kind": "offset", "value": [10, 20], "scale": 1000, "query": [300, 400]}
    row = {"id": "p", "turn": 0, "question": T.correspondence_question(300, 400, 2, points="offset"), "target": q3}
    assert base.answer(row) == "The point moves by (+0, +0)"
    assert score.read_answer({**row, "prediction": base.answer(row)}) == (300, 400)


def _pose_rec(rid, unit, dist, yaw=5.0):
    u = np.asarray(unit, float) / np.linalg.norm(unit)
    tg = [{"kind": "rotation_angle", "value": abs(yaw)}, {"kind": "euler", "value": [yaw, 0.0, 0.0]},
          {"kind": "direction", "value": u.tolist(), "words": "x"}, {"kind": "distance", "value": dist}]
    return _rec(rid, "pose", [(T.POSE_QUESTIONS[k], "x") for k in T.POSE_QUESTIONS], tg, ("a.png", "b.png"))


def test_pose_most_common_motion():
    """Direction: the most common words and the mean of their unit vectors; rotation: the mean
    rotation of those pairs only (yaw 4 and 6 -> 5; the 'right' pair's -30 is left out)."""
    train = [_pose_rec("a", [0, 0, 1], 1.0, 4.0), _pose_rec("b", [0.1, 0, 1], 3.0, 6.0),
             _pose_rec("c", [1, 0, 0], 2.0, -30.0)]
    base = ConstantBaseline("pose", train)
    words, unit = base.params["direction"]
    u1, u2 = np.array([0, 0, 1.0]), np.array([0.1, 0, 1]) / np.linalg.norm([0.1, 0, 1])
    expect = (u1 + u2) / np.linalg.norm(u1 + u2)
    assert words == "forward" and np.allclose(unit, expect)
    qs = [{"id": "t", "turn": i, "question": "", "target": t} for i, t in enumerate(train[0]["meta"]["targets"])]
    assert [base.answer(q) for q in qs] == [
        "Rotation angle: 5.0 degrees", "Yaw=+5.0°, Pitch=+0.0°, Roll=+0.0°",
        "The camera moves forward, unit vector (+0.05, +0.00, +1.00).", "Translation distance: 2.00 meters"]
    # without yaw/pitch/roll targets the rotation stays the identity
    bare = [{**r, "messages": r["messages"][4:6] + r["messages"][6:], "meta": {"targets": r["meta"]["targets"][2:]}}
            for r in train]
    assert ConstantBaseline("pose", bare).answer(qs[1]) == "Yaw=+0.0°, Pitch=+0.0°, Roll=+0.0°"


def _obj_rec(rid, cat, value, boxes):
    t = {"kind": T.OBJECT_CATEGORIES[cat]["kind"], "value": value, "category": cat, "boxes": boxes}
    return _rec(rid, "object", [(T.object_question(cat, 0, boxes), T.object_answer(cat, 0, boxes, value))], [t])


def test_object_majority_and_median():
    b1, b2 = [[1, 2, 3, 4]], [[1, 2, 3, 4], [5, 6, 7, 8]]
    train = [_obj_rec("w1", "width_data", 1.0, b1), _obj_rec("w2", "width_data", 2.0, b1),
             _obj_rec("w3", "width_data", 9.0, b1), _obj_rec("h", "height_data", 4.0, b1),
             _obj_rec("d1", "direction", 3, b2), _obj_rec("d2", "direction", 3, b2), _obj_rec("d3", "direction", 9, b2),
             _obj_rec("y1", "above_predicate", True, b2), _obj_rec("y2", "above_predicate", False, b2),
             _obj_rec("c1", "left_choice", 1, b2)]
    base = ConstantBaseline("object", train)
    assert base.params["width_data"] == 2.0 and base.params["direction"] == 3
    assert base.params["above_predicate"] is False and base.params["left_choice"] == 1
    assert base.params["pooled_distance"] == 3.0  # median of 1, 2, 9, 4
    boxes = [[10, 20, 30, 40], [50, 60, 70, 80]]

    def ask(cat, bx):
        t = {"kind": T.OBJECT_CATEGORIES[cat]["kind"], "value": 0, "category": cat}
        return base.answer({"id": "q", "turn": 0, "question": T.object_question(cat, 1, bx), "target": t})

    assert ask("width_data", boxes[:1]) == "bounding box region (10, 20, 30, 40) is 2.00 meters wide."
    assert ask("direction", boxes) == ("bounding box region (50, 60, 70, 80) is roughly at 3 o'clock "
                                       "from bounding box region (10, 20, 30, 40).")
    assert ask("left_choice", boxes) == "bounding box region (50, 60, 70, 80) is more to the left."
    assert ask("above_predicate", boxes).startswith("Incorrect")
    assert ask("distance_data", boxes).endswith("are 3.00 meters apart.")  # unseen: pooled median


def test_bad_inputs(tmp_path):
    tr = _write(tmp_path / "train.jsonl", [_depth_rec("a", [1.0])])
    with pytest.raises(ValueError, match="--qa .*missing.jsonl: no such file"):
        run("constant", "depth", tmp_path / "missing.jsonl", tr, tmp_path / "o.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(ValueError, match="--train-qa .*bad.jsonl:1: record lacks 'images'"):
        run("constant", "depth", tr, tmp_path / "bad.jsonl", tmp_path / "o.jsonl")
    with pytest.raises(ValueError, match="no depth targets"):
        run("median", "depth", tr, _write(tmp_path / "p.jsonl", [_pose_rec("a", [0, 0, 1], 1.0)]), tmp_path / "o.jsonl")
    with pytest.raises(ValueError, match="no classical expert"):
        run("expert", "depth", tr, tr, tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()
