"""Training CLI/config parsing, the cosine schedule with warm-up, the time cap, and learning."""

from __future__ import annotations

import csv
import json
import math

import pytest
import yaml
from _tiny import build_tiny

from vlm3.train.__main__ import parse_config
from vlm3.train.trainer import TrainConfig, train


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    build_tiny(d, 12)
    return d


def test_yaml_config_and_flags(tmp_path):
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(
        {"model": "m", "data": "a.jsonl", "out": "o", "max-steps": 7, "lr": "2e-3", "grad_clip": 0.5}))
    cfg = parse_config(["--config", str(tmp_path / "run.yaml"), "--max-steps", "9", "--batch-size", "3"])
    assert cfg == TrainConfig(model="m", data=["a.jsonl"], out="o", max_steps=9, lr=2e-3, grad_clip=0.5,
                              batch_size=3)
    cfg = parse_config(["--model", "m", "--data", "a", "b", "--out", "o", "--max-minutes", "1.5",
                        "--state", "s", "--warmup-ratio", "0.2", "--seed", "3", "--save-steps", "5",
                        "--grad-accum", "2", "--threads", "2"])
    assert (cfg.data, cfg.max_minutes, cfg.state, cfg.warmup_ratio, cfg.seed, cfg.save_steps, cfg.grad_accum,
            cfg.threads) == (["a", "b"], 1.5, "s", 0.2, 3, 5, 2, 2)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"model": "m", "learning_rate": 1}))
    with pytest.raises(ValueError, match="unknown key 'learning_rate'"):
        parse_config(["--config", str(tmp_path / "bad.yaml")])
    with pytest.raises(ValueError, match="--out is required"):
        parse_config(["--model", "m", "--data", "a"])


def test_several_data_files_follow_one_data_flag():
    """Rule train passes a run's mixtures as `--data A B` (one flag, space-separated paths)."""
    cfg = parse_config(["--model", "results/models/base", "--data", "results/qa/pose/train.jsonl",
                        "results/qa/correspondence/train.jsonl", "--out", "results/checkpoints/tiny-pose",
                        "--seed", "0"])
    assert cfg.data == ["results/qa/pose/train.jsonl", "results/qa/correspondence/train.jsonl"]
    assert (cfg.model, cfg.out, cfg.seed) == ("results/models/base", "results/checkpoints/tiny-pose", 0)


def test_bad_arguments(setup, tmp_path):
    qa = str(setup / "qa/train.jsonl")
    with pytest.raises(ValueError, match="not a save_pretrained folder"):
        train(TrainConfig(model=str(tmp_path), data=[qa], out=str(tmp_path / "o")))
    with pytest.raises(ValueError, match="--lr"):
        train(TrainConfig(model=str(setup / "init"), data=[qa], out=str(tmp_path / "o"), lr=0))
    with pytest.raises(ValueError, match=r"QA file .*x\.jsonl: no such file"):
        train(TrainConfig(model=str(setup / "init"), data=[str(tmp_path / "x.jsonl")], out=str(tmp_path / "o")))
    assert not (tmp_path / "o" / "model.safetensors").exists()


def test_cosine_warmup_schedule_and_learning(setup, tmp_path):
    n, peak = 20, 1e-2
    summary = train(TrainConfig(model=str(setup / "init"), data=[str(setup / "qa/train.jsonl")],
                                out=str(tmp_path / "run"), max_steps=n, lr=peak, batch_size=4, save_steps=50,
                                threads=1, warmup_ratio=0.1))
    assert summary["global_step"] == n and summary["stopped_by"] == "max_steps"
    rows = list(csv.DictReader(open(tmp_path / "run/loss.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, n + 1))
    warm = math.ceil(0.1 * n)  # 2 warm-up steps; the lr logged at step s is the one step s used
    for r in rows:
        k = int(r["step"]) - 1
        want = peak * (k / warm if k < warm else 0.5 * (1 + math.cos(math.pi * (k - warm) / (n - warm))))
        assert float(r["lr"]) == pytest.approx(want, rel=1e-9, abs=1e-15)
    losses = [float(r["loss"]) for r in rows]
    assert sum(losses[-3:]) / 3 < 0.6 * losses[0]  # it learns (the answer format at least)
    assert (tmp_path / "run/loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "run/train_summary.json").read_text())["global_step"] == n


def test_max_minutes_ends_cleanly_with_a_model(setup, tmp_path):
    summary = train(TrainConfig(model=str(setup / "init"), data=[str(setup / "qa/train.jsonl")],
                                out=str(tmp_path / "cap"), max_steps=500, batch_size=2, threads=1,
                                max_minutes=1e-4, state=str(tmp_path / "state")))
    assert summary["stopped_by"] == "max_minutes" and summary["global_step"] == 1
    assert (tmp_path / "cap/model.safetensors").exists() and (tmp_path / "cap/tokenizer.json").exists()
    assert not (tmp_path / "cap/trainer_state").exists()  # checkpoints went to --state
    assert (tmp_path / "state/checkpoint-1/trainer_state.json").exists()  # the cap checkpoints too
