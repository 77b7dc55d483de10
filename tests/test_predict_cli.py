"""Prediction: one row per question, single-turn prompts, batched greedy decoding, determinism."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from vlm3.model.build import main as build_main
from vlm3.predict import main as predict_main
from vlm3.predict import questions
from vlm3.train.data import read_qa
from vlm3.train.trainer import TrainConfig, train

_spec = importlib.util.spec_from_file_location("_model_build_tests", Path(__file__).with_name("test_model_build.py"))
_mb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mb)

CONST = "07.50 meters"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A micro model trained to always answer CONST (answers rewritten), and a 3-record test file."""
    d = tmp_path_factory.mktemp("predict")
    gp = _mb.ground_plane()
    qa = gp.write_dataset(d / "qa", "train", 12, seed=0, n_q=2)
    test = gp.write_dataset(d / "qa", "test", 3, seed=1, n_q=3)
    recs = read_qa(qa)
    with open(d / "const.jsonl", "w") as f:
        for r in recs:
            for m in r["messages"]:
                if m["role"] == "assistant":
                    m["content"] = [{"type": "text", "text": CONST}]
            f.write(json.dumps(r) + "\n")
    (d / "micro.yaml").write_text(yaml.safe_dump(_mb.MICRO))
    build_main(["--config", str(d / "micro.yaml"), "--qa", str(qa), "--seed", "0", "--out", str(d / "init")])
    train(TrainConfig(model=str(d / "init"), data=[str(d / "const.jsonl")], out=str(d / "const"),
                      max_steps=60, lr=1e-2, batch_size=4, save_steps=100, threads=1))
    return d, test


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rows_one_per_question_with_targets(setup):
    d, test = setup
    out = d / "pred" / "a.jsonl"
    predict_main(["--model", str(d / "const"), "--qa", str(test), "--out", str(out), "--batch-size", "4",
                  "--max-new-tokens", "12", "--threads", "1"])
    rows, recs = _rows(out), read_qa(test)
    assert len(rows) == 9
    for row in rows:
        assert list(row) == ["id", "turn", "question", "prediction", "target"]
        rec = next(r for r in recs if r["id"] == row["id"])
        user = [m for m in rec["messages"] if m["role"] == "user"][row["turn"]]
        assert row["question"] == [c["text"] for c in user["content"] if c["type"] == "text"][0]
        assert row["target"] == rec["meta"]["targets"][row["turn"]]
    assert [(r["id"], r["turn"]) for r in rows] == [(r["id"], t) for r in recs for t in range(3)]
    # the model trained on a constant answer says exactly that, for every (single-turn) question
    assert [r["prediction"] for r in rows] == [CONST] * 9


def test_deterministic_and_batch_size_independent(setup):
    d, test = setup
    outs = []
    for i, bs in enumerate(["16", "16", "1"]):
        out = d / "pred" / f"untrained{i}.jsonl"
        predict_main(["--model", str(d / "init"), "--qa", str(test), "--out", str(out), "--batch-size", bs,
                      "--max-new-tokens", "6", "--threads", "1"])
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert [r["prediction"] for r in _rows(outs[0])] == [r["prediction"] for r in _rows(outs[2])]


def test_bad_inputs(setup, tmp_path):
    d, test = setup
    rec = read_qa(test)[0]
    rec["meta"]["targets"] = rec["meta"]["targets"][:2]
    (tmp_path / "bad.jsonl").write_text(json.dumps(rec) + "\n")
    with pytest.raises(ValueError, match="3 user turns but 2 meta.targets"):
        questions(read_qa(tmp_path / "bad.jsonl"))
    with pytest.raises(ValueError, match="not a save_pretrained folder"):
        predict_main(["--model", str(tmp_path), "--qa", str(test), "--out", str(tmp_path / "o.jsonl")])
    with pytest.raises(ValueError, match="--batch-size"):
        predict_main(["--model", str(d / "init"), "--qa", str(test), "--out", str(tmp_path / "o.jsonl"),
                      "--batch-size", "0"])
    assert not (tmp_path / "o.jsonl").exists()
