"""Evaluation manifests (fixed, hashed) and the train/eval overlap check with planted leaks."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from vlm3.qa import leak


def _split(root, ds, split, scenes):
    """A resized split folder: index.parquet with image ids scene_v{k}."""
    d = root / "resized" / ds / split
    (d / "images").mkdir(parents=True)
    rows = [{"image_id": f"{s}_v{k}", "scene_id": s} for s in scenes for k in range(2)]
    pd.DataFrame(rows).to_parquet(d / "index.parquet")
    return d


def _rec(d, ds, split, task, ids):
    imgs = [str(d / "images" / f"{i}.png") for i in ids]
    n = len(ids)
    return {"id": f"{ds}/{split}/{'+'.join(ids)}", "task": task, "dataset": ds, "split": split, "images": imgs,
            "messages": [{"role": "user", "content": [{"type": "image"}] * n + [{"type": "text", "text": "q"}]},
                         {"role": "assistant", "content": "a"}],
            "meta": {"targets": [{"kind": "point", "value": [1, 2], "query": [5, 6]}], "image_ids": ids}}


def _write(path, recs):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


@pytest.fixture
def world(tmp_path):
    tr = _split(tmp_path, "ds", "train", ["a", "b"])
    te = _split(tmp_path, "ds", "test", ["c"])
    ev_pair = _write(tmp_path / "qa" / "pose" / "ds" / "test.jsonl", [_rec(te, "ds", "test", "pose", ["c_v0", "c_v1"])])
    ev_depth = _write(tmp_path / "qa" / "depth" / "ds" / "test.jsonl", [_rec(te, "ds", "test", "depth", ["c_v0"])])
    manifests = []
    for ev in (ev_pair, ev_depth):
        out = ev.with_suffix(".manifest.json")
        leak.main(["manifest", "--qa", str(ev), "--out", str(out)])
        manifests.append(out)
    return tmp_path, tr, te, manifests


def test_manifest_lists_images_scenes_questions_with_hash(world):
    tmp, tr, te, (m_pair, m_depth) = world
    m = leak.read_manifest(m_pair)
    assert (m["task"], m["bench"]) == ("pose", "ds_test")
    assert m["images"] == [["ds", "c_v0", "c"], ["ds", "c_v1", "c"]]
    assert m["questions"] == [["ds/test/c_v0+c_v1", 0, ["c_v0", "c_v1"], [5, 6]]]
    assert len(m["sha256"]) == 64 and leak.read_manifest(m_depth)["sha256"] != m["sha256"]
    # written again from the same QA: byte-identical; edited by hand: refused
    again = tmp / "again.json"
    leak.main(["manifest", "--qa", str(tmp / "qa" / "pose" / "ds" / "test.jsonl"), "--out", str(again)])
    assert again.read_bytes() == m_pair.read_bytes()
    bad = dict(m, questions=[])
    again.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="sha256 does not match"):
        leak.read_manifest(again)


def test_clean_mixture_passes(world):
    tmp, tr, te, manifests = world
    mix = _write(tmp / "mix.jsonl", [_rec(tr, "ds", "train", "pose", ["a_v0", "a_v1"]),
                                     _rec(tr, "ds", "train", "depth", ["b_v0"])])
    out = tmp / "check.json"
    leak.main(["check", "--train", str(mix), "--manifests", *map(str, manifests), "--out", str(out)])
    assert json.loads(out.read_text())["overlaps"] == 0 and json.loads(out.read_text())["scenes"] == 2


def test_planted_image_overlap_fails(world):
    tmp, tr, te, manifests = world
    mix = _write(tmp / "mix.jsonl", [_rec(tr, "ds", "train", "depth", ["a_v0"]),
                                     _rec(te, "ds", "test", "depth", ["c_v0"])])  # an eval image in training
    with pytest.raises(ValueError, match=r"mix\.jsonl:2 \(record ds/test/c_v0\): image ds/c_v0 belongs to the "
                                         r"evaluation split ds_test: train/eval leak"):
        leak.check([mix], manifests)


def test_planted_scene_overlap_fails_for_pairs_only(world):
    tmp, tr, te, (m_pair, m_depth) = world
    # c_v9: another image of the evaluation pair's scene c (in the test index of another dataset copy)
    idx = pd.read_parquet(te / "index.parquet")
    pd.concat([idx, pd.DataFrame([{"image_id": "c_v9", "scene_id": "c"}])]).to_parquet(te / "index.parquet")
    leak._scenes.cache_clear()
    mix = _write(tmp / "mix.jsonl", [_rec(te, "ds", "test", "depth", ["c_v9"])])
    leak.check([mix], [m_depth])  # a depth benchmark is checked by image only
    with pytest.raises(ValueError, match=r"scene ds/c belongs to the pair evaluation split ds_test"):
        leak.check([mix], [m_pair])
    res = subprocess.run([sys.executable, "-m", "vlm3.qa.leak", "check", "--train", str(mix), "--manifests",
                          str(m_pair), "--out", str(tmp / "c.json")], capture_output=True, text=True)
    assert res.returncode == 1 and res.stderr.startswith("vlm3.qa.leak: training mixture")
    assert not (tmp / "c.json").exists()
