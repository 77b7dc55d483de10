"""benchmarks/pair_readout.py: the shift statistics of offset answers and the yaw / lateral statistics of
pose answers, by hand."""

from __future__ import annotations

import importlib.util
import json

import pytest
from _tiny import ROOT

_spec = importlib.util.spec_from_file_location("pair_readout", ROOT / "benchmarks" / "pair_readout.py")
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
    assert (res["task"], res["questions"], res["unparsed"], res["pairs"]) == ("correspondence", 7, 1, 3)
    # population std: sqrt(2333.3 / 6) = 19.7 and sqrt(43533.3 / 6) = 85.2
    assert (res["pred_dx_std"], res["true_dx_std"]) == (19.7, 85.2)
    # per pair mean dx: pred [40, 0, 30] = 0.2 x true [100, -100, 50] + 20 (corr 1); signs +,0,+ vs +,-,+
    assert (res["pair_mean_dx_corr"], res["pair_mean_dx_sign_agreement"]) == (1.0, 0.667)
    assert res["corr_dx"] == 0.880  # cov 1477.8 / (19.72 x 85.18)
    assert res["corr_dy"] == 1.0  # dy: pred [0, 10, 0, -10, 0, 0] equals the truth
    # PCK@5 % over all 7 rows: only c's two parsed answers are within 50 (errors 20, 20; a's 50 is not < 50)
    assert res["pck5"] == 0.2857
    # zero motion: only (40, 0) is within 50; each pair's mean shift, (100, 5) (-100, -5) (53.3, 0), hits all
    ceil = res["pck5_ceilings"]
    assert (ceil["zero_motion"], ceil["pair_mean_shift"], ceil["pair_mean_dx"]) == (0.1429, 1.0, 1.0)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({**r, "task": "correspondence"}) + "\n" for r in ROWS))
    out = ro.main([str(path), "--out", str(tmp_path / "r.json")])
    assert json.loads((tmp_path / "r.json").read_text()) == out and out["pairs"] == 3


def test_readout_refuses_absolute_answers():
    bad = [{**ROWS[0], "target": {**ROWS[0]["target"], "kind": "point"}}]
    with pytest.raises(ValueError, match=r"a turn 0: target kind 'point', expected 'offset'"):
        ro.readout(bad)


def _pose(pair: str, yaw_true: float, yaw_answer: str, x_true: float, dir_answer: str) -> list[dict]:
    return [{"id": pair, "turn": 1, "question": "q", "prediction": yaw_answer,
             "target": {"kind": "euler", "value": [yaw_true, 0.0, 0.0]}},
            {"id": pair, "turn": 2, "question": "q", "prediction": dir_answer,
             "target": {"kind": "direction", "value": [x_true, 0.0, (1 - x_true ** 2) ** 0.5], "words": "w"}},
            {"id": pair, "turn": 3, "question": "q", "prediction": "Translation distance: 00.30 meters",
             "target": {"kind": "distance", "value": 0.3}}]


def test_pose_readout_by_hand():
    rows = [*_pose("a", -20.0, "Yaw=-10.0\u00b0, Pitch=+0.0\u00b0, Roll=+0.0\u00b0", 0.8,
                   "The camera moves right, unit vector (+0.80, +0.00, +0.60)."),
            *_pose("b", 10.0, "Yaw=+5.0\u00b0, Pitch=+0.0\u00b0, Roll=+0.0\u00b0", -0.6,
                   "The camera moves right, unit vector (+0.60, +0.00, +0.80)."),
            *_pose("c", 30.0, "Yaw=-5.0\u00b0, Pitch=+0.0\u00b0, Roll=+0.0\u00b0", -0.8,
                   "The camera moves left, unit vector (-0.80, +0.00, +0.60)."),
            *_pose("d", 0.0, "no idea", 0.6, "The camera moves right, unit vector (+0.60, +0.00, +0.80).")]
    res = ro.readout(rows)
    # yaw pred [-10, 5, -5] vs true [-20, 10, 30]: signs 2 of 3; lateral pred [+.8, +.6, -.8, +.6] vs
    # true [+.8, -.6, -.8, +.6]: 3 of 4, 3 of 4 predicted right, 2 of 4 truly right
    assert (res["task"], res["questions"], res["unparsed_yaw_or_direction"]) == ("pose", 12, 1)
    assert (res["yaw_sign_agreement"], res["lateral_sign_agreement"]) == (0.667, 0.75)
    assert (res["pred_lateral_right_share"], res["true_lateral_right_share"]) == (0.75, 0.5)
    assert (res["pred_yaw_std"], res["true_yaw_std"]) == (6.2, 20.5)  # population std
    assert res["corr_yaw"] == 0.434  # cov 55.56 / (6.24 x 20.55)


def test_pck5_ceilings_by_hand():
    import numpy as np

    true = np.array([[100.0, 0.0], [100.0, 0.0], [0.0, 120.0], [0.0, 120.0]])
    res = ro.pck5_ceilings(true, ["a", "a", "d", "d"], reads=(1.0, 0.0))
    # zero motion misses by 100 and 120; the pair means are exact; the pair's dx with the mean dy (60)
    # misses both pairs by 60; a perfect read (c = 1) is that ceiling, no read (c = 0: the mean dx, 50) misses
    assert (res["zero_motion"], res["pair_mean_shift"], res["pair_mean_dx"]) == (0.0, 1.0, 0.0)
    assert res["linear_read"] == {"1.0": 0.0, "0.0": 0.0}
    res = ro.pck5_ceilings(true[:, ::-1].copy(), ["a", "a", "d", "d"], reads=(1.0,))
    # transposed: dy 0 or 100 (mean 50) -> dx exact, dy off by 50: not < 50
    assert (res["pair_mean_dx"], res["linear_read"]) == (0.0, {"1.0": 0.0})


@pytest.mark.parametrize("c", [0.5, 0.72, 0.9])
def test_calibrated_read_has_the_asked_correlation_and_slope_one(c):
    import numpy as np

    x = np.random.default_rng(1).normal(30.0, 200.0, 200_000)
    read = ro.calibrated_read(x, c, np.random.default_rng(2))
    assert abs(np.corrcoef(read, x)[0, 1] - c) < 0.005
    assert abs(np.polyfit(read, x, 1)[0] - 1.0) < 0.01  # the truth regressed on the read: slope 1
    assert abs(read.std() - c * x.std()) < 0.01 * x.std() and abs(read.mean() - x.mean()) < 2.0
