"""The depth QA pixel draw: the per-row-count lookup gives exactly the pixels of the plain rule
(`rng.choice` over every candidate listed in row-major order)."""

import numpy as np
import pytest

from vlm3.qa.depth import sample_pixels


def _plain(depth, n, border, rng):
    h, w = depth.shape
    valid = depth > 0
    if border > 0:
        inner = np.zeros_like(valid)
        inner[border:h - border, border:w - border] = True
        valid &= inner
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    pick = idx[rng.choice(idx.size, size=min(n, idx.size), replace=False)]
    return np.stack([pick % w, pick // w], axis=1)


@pytest.mark.parametrize("seed", range(40))
def test_sample_pixels_equals_the_plain_rule(seed):
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    d = rng.uniform(-1, 3, (h, w)).astype(np.float32)
    d[rng.random((h, w)) < rng.random()] = 0
    d[rng.random((h, w)) < 0.05] = np.nan
    if seed % 9 == 0:
        d[:] = 0
    for border in (0, 1, 3, 10, 25):
        for n in (0, 1, 10, 64, 65, d.size):
            got = sample_pixels(d, n, border, np.random.default_rng(seed))
            want = _plain(d, n, border, np.random.default_rng(seed))
            assert got.dtype == np.int64 and got.shape == want.shape and got.tobytes() == want.tobytes()
    assert len(sample_pixels(d, 10, 0, rng)) == min(10, int((d > 0).sum()))
