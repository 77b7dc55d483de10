"""The calibrate stage end to end on a tiny index written here, the cache, and the report."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from _manhattan import render_room, rot

from vlm3.calibrate import report as report_mod
from vlm3.calibrate.__main__ import main
from vlm3.calibrate.report import focal_report
from vlm3.datasets import INDEX_COLUMNS
from vlm3.io.image import write_png


def _row(iid, path, w, h, fx=np.nan):
    return {"image_id": iid, "scene_id": "s0", "image_path": str(path), "width": w, "height": h,
            "fx": fx, "fy": fx, "cx": (w - 1) / 2 if np.isfinite(fx) else np.nan,
            "cy": (h - 1) / 2 if np.isfinite(fx) else np.nan, "dist_model": "none", "dist_params": [],
            "depth_path": None, "depth_format": None, "depth_kind": None, "depth_min": np.nan,
            "depth_max": np.nan, "cam_to_world": None, "objects": "[]"}


@pytest.fixture
def index(tmp_path):
    K = np.array([[400, 0, 159.5], [0, 400, 119.5], [0, 0, 1.0]])
    write_png(tmp_path / "room.png", render_room(K, rot(30, -20), np.zeros(3), 320, 240))
    write_png(tmp_path / "known.png", np.zeros((240, 320, 3), np.uint8))
    write_png(tmp_path / "blank.png", np.full((240, 320, 3), 128, np.uint8))
    rows = [_row("known", tmp_path / "known.png", 320, 240, fx=350.0),
            _row("room", tmp_path / "room.png", 320, 240)]
    df = pd.DataFrame(rows)[INDEX_COLUMNS]
    df.to_parquet(tmp_path / "index.parquet", index=False)
    bad = pd.DataFrame(rows + [_row("blank", tmp_path / "blank.png", 320, 240)])[INDEX_COLUMNS]
    bad.to_parquet(tmp_path / "bad.parquet", index=False)
    return tmp_path


def test_cli_sources_and_determinism(index):
    t = index
    args = ["--index", str(t / "index.parquet"), "--providers", "metadata,vanishing",
            "--cache", str(t / "cache"), "--seed", "0"]
    main(args + ["--out", str(t / "a.parquet")])
    out = pd.read_parquet(t / "a.parquet")
    assert list(out.columns) == INDEX_COLUMNS + ["source"]
    assert out["source"].tolist() == ["metadata", "vanishing"]
    assert out.loc[0, "fx"] == 350.0
    assert abs(out.loc[1, "fx"] / 400 - 1) < 0.03 and out.loc[1, "cx"] == 159.5  # measured 1.4 %
    assert np.isfinite(out[["fx", "fy", "cx", "cy"]].to_numpy()).all()
    # second run: served from the cache (one JSON entry), byte-identical output
    assert len(list((t / "cache").rglob("*.json"))) == 1
    main(args + ["--out", str(t / "b.parquet")])
    assert (t / "a.parquet").read_bytes() == (t / "b.parquet").read_bytes()


def test_cache_is_used(index, monkeypatch):
    t = index
    args = ["--index", str(t / "index.parquet"), "--providers", "metadata,vanishing",
            "--cache", str(t / "cache")]
    main(args + ["--out", str(t / "a.parquet")])
    from vlm3.calibrate import vanishing

    def boom(*a, **k):
        raise AssertionError("vanishing ran although its result was cached")
    monkeypatch.setattr(vanishing.VanishingCalibrator, "estimate", boom)
    main(args + ["--out", str(t / "b.parquet")])
    # a changed image (new bytes) misses the cache
    write_png(t / "room.png", np.zeros((240, 320, 3), np.uint8))
    with pytest.raises(AssertionError, match="vanishing ran"):
        main(args + ["--out", str(t / "c.parquet")])


def test_uncalibratable_names_image_and_writes_nothing(index):
    t = index
    with pytest.raises(ValueError, match=r"could calibrate image 'blank' \(.*blank\.png\)"):
        main(["--index", str(t / "bad.parquet"), "--out", str(t / "x.parquet"),
              "--providers", "metadata,vanishing"])
    assert not (t / "x.parquet").exists()
    assert not list(t.glob(".x.parquet*"))


def test_fallback_fov(index):
    t = index
    main(["--index", str(t / "bad.parquet"), "--out", str(t / "x.parquet"),
          "--providers", "metadata,vanishing", "--fallback-fov", "60"])
    out = pd.read_parquet(t / "x.parquet")
    assert out["source"].tolist() == ["metadata", "vanishing", "prior"]
    assert out.loc[2, "fx"] == pytest.approx(160 * math.sqrt(3))


def test_unknown_provider(index):
    with pytest.raises(ValueError, match="unknown calibration provider 'magic'"):
        main(["--index", str(index / "index.parquet"), "--out", str(index / "x.parquet"),
              "--providers", "metadata,magic"])


def test_report_exact(tmp_path):
    calib = pd.DataFrame({"image_id": ["a", "b", "c", "d"], "fx": [110.0, 100.0, 85.0, 500.0],
                          "fy": [110.0, 100.0, 85.0, 500.0],
                          "source": ["vanishing", "vanishing", "prior", "metadata"]})
    truth = {"a": {"fx": 100.0, "fy": 100.0}, "b": {"fx": 100.0, "fy": 100.0}, "c": {"fx": 100.0, "fy": 50.0}}
    rep = focal_report(calib, truth)
    assert rep["n"] == 3
    assert rep["median_abs_rel"] == pytest.approx(0.10)
    assert rep["mean_abs_rel"] == pytest.approx((0.1 + 0 + 0.15) / 3)
    assert rep["within_10pct"] == pytest.approx(2 / 3)  # 0.10 counts as within 10 %
    assert rep["within_20pct"] == 1.0
    assert rep["fy"]["median_abs_rel"] == pytest.approx(0.1) and rep["fy"]["mean_abs_rel"] == pytest.approx(0.8 / 3)
    assert rep["by_source"]["vanishing"]["n"] == 2 and rep["by_source"]["prior"]["median_abs_rel"] == pytest.approx(0.15)
    with pytest.raises(ValueError, match=r"images \['zz'\]"):
        focal_report(calib, {"zz": {"fx": 1.0, "fy": 1.0}})
    calib.to_parquet(tmp_path / "c.parquet")
    (tmp_path / "t.json").write_text(json.dumps(truth))
    report_mod.main(["--calib", str(tmp_path / "c.parquet"), "--truth", str(tmp_path / "t.json"),
                     "--out", str(tmp_path / "r.json")])
    assert json.loads((tmp_path / "r.json").read_text())["n"] == 3
    with pytest.raises(ValueError, match="--truth .*nope.json: file not found"):
        report_mod.main(["--calib", str(tmp_path / "c.parquet"), "--truth", str(tmp_path / "nope.json"),
                         "--out", str(tmp_path / "r.json")])
