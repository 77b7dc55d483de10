"""benchmarks/pose_probe.py's bilinear probe: it reads an angle difference from two images' features
(a bilinear function of them) and finds nothing in noise."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def probe():
    spec = importlib.util.spec_from_file_location("pose_probe", ROOT / "benchmarks" / "pose_probe.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.bilinear_probe


def _pairs(rng, n):
    """Two 'images' whose features are a heading's (cos, sin) plus fixed distractor dimensions; the
    target is the heading difference, sin(h2 - h1) = s2 c1 - c2 s1 (degrees for small turns)."""
    h1 = rng.uniform(-np.pi, np.pi, n)
    turn = np.radians(rng.uniform(-25, 25, n))
    f = np.zeros((n, 2, 6))
    for k, h in enumerate((h1, h1 + turn)):
        f[:, k, 0], f[:, k, 1] = np.cos(h), np.sin(h)
        f[:, k, 2:] = rng.normal(0, 0.01, (n, 4))
    return f, np.degrees(np.sin(turn))


def test_the_probe_reads_a_bilinear_angle_difference_and_not_noise(probe):
    rng = np.random.default_rng(0)
    (ftr, ytr), (fte, yte) = _pairs(rng, 400), _pairs(rng, 200)
    got = probe(ftr, ytr, fte, yte, dims=4, lam=1e-3)
    assert got["corr"] > 0.999 and got["median_abs_err_deg"] < 0.1
    assert got["constant_median_abs_err_deg"] == pytest.approx(float(np.median(np.abs(ytr.mean() - yte))))
    noise = probe(rng.normal(size=(400, 2, 6)), ytr, rng.normal(size=(200, 2, 6)), yte, dims=4, lam=1.0)
    assert abs(noise["corr"]) < 0.3 and noise["median_abs_err_deg"] > 0.8 * noise["constant_median_abs_err_deg"]
