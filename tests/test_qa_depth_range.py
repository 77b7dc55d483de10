"""Depth outside the valid range is never ground truth (issue 17, item 1).

QA makes depth outside a row's [depth_min, depth_max] invalid, counted and reported; the index
stage narrows each row's range to the registry's `depth_range`."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
from _qa_scene import POSES, make_resized, plane_depth

from vlm3.index import apply_depth_range
from vlm3.qa.build import build


def _targets(path):
    return [t for line in path.read_text().splitlines() for t in json.loads(line)["meta"]["targets"]]


def test_out_of_range_depth_becomes_invalid_pixels(tmp_path, caplog):
    d = plane_depth(POSES["v1"], "z")
    d[:12] *= np.float32(1e30)  # rows 0-11: 1e30 x the plane depth
    d[12, :4] = 0.5  # below depth_min = 1
    folder = make_resized(tmp_path, depth_override={"v1": d})
    out = tmp_path / "depth.jsonl"
    caplog.set_level(logging.WARNING)
    counts = build("depth", folder, out, questions_per_image=10_000, border=0)
    assert counts["depth_pixels_out_of_range"] == 12 * 32 + 4
    assert counts["images_with_depth_out_of_range"] == 1
    assert counts["depth"] == 3 * 32 * 24 - (12 * 32 + 4)
    values = [t["value"] for t in _targets(out)]
    assert 1.0 <= min(values) and max(values) <= 20.0
    assert caplog.messages == [f"image v1: 388 depth pixels outside the valid range [1, 20] m "
                               f"({folder / 'depth' / 'v1.npy'}) set invalid"]


def test_depth_inside_range_unchanged(tmp_path):
    folder = make_resized(tmp_path)
    out = tmp_path / "depth.jsonl"
    counts = build("depth", folder, out, questions_per_image=10_000, border=0)
    assert "depth_pixels_out_of_range" not in counts and counts["depth"] == 3 * 32 * 24
    got = {(t["pixel"][0], t["pixel"][1]): t["value"] for t in _targets(out)[: 32 * 24]}
    d = plane_depth(POSES["v1"], "z")
    assert all(got[(u, v)] == float(d[v, u]) for u, v in got)


def test_index_narrows_range_to_registry():
    images = pd.DataFrame({"image_id": ["a", "b", "c"], "depth_path": ["a.npy", None, "c.npy"],
                           "depth_min": [0.0, 0.0, float("nan")], "depth_max": [200.0, 200.0, 50.0]})
    out = apply_depth_range(images, (1.0, 80.0), "nuscenes index")
    assert out["depth_min"].tolist() == [1.0, 0.0, 1.0] and out["depth_max"].tolist() == [80.0, 200.0, 50.0]
    assert apply_depth_range(images, None, "x") is images
    with pytest.raises(ValueError) as e:
        apply_depth_range(images, (60.0, 80.0), "nuscenes index")
    assert str(e.value) == ("nuscenes index: image 'c': depth range [nan, 50.0] does not meet the "
                            "registry's depth_range [60.0, 80.0]")
