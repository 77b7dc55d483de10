"""Prediction: one row per question, single-turn prompts, batched greedy decoding, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _tiny import build_micro, ground_plane

from vlm3.predict import main as predict_main
from vlm3.predict import questions
from vlm3.records import read_qa
from vlm3.train.trainer import TrainConfig, train

CONST = "07.50 meters"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A micro model trained to always answer CONST (answers rewritten), and a 3-record test file."""
    d = tmp_path_factory.mktemp("predict")
    gp = ground_plane()
    qa = gp.write_dataset(d / "qa", "train", 12, seed=0, n_q=2)
    test = gp.write_dataset(d / "qa", "test", 3, seed=1, n_q=3)
    recs = read_qa(qa)
    with open(d / "const.jsonl", "w") as f:
        for r in recs:
            for m in r["messages"]:
                if m["role"] == "assistant":
                    m["content"] = [{"type": "text", "text": CONST}]
            f.write(json.dumps(r) + "\n")
    build_micro(d, qa)
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
    with pytest.raises(ValueError, match=r"--qa .*bad\.jsonl:1: 3 user turns but 2 meta.targets"):
        read_qa(tmp_path / "bad.jsonl")
    with pytest.raises(ValueError, match=f"record {rec['id']}: 3 user turns but 2 meta.targets"):
        questions([rec])
    with pytest.raises(ValueError, match="not a save_pretrained folder"):
        predict_main(["--model", str(tmp_path), "--qa", str(test), "--out", str(tmp_path / "o.jsonl")])
    with pytest.raises(ValueError, match="--batch-size"):
        predict_main(["--model", str(d / "init"), "--qa", str(test), "--out", str(tmp_path / "o.jsonl"),
                      "--batch-size", "0"])
    assert not (tmp_path / "o.jsonl").exists()


def test_two_image_records_ask_each_turn_with_both_images(setup, tmp_path):
    d, test = setup
    from PIL import Image

    from vlm3.model.processor import load_processor

    Image.new("RGB", (32, 32), (200, 10, 10)).save(tmp_path / "a.png")
    Image.new("RGB", (48, 32), (10, 200, 10)).save(tmp_path / "b.png")
    rec = {"id": "pair/0", "images": [str(tmp_path / "a.png"), str(tmp_path / "b.png")], "messages": [
        {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Q one?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A"}]},
        {"role": "user", "content": [{"type": "text", "text": "Q two?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "B"}]}],
        "meta": {"targets": [{"kind": "choice", "value": "A"}, {"kind": "choice", "value": "B"}]}}
    (tmp_path / "pair.jsonl").write_text(json.dumps(rec) + "\n")
    proc = load_processor(d / "init")
    seen = []
    orig = proc.__class__.__call__

    def spy(self, *args, **kw):  # record what the model is asked: text and image count per batch
        seen.append((kw["text"], len(kw["images"])))
        return orig(self, *args, **kw)

    from vlm3 import predict as P

    model, _ = P.load(str(d / "init"))
    prefixes = []
    real_encode = P.predict_prefix.encode_prefixes

    def spy_encode(processor, texts, feats):  # what the shared-prefix path prefills
        prefixes.append((texts, [len(f["image_grid_thw"]) for f in feats]))
        return real_encode(processor, texts, feats)

    P.predict_prefix.encode_prefixes = spy_encode
    proc.__class__.__call__ = spy
    try:
        rows = P.predict(model, proc, read_qa(tmp_path / "pair.jsonl"), batch_size=4, max_new_tokens=3, plain=True)
        shared = P.predict(model, proc, read_qa(tmp_path / "pair.jsonl"), batch_size=4, max_new_tokens=3)
    finally:
        proc.__class__.__call__ = orig
        P.predict_prefix.encode_prefixes = real_encode
    assert [(r["turn"], r["question"]) for r in rows] == [(0, "Q one?"), (1, "Q two?")]
    texts, n_images = seen[0]
    assert n_images == 4  # both images for each of the two single-turn questions
    img = "<|vision_start|><|image_pad|><|vision_end|>"
    assert texts == [f"<|im_start|>user\n{img}{img}Q one?<|im_end|>\n<|im_start|>assistant\n",
                     f"<|im_start|>user\n{img}{img}Q two?<|im_end|>\n<|im_start|>assistant\n"]
    # shared prefix: the two images and the prompt up to them go through the model once
    assert len(seen) == 1 and prefixes == [([f"<|im_start|>user\n{img}{img}"], [2])]
    assert [r["prediction"] for r in shared] == [r["prediction"] for r in rows]


def test_cuda_graph_flag_needs_a_gpu(setup):
    """--cuda-graph without a GPU fails with the reason before anything is written (no partial
    shard); --no-cuda-graph (the default) runs."""
    d, test = setup
    out = d / "pred" / "graph.jsonl"
    args = ["--model", str(d / "const"), "--qa", str(test), "--out", str(out), "--max-new-tokens", "12", "--threads", "1"]
    with pytest.raises(ValueError, match="CUDA graphs need"):
        predict_main(args + ["--cuda-graph"])
    assert not list(out.parent.glob("graph.jsonl*"))
    predict_main(args + ["--no-cuda-graph"])
    assert [r["prediction"] for r in _rows(out)] == [CONST] * 9
