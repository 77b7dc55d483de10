"""Depth metrics with hand-computed values and the unparsed-answer policy."""

import numpy as np
import pytest

from vlm3.metrics import abs_rel, delta1, delta2, delta3, n_unparsed, rmse

NAN = float("nan")


def test_delta_thresholds_strict():
    gt = [1.0, 1.0, 1.0, 1.0, 2.0]
    pred = [1.0, 1.25, 1.2, 0.7, 2.6]  # ratios 1, 1.25, 1.2, 1/0.7 = 1.4286, 1.3
    assert delta1(pred, gt) == pytest.approx(2 / 5)  # 1.25 itself is not < 1.25
    assert delta2(pred, gt) == pytest.approx(5 / 5)  # all < 1.5625
    assert delta3([1.953125, 1.0], [1.0, 1.0]) == 0.5  # 1.25^3 exactly is not < 1.25^3
    assert delta2([1.5625, 1.0], [1.0, 1.0]) == 0.5


def test_unparsed_policy():
    gt = [2.0, 4.0, 1.0, 5.0]
    pred = [2.2, NAN, 1.0, -3.0]
    # delta1: NaN and a negative prediction fail; denominator 4
    assert delta1(pred, gt) == 0.5
    # abs_rel / rmse over the 3 parsed values: |0.2|/2, 0, |-8|/5
    assert abs_rel(pred, gt) == pytest.approx((0.1 + 0.0 + 1.6) / 3)
    assert rmse(pred, gt) == pytest.approx(np.sqrt((0.04 + 0.0 + 64.0) / 3))
    assert n_unparsed(pred) == 1
    assert np.isnan(abs_rel([NAN, NAN], [1.0, 2.0])) and np.isnan(rmse([NAN], [1.0]))
    assert delta1([NAN, NAN], [1.0, 2.0]) == 0.0
    assert delta1([0.0, np.inf], [1.0, 2.0]) == 0.0


def test_accepts_array_likes():
    assert delta1(np.array([[1.0, 2.0]]), (1.0, 2.0)) == 1.0
    assert abs_rel([3], [2]) == 0.5


@pytest.mark.parametrize(
    "pred,gt",
    [([1.0], [0.0]), ([1.0], [-1.0]), ([1.0], [NAN]), ([1.0, 2.0], [1.0]), ([], []), ([1.0], [np.inf])],
)
def test_bad_gt_raises(pred, gt):
    for fn in (delta1, abs_rel, rmse):
        with pytest.raises(ValueError):
            fn(pred, gt)
