"""SpatialRGPT-Bench metrics and the bootstrap CI."""

import numpy as np
import pytest

from vlm3.metrics import (
    abs_rel,
    accuracy,
    bootstrap_ci,
    clock_correct,
    clock_hour_error,
    delta1,
    spatial_abs_rel,
    spatial_quantitative_correct,
)

NAN = float("nan")


def test_quantitative_bounds_inclusive():
    gt = [4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    pred = [3.0, 5.0, 2.99, 5.01, NAN, 4.0]
    np.testing.assert_array_equal(spatial_quantitative_correct(pred, gt), [1, 1, 0, 0, 0, 1])
    assert spatial_abs_rel([3.0, NAN, 6.0], [4.0, 1.0, 4.0]) == pytest.approx((0.25 + 0.5) / 2)
    with pytest.raises(ValueError):
        spatial_quantitative_correct([1.0], [0.0])


def test_clock():
    np.testing.assert_array_equal(clock_hour_error([12, 1, 3, 11, 6], [1, 12, 1, 1, 12]), [1, 1, 2, 2, 6])
    np.testing.assert_array_equal(clock_correct([12, 0, 2, 4, NAN], [1, 11, 1, 1, 1]), [1, 1, 1, 0, 0])
    with pytest.raises(ValueError):
        clock_correct([13], [1])
    with pytest.raises(ValueError):
        clock_correct([1], [NAN])


def test_accuracy():
    assert accuracy([True, False, True, True]) == 0.75
    assert accuracy(np.array([1, 0])) == 0.5
    with pytest.raises(ValueError):
        accuracy([])
    with pytest.raises(ValueError):
        accuracy([0.5, 1])


def test_bootstrap_deterministic_and_sane():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 10, 200)
    pred = gt * rng.uniform(0.7, 1.4, 200)
    pred[::17] = NAN
    lo, hi = bootstrap_ci((pred, gt), delta1, n_boot=300, seed=5)
    assert (lo, hi) == bootstrap_ci((pred, gt), delta1, n_boot=300, seed=5)
    assert (lo, hi) != bootstrap_ci((pred, gt), delta1, n_boot=300, seed=6)
    assert lo < delta1(pred, gt) < hi and hi - lo < 0.2
    lo2, hi2 = bootstrap_ci((pred, gt), abs_rel, n_boot=300, seed=5)
    assert lo2 < abs_rel(pred, gt) < hi2


def test_bootstrap_hand():
    # a constant sample has a degenerate interval
    assert bootstrap_ci([3.0, 3.0, 3.0], np.mean, n_boot=50) == (3.0, 3.0)
    # two values: resample means lie in {0, 0.5, 1}; the 2.5/97.5 % quantiles of many resamples
    lo, hi = bootstrap_ci([0.0, 1.0], np.mean, n_boot=2000, seed=1)
    assert lo == 0.0 and hi == 1.0
    assert np.isnan(bootstrap_ci([NAN, NAN], np.mean, n_boot=10)).all()
    for bad in (dict(values=[]), dict(values=([1, 2], [1])), dict(n_boot=0), dict(alpha=1.5)):
        args = dict(values=[1.0, 2.0], stat_fn=np.mean)
        args.update(bad)
        with pytest.raises(ValueError):
            bootstrap_ci(**args)
