"""Figures: exact plot data, PNGs written deterministically, skipped inputs, and only the files
given are read (a stale prediction file beside them never reaches a figure)."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from vlm3.qa import templates as T
from vlm3.report import figures


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _fixture(tmp_path):
    pred = tmp_path / "predictions"
    for model, scale in (("tiny", 1.1), ("median", 2.0)):
        _write(pred / model / "depth" / "synthetic_test.jsonl",
               [{"id": "a", "turn": t, "question": "q", "prediction": f"{g * scale:.2f} meters",
                 "target": {"kind": "depth", "value": g}} for t, g in enumerate([1.0, 2.0, 4.0])]
               + [{"id": "a", "turn": 3, "question": "q", "prediction": "?", "target": {"kind": "depth", "value": 3.0}}])
    pose = []
    for i, yaw in enumerate([2.0, 40.0]):
        pose += [{"id": f"p{i}", "turn": 0, "question": "q", "prediction": f"Yaw={yaw:+.1f}°, Pitch=+0.0°, Roll=+0.0°",
                  "target": {"kind": "euler", "value": [0.0, 0.0, 0.0]}},
                 {"id": f"p{i}", "turn": 1, "question": "q", "prediction": "unit vector (+0.00, +0.00, +1.00)",
                  "target": {"kind": "direction", "value": [0.0, 0.0, 1.0]}}]
    _write(pred / "tiny" / "pose" / "synthetic_test.jsonl", pose)
    # correspondence with real image files
    imgs = []
    for k in range(2):
        p = tmp_path / "img" / f"v{k}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), np.full((40, 60, 3), 60 * k, np.uint8))
        imgs.append(str(p))
    tg = {"kind": "point", "value": [500, 500], "query": [250, 250]}
    qa = T.make_record("pair0", "correspondence", "synthetic", "test", imgs,
                       [(T.correspondence_question(250, 250), T.correspondence_answer(500, 500))], [tg])
    _write(tmp_path / "qa" / "correspondence" / "synthetic" / "test.jsonl", [qa])
    _write(pred / "tiny" / "correspondence" / "synthetic_test.jsonl",
           [{"id": "pair0", "turn": 0, "question": "q", "prediction": "(510, 490)", "target": tg}])
    ck = tmp_path / "checkpoints" / "tiny-depth"
    ck.mkdir(parents=True)
    (ck / "loss.csv").write_text("step,loss,lr\n1,2.0,0.001\n2,1.5,0.001\n3,1.0,0.0005\n")
    return pred


def _files(root):
    return sorted(root.rglob("*.jsonl"))


def test_plot_data(tmp_path):
    pred = _fixture(tmp_path)
    gt, p = figures.depth_points(pred / "median" / "depth" / "synthetic_test.jsonl")
    assert gt.tolist() == [1.0, 2.0, 4.0] and p.tolist() == [2.0, 4.0, 8.0]
    err = figures.pose_errors(pred / "tiny" / "pose" / "synthetic_test.jsonl")
    assert np.allclose(err, [2.0, 40.0])
    x, y = figures.error_cdf(np.array([2.0, np.nan, 40.0, 10.0]), max_deg=90)
    assert x.tolist() == [0.0, 2.0, 10.0, 40.0, 90.0] and y.tolist() == [0.0, 0.25, 0.5, 0.75, 0.75]


def test_write_figures_deterministic(tmp_path):
    pred = _fixture(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models:\n  tiny: {kind: run, label: Tiny}\n")
    kw = dict(qa=_files(tmp_path / "qa"), checkpoints=[tmp_path / "checkpoints" / "tiny-depth"], config=cfg)
    a = figures.write_figures(_files(pred), tmp_path / "a", **kw)
    b = figures.write_figures(_files(pred), tmp_path / "b", **kw)
    names = sorted(p.name for p in a)
    assert names == ["correspondence_tiny.png", "depth_scatter.png", "loss.png", "pose_cdf.png"]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
        assert Image.open(pa).format == "PNG"
    assert Image.open(tmp_path / "a" / "depth_scatter.png").size == (640, 340)  # 2 models x 3.2 in x 100 dpi


def test_missing_inputs(tmp_path):
    assert figures.write_figures([], tmp_path / "o") == []
    with pytest.raises(ValueError, match=r"--predictions .*nope.jsonl: no such file"):
        figures.write_figures([tmp_path / "nope.jsonl"], tmp_path / "o")
    pred = _fixture(tmp_path)
    with pytest.raises(ValueError, match=r"--checkpoints .*tiny-pose/loss.csv: no such file"):
        figures.write_figures(_files(pred), tmp_path / "o", checkpoints=[tmp_path / "checkpoints" / "tiny-pose"])
    (tmp_path / "checkpoints" / "tiny-depth" / "loss.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="loss.csv needs columns step, loss"):
        figures.write_figures(_files(pred), tmp_path / "o", checkpoints=[tmp_path / "checkpoints" / "tiny-depth"])
    # correspondence without its benchmark's QA file among --qa is skipped, not fatal
    out = figures.write_figures(_files(pred), tmp_path / "o2", qa=[])
    assert sorted(p.name for p in out) == ["depth_scatter.png", "pose_cdf.png"]


def test_cli(tmp_path):
    pred = _fixture(tmp_path)
    figures.main(["--predictions", *map(str, _files(pred)), "--out", str(tmp_path / "f"), "--checkpoints",
                  str(tmp_path / "checkpoints" / "tiny-depth")])
    assert (tmp_path / "f" / "loss.png").is_file() and not (tmp_path / "f" / "correspondence_tiny.png").exists()


def test_stale_files_beside_the_inputs_are_not_read(tmp_path):
    """A prediction file of a model an earlier config had ('old'), a stale QA file and a stale
    run's checkpoint lie in the same folders: the figures are those of the given files alone."""
    pred = _fixture(tmp_path)
    given = dict(predictions=_files(pred), qa=_files(tmp_path / "qa"),
                 checkpoints=[tmp_path / "checkpoints" / "tiny-depth"])
    clean = figures.write_figures(out=tmp_path / "clean", **given)
    for task in ("depth", "pose", "correspondence"):
        src = pred / "tiny" / task / "synthetic_test.jsonl"
        (pred / "old" / task).mkdir(parents=True)
        (pred / "old" / task / "synthetic_test.jsonl").write_bytes(src.read_bytes())
        (pred / "tiny" / task / "synthetic_val.jsonl").write_bytes(src.read_bytes())
    stale_ck = tmp_path / "checkpoints" / "old-depth"
    stale_ck.mkdir()
    (stale_ck / "loss.csv").write_text("step,loss,lr\n1,9.0,0.001\n")
    figures.main(["--out", str(tmp_path / "after"), "--predictions", *map(str, given["predictions"]),
                  "--qa", *map(str, given["qa"]), "--checkpoints", str(tmp_path / "checkpoints" / "tiny-depth")])
    assert sorted(p.name for p in (tmp_path / "after").iterdir()) == sorted(p.name for p in clean)
    for p in clean:
        assert (tmp_path / "after" / p.name).read_bytes() == p.read_bytes(), p.name
    # the stale files do change the figures when given, so the comparison above can fail
    figures.write_figures(_files(pred), tmp_path / "stale", qa=given["qa"],
                          checkpoints=sorted((tmp_path / "checkpoints").iterdir()))
    for name in ("depth_scatter.png", "pose_cdf.png", "loss.png"):
        assert (tmp_path / "stale" / name).read_bytes() != (tmp_path / "clean" / name).read_bytes(), name
    assert (tmp_path / "stale" / "correspondence_old.png").is_file()
