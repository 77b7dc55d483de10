"""unify_focal's per-camera caches and fast paths give the same pixels as the uncached path;
the hole search picks the nearest valid pixel of the footprint; one bilinear pass antialiases
at least as well as INTER_AREA for shrink factors >= BILINEAR_MIN_SCALE."""

import cv2
import numpy as np
import pytest

from vlm3.geometry import focal as focal_mod
from vlm3.geometry import make_K, plan_unify_focal, unified_to_source, unify_focal

DISTS = {
    "opencv": [-0.25, 0.06, 0.001, -0.001, 0.01],
    "fisheye": [0.03, -0.01, 0.002, -0.0005],
    "thin_prism_fisheye": [0.067, -0.074, -2.4e-4, 6.1e-4, 0.072, -0.018, 2.1e-4, -3.4e-4],
}


def _inputs(seed, W=150, H=110, frac=0.3):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    code = (1.0 + np.arange(W)[None, :] + W * np.arange(H)[:, None]).astype(np.float32)
    code[rng.random((H, W)) < frac] = 0.0
    code[rng.random((H, W)) < 0.02] = np.nan
    code[rng.random((H, W)) < 0.02] = np.inf
    code[rng.random((H, W)) < 0.02] = -1.0
    return img, code


@pytest.mark.parametrize("model", [None, "opencv", "fisheye", "thin_prism_fisheye"])
@pytest.mark.parametrize("ratio", [0.3, 0.6, 0.8, 1.0, 1.4])
def test_cached_equals_uncached_and_fallback_search(model, ratio, monkeypatch):
    img, dep = _inputs(7)
    K = make_K(140.0, 140.0 if model else 146.0, 74.0, 55.5)
    dist = None if model is None else (model, DISTS[model])
    target = 140.0 * ratio
    focal_mod._tables_cached.cache_clear()
    focal_mod._tables_with_order.cache_clear()
    focal_mod._seen.clear()
    a = unify_focal(img, K, target, dist, dep)  # first image of the camera: full hole search
    b = unify_focal(img, K, target, dist, dep)  # second: cached tables + candidate order
    assert focal_mod._tables_cached.cache_info().hits >= 1
    t = focal_mod._tables_with_order(focal_mod._camera_key(K, 150, 110, target, dist))
    assert (t.order is not None) == t.search
    c = unify_focal(img, K, target, dist, dep, cache=False)
    focal_mod._tables_with_order.cache_clear()
    monkeypatch.setattr(focal_mod, "_ORDER_MAX_BYTES", 0)  # candidate table too big: full search
    d = unify_focal(img, K, target, dist, dep)
    for x in (b, c, d):
        assert x[0].tobytes() == a[0].tobytes() and x[2].tobytes() == a[2].tobytes()
        np.testing.assert_array_equal(x[1], a[1])
    assert a[2].dtype == np.float32 and np.isfinite(a[2]).all() and (a[2] >= 0).all()
    assert 0.05 < (a[2] > 0).mean() <= 1.0


def test_cache_does_not_leak_mutations():
    K = make_K(100.0, 100.0, 49.5, 39.5)
    plan = plan_unify_focal(K, 100, 80, 60.0, ("opencv", DISTS["opencv"]))
    assert plan is plan_unify_focal(K.copy(), 100, 80, 60.0, ("opencv", list(DISTS["opencv"])))
    with pytest.raises(ValueError):
        plan.K_new[0, 0] = 5.0  # read-only
    _, K1, _ = unify_focal(np.zeros((80, 100), np.uint8), K, 60.0, ("opencv", DISTS["opencv"]))
    K1[0, 0] = 1.0  # the returned K is a copy
    assert plan.K_new[0, 0] == 60.0
    dep = np.full((80, 100), 2.0, np.float32)
    _, _, d = unify_focal(np.zeros((80, 100), np.uint8), K, 60.0, None, dep)
    d[:] = 0
    assert (dep == 2.0).all()
    _, _, d2 = unify_focal(np.zeros((80, 100), np.uint8), K, 100.0, None, dep)  # identity size
    assert d2 is not dep and (d2 == 2.0).all()


@pytest.mark.parametrize("model,ratio", [("opencv", 0.55), ("opencv", 0.8), ("fisheye", 0.4),
                                         ("thin_prism_fisheye", 0.7)])
def test_distorted_hole_fill_is_nearest_valid_in_footprint(model, ratio):
    """With distortion the depth is sampled in one step at the exact composed source position;
    a hole takes the valid source pixel nearest to that position within +-0.5 / s0 (the footprint
    of the pre-shrink), else 0."""
    img, dep = _inputs(11, frac=0.5)
    W, H = 150, 110
    K = make_K(140.0, 140.0, 74.0, 55.5)
    plan = plan_unify_focal(K, W, H, 140.0 * ratio, (model, DISTS[model]))
    _, _, o = unify_focal(img, K, 140.0 * ratio, (model, DISTS[model]), dep)
    vv, uu = np.mgrid[0 : o.shape[0], 0 : o.shape[1]]
    src = unified_to_source(np.c_[uu.ravel(), vv.ravel()], plan)
    valid = (dep > 0) & np.isfinite(dep)
    rx, ry = 0.5 / plan.s0x, 0.5 / plan.s0y
    n_filled = 0
    for k, (cx, cy) in enumerate(src):
        got = o.ravel()[k]
        nx, ny = int(np.floor(cx + 0.5)), int(np.floor(cy + 0.5))
        near = dep[min(max(ny, 0), H - 1), min(max(nx, 0), W - 1)]
        if valid[min(max(ny, 0), H - 1), min(max(nx, 0), W - 1)]:
            # the maps are float32: allow the other pixel when the position is within 1e-3 of a tie
            if got != near:
                gi = int(got) - 1
                assert abs(abs(gi % W - cx) - 0.5) < 1e-3 or abs(abs(gi // W - cy) - 0.5) < 1e-3
            continue
        x0, x1 = int(np.ceil(cx - rx)), int(np.floor(cx + rx))
        y0, y1 = int(np.ceil(cy - ry)), int(np.floor(cy + ry))
        ys, xs = np.mgrid[max(y0, 0) : min(y1, H - 1) + 1, max(x0, 0) : min(x1, W - 1) + 1]
        ok = valid[ys, xs]
        if not ok.any():
            assert got == 0 or abs(np.abs(np.array([cx, cy])) % 1 - 0.5).min() < 1e-3
            continue
        d2 = (xs[ok] - cx) ** 2 + (ys[ok] - cy) ** 2
        gi = int(got) - 1
        assert got > 0, (k, cx, cy)
        assert (gi % W - cx) ** 2 + (gi // W - cy) ** 2 <= d2.min() + 1e-3
        n_filled += 1
    assert n_filled > 50


def test_antialias_tap_hand_values():
    assert focal_mod.antialias_tap(1.0) == 0.0 and focal_mod.antialias_tap(1.3) == 0.0
    assert focal_mod.antialias_tap(0.5) == 0.25
    # response check of the chosen tap: prefilter x bilinear <= INTER_AREA over the aliasing band
    for s in (0.55, 0.7, 0.79, 0.95):
        a = focal_mod.antialias_tap(s)
        f = np.linspace(s / 2, 0.5, 501)
        assert 0 < a <= 0.25
        assert np.all(np.abs(1 - 4 * a * np.sin(np.pi * f) ** 2) * np.sinc(f) ** 2
                      <= np.sinc(f) * np.abs(np.sinc(f / s)) + 1e-9)
    with pytest.raises(ValueError):
        focal_mod.antialias_tap(0.4)


@pytest.mark.parametrize("s", [0.55, 0.76, 0.79, 0.9])
@pytest.mark.parametrize("frac", [0.2, 0.6, 0.95])
def test_shrink_aliases_no_more_than_inter_area(s, frac):
    """A grating above the output's Nyquist frequency (s / 2 cycles / source px) must be
    suppressed: prefilter + bilinear leaves no more of it than an exact INTER_AREA resize."""
    f = s / 2 + frac * (0.5 - s / 2)  # cycles / source px, in the aliasing band
    W, H = 400, 40
    x = np.arange(W)
    img = np.repeat((128 + 100 * np.cos(2 * np.pi * f * x))[None, :], H, 0).astype(np.float32)
    K = make_K(400.0, 400.0, 199.5, 19.5)
    out, _, _ = unify_focal(img, K, 400.0 * s)
    area = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)[: out.shape[0], : out.shape[1]]
    amp = lambda a: float(a[5:-5, 5:-5].std())  # noqa: E731
    assert amp(out) <= amp(area) * 1.02 + 0.05, (amp(out), amp(area))
    # the distorted path (prefilter + one fused remap; here a negligible distortion) as well
    outd, _, _ = unify_focal(img, K, 400.0 * s, ("opencv", [1e-7, 0, 0, 0]))
    assert amp(outd) <= amp(area) * 1.02 + 0.05, (amp(outd), amp(area))


def test_shrink_keeps_low_frequencies_like_inter_area():
    """In the pass band the prefiltered bilinear shrink is within a few % of INTER_AREA."""
    W, H, s, f = 400, 40, 0.79, 0.1
    x = np.arange(W)
    img = np.repeat((128 + 100 * np.cos(2 * np.pi * f * x))[None, :], H, 0).astype(np.float32)
    out, _, _ = unify_focal(img, make_K(400.0, 400.0, 199.5, 19.5), 400.0 * s)
    area = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)[: out.shape[0], : out.shape[1]]
    a, b = out[5:-5, 5:-5].std(), area[5:-5, 5:-5].std()
    assert 0.95 * b <= a <= b


def _clear_caches():
    for c in (focal_mod._plan_cached, focal_mod._tables_cached, focal_mod._tables_with_order):
        c.cache_clear()
    focal_mod._seen.clear()


@pytest.mark.parametrize("model,ratio", [("opencv", 0.8), ("fisheye", 0.6), ("opencv", 1.0)])
def test_depth_rule_by_brute_force_with_pixels_outside_the_source(model, ratio, monkeypatch):
    """Every output depth pixel, by brute force over the tables' exact sample positions: 0 when
    the position lies more than half a pixel outside the source; else the nearest pixel when
    valid; else the valid pixel of the footprint nearest to the position (ties: first in
    row-major (dy, dx) order), else 0. A 2-point border estimate makes the undistorted rectangle
    overshoot the source so that `outside` pixels exist; cached, uncached and full-search paths
    must give the same bytes."""
    monkeypatch.setattr(focal_mod, "_BORDER_SAMPLES", 2)
    _clear_caches()
    try:
        img, dep = _inputs(5, frac=0.4)
        K, dist, target = make_K(140.0, 140.0, 74.0, 55.5), (model, DISTS[model]), 140.0 * ratio
        outs = [unify_focal(img, K, target, dist, dep)[2] for _ in range(2)]  # 2nd: candidate order
        outs.append(unify_focal(img, K, target, dist, dep, cache=False)[2])
        t = focal_mod._tables(focal_mod._camera_key(K, 150, 110, target, dist), cache=True)
        assert t.outside.size > 50 and (t.order is not None) == t.search
    finally:
        _clear_caches()
    H, W = dep.shape
    valid = (dep > 0) & (dep < np.inf)
    kx, ky = int(np.floor(t.rx + 0.5)), int(np.floor(t.ry + 0.5))
    want = np.zeros(t.fx.size, np.float32)
    for k, (cx, cy) in enumerate(zip(t.fx.ravel().astype(np.float64), t.fy.ravel().astype(np.float64))):
        nx, ny = np.floor(cx + 0.5), np.floor(cy + 0.5)
        if not (-1 <= nx <= W and -1 <= ny <= H):
            continue
        nx, ny = int(min(max(nx, 0), W - 1)), int(min(max(ny, 0), H - 1))
        if valid[ny, nx]:
            want[k] = dep[ny, nx]
            continue
        best = None
        for dy in range(-ky, ky + 1):
            for dx in range(-kx, kx + 1):
                qx, qy = nx + dx, ny + dy
                if (0 <= qx < W and 0 <= qy < H and valid[qy, qx] and abs(qx - cx) <= t.rx
                        and abs(qy - cy) <= t.ry):
                    d2 = (qx - cx) ** 2 + (qy - cy) ** 2
                    if best is None or d2 < best[0]:
                        best = (d2, dep[qy, qx])
        want[k] = 0 if best is None else best[1]
    assert (want[t.outside] == 0).all() and (want > 0).mean() > 0.3
    for o in outs:
        assert o.ravel().tobytes() == want.tobytes()
