"""Scoring: hand-computed metrics per task, unparsed handling, output file and bad inputs."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm3 import score
from vlm3.qa import templates as T

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "vlm3-samples"


def _line(i, turn, pred, target, question="q"):
    return {"id": i, "turn": turn, "question": question, "prediction": pred, "target": target}


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_depth_exact(tmp_path):
    gts, preds = [2.0, 4.0, 5.0, 10.0], ["2.2 meters", "6 meters", "I cannot tell", "<answer>10</answer>"]
    lines = [_line("a", t, p, {"kind": "depth", "value": g, "pixel": [0, 0]}) for t, (p, g) in enumerate(zip(preds, gts))]
    pred = _write(tmp_path / "predictions" / "tiny" / "depth" / "synthetic_test.jsonl", lines)
    out = tmp_path / "m.json"
    res = score.score_file(pred, out, "depth", seed=0, n_boot=200)
    assert json.loads(out.read_text()) == res
    assert (res["model"], res["task"], res["bench"], res["n"], res["n_unparsed"]) == ("tiny", "depth", "synthetic_test", 4, 1)
    m = res["metrics"]
    assert m["delta1"] == 0.5 and m["delta2"] == 0.75 and m["delta3"] == 0.75
    assert m["abs_rel"] == pytest.approx(0.2)
    assert m["rmse"] == pytest.approx(math.sqrt(4.04 / 3))
    assert res["unparsed_examples"] == [{"id": "a", "turn": 2, "prediction": "I cannot tell"}]
    lo, hi = res["ci95"]["delta1"]
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    # same seed -> byte-identical file; the bootstrap depends on the seed
    out2 = tmp_path / "m2.json"
    score.score_file(pred, out2, "depth", seed=0, n_boot=200)
    assert out.read_bytes() == out2.read_bytes()
    assert score.score_file(pred, out2, "depth", seed=1, n_boot=200)["ci95"] != res["ci95"]


def test_depth_ci_degenerate():
    lines = [_line("a", t, "3 meters", {"kind": "depth", "value": 3.0}) for t in range(5)]
    body, _ = score.score_records(lines, "depth", seed=0, n_boot=50)
    assert body["ci95"]["delta1"] == [1.0, 1.0] and body["ci95"]["abs_rel"] == [0.0, 0.0]


def _obj(i, cat, value, boxes, pred_value=None, pred_text=None):
    q = T.object_question(cat, 0, boxes)
    text = pred_text if pred_text is not None else T.object_answer(cat, 0, boxes, pred_value)
    return _line(i, 0, text, {"kind": T.OBJECT_CATEGORIES[cat]["kind"], "value": value, "category": cat,
                              "boxes": boxes}, q)


def test_object_exact():
    b1, b2 = [[10, 20, 30, 40]], [[10, 20, 30, 40], [500, 600, 700, 800]]
    lines = [_obj("w1", "width_data", 1.0, b1, 1.2),
             _obj("w2", "width_data", 2.0, b1, 3.0),
             _obj("d", "direction", 3, b2, 4),
             _obj("lp", "left_predicate", True, b2, True),
             _obj("lc", "left_choice", 1, b2, 1),
             _obj("bp", "big_predicate", False, b2, pred_text="hmm, hard to say"),
             ]
    # a choice naming a box that is not in the question is unparsed
    lines.append(_obj("rc", "right_choice", 0, b2, pred_text="bounding box region (1, 2, 3, 4) is further right."))
    body, _ = score.score_records(lines, "object", seed=0, n_boot=100)
    m = body["metrics"]
    assert body["n"] == 7 and body["n_unparsed"] == 2
    assert m["acc/width_data"] == 0.5 and m["abs_rel/width_data"] == pytest.approx(0.35)
    assert m["acc/direction"] == 1.0 and m["direction_deg_err"] == 30.0
    assert m["acc/left_predicate"] == 1.0 and m["acc/left_choice"] == 1.0 and m["acc/right_choice"] == 0.0
    assert m["acc/left/right"] == pytest.approx(2 / 3) and m["acc/big/small"] == 0.0
    assert m["quantitative_acc"] == 0.75 and m["quantitative_acc_micro"] == pytest.approx(2 / 3)
    assert m["qualitative_acc"] == 0.5 and m["overall_acc"] == pytest.approx(4 / 7)
    assert m["quantitative_abs_rel"] == pytest.approx(0.35)
    assert set(body["ci95"]) == {"overall_acc", "qualitative_acc", "quantitative_acc"}


def test_correspondence_exact():
    def tgt(v):
        return {"kind": "point", "value": v, "scale": 1000, "query": [0, 0], "image_size_2": [200, 100]}

    lines = [_line("p", 0, "The corresponding pixel is (105, 100)", tgt([100, 100])),
             _line("p", 1, "(530, 540)", tgt([500, 500])),
             _line("p", 2, "no idea", tgt([0, 0]))]
    body, _ = score.score_records(lines, "correspondence", seed=0, n_boot=100)
    m = body["metrics"]
    assert body["n_unparsed"] == 1
    assert m["epe"] == pytest.approx(27.5)
    assert m["epe_px"] == pytest.approx((1.0 + math.sqrt(52.0)) / 2)
    assert (m["pck_1"], m["pck_3"], m["pck_5"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def _pose_lines(pid, euler_gt, euler_pred, unit_gt, dir_pred, angle=(10.0, "Rotation angle: 12.5 degrees"),
                dist=(2.0, "Translation distance: 3.00 meters")):
    return [_line(pid, 0, angle[1], {"kind": "rotation_angle", "value": angle[0]}),
            _line(pid, 1, euler_pred, {"kind": "euler", "value": euler_gt}),
            _line(pid, 2, dir_pred, {"kind": "direction", "value": unit_gt, "words": "x"}),
            _line(pid, 3, dist[1], {"kind": "distance", "value": dist[0]})]


def test_pose_exact():
    lines = _pose_lines("A", [10, 0, 0], "Yaw=+12.0°, Pitch=+0.0°, Roll=+0.0°", [0, 0, 1],
                        "The camera moves forward, unit vector (+0.00, +0.00, +1.00).")
    lines += _pose_lines("B", [0, 0, 0], "Yaw=+0.0°, Pitch=+0.0°, Roll=+0.0°", [1, 0, 0],
                         "The camera moves right, forward, unit vector (+1.00, +0.00, +1.00).",
                         dist=(2.0, "far"))
    body, det = score.score_records(lines, "pose", seed=0, n_boot=100)
    m = body["metrics"]
    assert body["n"] == 8 and body["n_unparsed"] == 1 and m["n_pairs"] == 2
    assert np.allclose(det["pair_err"], [2.0, 45.0])
    assert m["auc30"] == pytest.approx(14 / 30) and m["auc5"] == pytest.approx(0.3)
    assert m["auc30_trapezoid"] == pytest.approx(14.5 / 30)
    assert m["rot_err_median"] == pytest.approx(1.0) and m["trans_err_median"] == pytest.approx(22.5)
    assert m["rotation_angle_err"] == pytest.approx(2.5) and m["distance_abs_rel"] == pytest.approx(0.5)
    # an unparsed euler answer fails its pair at every threshold
    lines[1] = dict(lines[1], prediction="turn a bit")
    body, det = score.score_records(lines, "pose", seed=0, n_boot=100)
    assert np.isnan(det["pair_err"][0]) and body["metrics"]["auc30"] == 0.0


@pytest.mark.shared_data
def test_pose_released_sample_scores_perfect():
    f = SHARED / "pose_labels.json"
    if not f.is_file():
        pytest.skip(f"reference data {f} not present (../shared/data is optional)")
    d = json.loads(f.read_text())
    g = d["ground_truth_pose"]
    unit = [float(v) for v in g["translation_unit_vector"].strip("()").split(",")]
    tgts = {"rotation_angle": {"kind": "rotation_angle", "value": g["rotation_angle_deg"]},
            "euler_natural": {"kind": "euler", "value": [g["yaw_deg"], g["pitch_deg"], g["roll_deg"]]},
            "translation_direction": {"kind": "direction", "value": unit},
            "translation_distance": {"kind": "distance", "value": g["translation_distance_m"]}}
    lines = [_line("s", t, qa["answer"], tgts[qa["question_id"]], qa["question"]) for t, qa in enumerate(d["qa_pairs"])]
    body, det = score.score_records(lines, "pose", seed=0, n_boot=20)
    assert body["n_unparsed"] == 0
    assert det["pair_err"][0] < 0.1  # answers are rounded to 0.1 degree / 0.01
    assert body["metrics"]["auc30"] == 1.0 and body["metrics"]["distance_abs_rel"] < 0.01


def test_bad_inputs(tmp_path):
    out = tmp_path / "out.json"
    with pytest.raises(ValueError, match="no such file"):
        score.score_file(tmp_path / "missing.jsonl", out, "depth")
    p = _write(tmp_path / "a.jsonl", [_line("a", 0, "3 m", {"kind": "point", "value": [1, 2]})])
    with pytest.raises(ValueError, match=r"a.jsonl:1: target kind 'point' is not a depth answer"):
        score.score_file(p, out, "depth")
    p = _write(tmp_path / "b.jsonl", [{"id": "a", "turn": 0, "target": {"kind": "depth", "value": 1}}])
    with pytest.raises(ValueError, match="b.jsonl:1: prediction line lacks 'prediction'"):
        score.score_file(p, out, "depth")
    line = _line("a", 0, "3 m", {"kind": "depth", "value": 1.0})
    p = _write(tmp_path / "c.jsonl", [line, line])
    with pytest.raises(ValueError, match="c.jsonl:2: duplicate question"):
        score.score_file(p, out, "depth")
    (tmp_path / "d.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no predictions"):
        score.score_file(tmp_path / "d.jsonl", out, "depth")
    (tmp_path / "e.jsonl").write_text("{oops\n")
    with pytest.raises(ValueError, match="e.jsonl:1: not valid JSON"):
        score.score_file(tmp_path / "e.jsonl", out, "depth")
    p = _write(tmp_path / "f.jsonl", [_line("a", 0, "3 m", {"kind": "depth"})])
    with pytest.raises(ValueError, match="lacks 'value'"):
        score.score_file(p, out, "depth")
    assert not out.exists() and not list(tmp_path.glob(".out.json*"))


def test_cli(tmp_path):
    p = _write(tmp_path / "x" / "depth" / "b.jsonl", [_line("a", 0, "3 m", {"kind": "depth", "value": 3.0})])
    score.main(["--pred", str(p), "--out", str(tmp_path / "o.json"), "--task", "depth", "--seed", "0",
                "--model", "named", "--n-boot", "10"])
    res = json.loads((tmp_path / "o.json").read_text())
    assert res["model"] == "named" and res["bench"] == "b" and res["metrics"]["delta1"] == 1.0
    assert list(res)[:9] == ["model", "task", "bench", "n", "n_unparsed", "n_missing", "metrics", "ci95", "parsed_only"]


def _qa_record(rid, targets):
    msgs = []
    for t in range(len(targets)):
        content = ([{"type": "image"}] if t == 0 else []) + [{"type": "text", "text": f"q{t}"}]
        msgs += [{"role": "user", "content": content}, {"role": "assistant", "content": "x"}]
    return {"id": rid, "images": ["a.png"], "messages": msgs, "meta": {"targets": targets}}


def test_missing_and_non_finite_count_as_wrong_both_conventions(tmp_path):
    """QA: 5 depth questions. Predictions: one right, one 2x off, one non-finite ('1e308 km' = inf m),
    one unparsable, one line missing (a file cut short)."""
    tg = [{"kind": "depth", "value": v} for v in (2.0, 4.0, 5.0, 8.0, 10.0)]
    qa = _write(tmp_path / "qa.jsonl", [_qa_record("r1", tg[:3]), _qa_record("r2", tg[3:])])
    preds = ["2 meters", "8 meters", "1e308 km", "no idea"]
    lines = [_line(rid, t, p, tg[i], f"q{t}") for i, (rid, t, p) in
             enumerate(zip(["r1", "r1", "r1", "r2"], [0, 1, 2, 0], preds))]
    pred = _write(tmp_path / "p" / "m" / "depth" / "b.jsonl", lines)
    out, qout = tmp_path / "m.json", tmp_path / "m.questions.jsonl"
    from vlm3.qa import leak
    man = tmp_path / "qa.manifest.json"
    leak.main(["manifest", "--qa", str(qa), "--out", str(man)])
    res = score.score_file(pred, out, "depth", n_boot=50, qa=qa, questions_out=qout, manifest=man)
    assert res["eval_manifest"] == {"path": str(man), "sha256": json.loads(man.read_text())["sha256"]}
    assert (res["n"], res["n_unparsed"], res["n_missing"]) == (5, 2, 1)
    assert res["metrics"]["delta1"] == 0.2 and res["metrics"]["abs_rel"] == 0.5   # strict: 1 of 5
    assert res["parsed_only"]["n"] == 2
    assert res["parsed_only"]["metrics"]["delta1"] == 0.5 and res["parsed_only"]["metrics"]["abs_rel"] == 0.5
    assert res["parsed_only"]["ci95"]["delta1"][0] >= 0.0 and res["parsed_only"]["ci95"]["delta1"][1] <= 1.0
    assert res["unparsed_examples"] == [{"id": "r1", "turn": 2, "prediction": "1e308 km"},
                                        {"id": "r2", "turn": 0, "prediction": "no idea"}]
    assert res["missing_examples"] == [{"id": "r2", "turn": 1, "prediction": None}]
    rows = [json.loads(x) for x in qout.read_text().splitlines()]
    assert [(r["id"], r["turn"], r["parsed"], r["correct"]) for r in rows] == [
        ("r1", 0, 2.0, True), ("r1", 1, 8.0, False), ("r1", 2, None, False), ("r2", 0, None, False),
        ("r2", 1, None, False)]
    assert [r["error"] for r in rows] == [0.0, 1.0, None, None, None] and rows[4]["prediction"] is None
    # without the QA file the cut-short file is scored over its 4 lines (the old, lossy behaviour)
    assert score.score_file(pred, out, "depth", n_boot=10)["n"] == 4
    # an empty predictions file against the QA: every question missing, all wrong
    empty = _write(tmp_path / "e.jsonl", [])
    res = score.score_file(empty, out, "depth", n_boot=10, qa=qa)
    assert (res["n"], res["n_missing"], res["metrics"]["delta1"], res["parsed_only"]["n"]) == (5, 5, 0.0, 0)
    assert res["parsed_only"]["metrics"]["delta1"] is None


def test_prediction_of_no_qa_question_is_an_error(tmp_path):
    tg = {"kind": "depth", "value": 2.0}
    qa = _write(tmp_path / "qa.jsonl", [_qa_record("r1", [tg])])
    pred = _write(tmp_path / "p.jsonl", [_line("r1", 0, "2 m", tg), _line("zz", 0, "2 m", tg)])
    with pytest.raises(ValueError, match=r"p.jsonl:2: question id='zz' turn=0 is not in the QA file"):
        score.score_file(pred, tmp_path / "m.json", "depth", qa=qa)
    pred = _write(tmp_path / "p.jsonl", [_line("r1", 0, "2 m", {"kind": "depth", "value": 3.0})])
    with pytest.raises(ValueError, match=r"p.jsonl:1: target of id='r1' turn=0 differs"):
        score.score_file(pred, tmp_path / "m.json", "depth", qa=qa)
    assert not (tmp_path / "m.json").exists()


def test_pose_parsed_only_drops_unparsed_pairs():
    good = _pose_lines("A", [10.0, 0.0, 0.0], T.euler_answer(10.0, 0.0, 0.0), [1.0, 0.0, 0.0],
                       T.direction_answer("x", np.array([1.0, 0.0, 0.0])))
    bad = _pose_lines("B", [10.0, 0.0, 0.0], "no idea", [1.0, 0.0, 0.0],
                      T.direction_answer("x", np.array([1.0, 0.0, 0.0])))
    body, det = score.score_records(good + bad, "pose", n_boot=10)
    assert body["metrics"]["auc30"] == pytest.approx(0.5 * body["parsed_only"]["metrics"]["auc30"])
    assert body["parsed_only"]["metrics"]["n_pairs"] == 1.0 and body["metrics"]["n_pairs"] == 2.0
    assert list(det["correct"]) == [None, True, True, None, None, False, False, None]


@pytest.mark.shared_data
def test_released_depth_and_object_answers_score_perfect():
    fd, fo = SHARED / "depth_labels.json", SHARED / "spatialrgpt_labels.json"
    if not (fd.is_file() and fo.is_file()):
        pytest.skip(f"reference data in {SHARED} not present (../shared/data is optional)")
    d = json.loads(fd.read_text())
    lines = [_line("d", t, T.depth_answer(s["depth_meters"]), {"kind": "depth", "value": s["depth_meters"]})
             for t, s in enumerate(d["samples"])]
    body, _ = score.score_records(lines, "depth", n_boot=20)
    assert body["n"] == 16 and body["metrics"]["delta1"] == 1.0 and body["metrics"]["abs_rel"] < 1e-3
    o = json.loads(fo.read_text())
    boxes = [b["bbox_normalized_1000"] for b in o["bboxes"]]
    tgt = {"kind": "yesno", "value": False, "category": o["qa_info"]["category"], "boxes": boxes}
    body, _ = score.score_records([_line("o", 0, o["answer"], tgt, o["prompt"])], "object", n_boot=20)
    assert body["n_unparsed"] == 0 and body["metrics"]["acc/small_predicate"] == 1.0


@settings(max_examples=40, deadline=None)
@given(yaw=st.floats(-179, 179), pitch=st.floats(-85, 85), roll=st.floats(-179, 179),
       t=st.tuples(*[st.floats(-1, 1)] * 3).filter(lambda v: np.linalg.norm(v) > 0.1))
def test_pose_round_trip_through_answer_text(yaw, pitch, roll, t):
    """Ground truth written with the answer templates scores as (almost) perfect: errors come
    only from the 0.1 degree / 0.01 rounding of the text."""
    u = np.asarray(t) / np.linalg.norm(t)
    lines = _pose_lines("A", [yaw, pitch, roll], T.euler_answer(yaw, pitch, roll), u.tolist(),
                        T.direction_answer("x", u))
    _, det = score.score_records(lines, "pose", n_boot=2)
    assert det["pair_err"][0] < 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.05, 200.0), min_size=1, max_size=20))
def test_depth_round_trip_through_answer_text(values):
    lines = [_line("a", i, T.depth_answer(v), {"kind": "depth", "value": v}) for i, v in enumerate(values)]
    body, _ = score.score_records(lines, "depth", n_boot=2)
    assert body["n_unparsed"] == 0 and body["metrics"]["delta1"] == 1.0
    assert body["metrics"]["abs_rel"] <= 0.005 / 0.05 + 1e-9
