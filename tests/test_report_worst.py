"""Worst-cases figure: ranking (missing, unparsed, then largest error) and deterministic PNG bytes."""

from __future__ import annotations

import json

from vlm3.report import worst


def _rows(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _r(i, pred, parsed, err):
    return {"id": i, "turn": 0, "prediction": pred, "parsed": parsed, "target": {"kind": "depth", "value": 2.0},
            "correct": False, "error": err}


def test_worst_ranks_missing_unparsed_then_error(tmp_path):
    a = _rows(tmp_path / "m1" / "depth" / "b_test.questions.jsonl",
              [_r("ok", "2 m", 2.0, 0.0), _r("far", "9 m", 9.0, 3.5), _r("junk", "what", None, None)])
    b = _rows(tmp_path / "m2" / "depth" / "b_test.questions.jsonl",
              [_r("mid", "4 m", 4.0, 1.0), _r("gone", None, None, None)])
    rows = worst.worst([a, b], 4)
    assert [(r["model"], r["bench"], r["id"]) for r in rows] == [
        ("m2", "b_test", "gone"), ("m1", "b_test", "junk"), ("m1", "b_test", "far"), ("m2", "b_test", "mid")]
    out1, out2 = tmp_path / "w1.png", tmp_path / "w2.png"
    worst.main(["--questions", str(a), str(b), "--out", str(out1), "--n", "3"])
    worst.main(["--questions", str(a), str(b), "--out", str(out2), "--n", "3"])
    assert out1.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out1.read_bytes() == out2.read_bytes()
