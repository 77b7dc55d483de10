"""benchmarks/offset_readout.py: the shift statistics of offset answers, by hand on three pairs."""

from __future__ import annotations

import importlib.util
import json

import pytest
from _tiny import ROOT

_spec = importlib.util.spec_from_file_location("offset_readout", ROOT / "benchmarks" / "offset_readout.py")
ro = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ro)


def _row(pair: str, turn: int, query, true_shift, answer: str) -> dict:
    value = [query[0] + true_shift[0], query[1] + true_shift[1]]
    return {"id": pair, "turn": turn, "question": "q", "prediction": answer,
            "target": {"kind": "offset", "value": value, "scale": 1000, "query": list(query)}}


ROWS = [  # pair a: true +100 / +100, pair b: -100 / -100, pair c: +40 / +60 (horizontal)
    _row("a", 0, (500, 500), (100, 0), "The point moves by (+050, +000)"),
    _row("a", 1, (200, 300), (100, 10), "The point moves by (+030, +010)"),
    _row("b", 0, (500, 500), (-100, 0), "The point moves by (-010, +000)"),
    _row("b", 1, (600, 100), (-100, -10), "The point moves by (+010, -010)"),
    _row("c", 0, (500, 500), (40, 0), "The point moves by (+020, +000)"),
    _row("c", 1, (500, 500), (60, 0), "The point moves by (+040, +000)"),
    _row("c", 2, (500, 500), (60, 0), "It is somewhere else"),  # unparsed: counted, left out
]


def test_readout_by_hand(tmp_path):
    res = ro.readout(ROWS)
    # parsed dx: pred [50, 30, -10, 10, 20, 40], true [100, 100, -100, -100, 40, 60]
    assert (res["questions"], res["unparsed"], res["pairs"]) == (7, 1, 3)
    # population std: sqrt(2333.3 / 6) = 19.7 and sqrt(43533.3 / 6) = 85.2
    assert (res["pred_dx_std"], res["true_dx_std"]) == (19.7, 85.2)
    # per pair mean dx: pred [40, 0, 30] = 0.2 x true [100, -100, 50] + 20 (corr 1); signs +,0,+ vs +,-,+
    assert (res["pair_mean_dx_corr"], res["pair_mean_dx_sign_agreement"]) == (1.0, 0.667)
    assert res["corr_dx"] == 0.880  # cov 1477.8 / (19.72 x 85.18)
    assert res["corr_dy"] == 1.0  # dy: pred [0, 10, 0, -10, 0, 0] equals the truth
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({**r, "task": "correspondence"}) + "\n" for r in ROWS))
    out = ro.main([str(path), "--out", str(tmp_path / "r.json")])
    assert json.loads((tmp_path / "r.json").read_text()) == out and out["pairs"] == 3


def test_readout_refuses_absolute_answers():
    bad = [{**ROWS[0], "target": {**ROWS[0]["target"], "kind": "point"}}]
    with pytest.raises(ValueError, match=r"a turn 0: target kind 'point', expected 'offset'"):
        ro.readout(bad)
