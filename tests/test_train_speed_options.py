"""The throughput options of issue 14 on the tiny model on CPU: with every one of them off the
trained weights are bitwise those of the code before them; `sparse_lm_head` trains with the stock
loss (to rounding) also under gradient accumulation; the flags parse, validate and reach the
Hugging Face arguments; runs started before the options existed keep their checkpoint fingerprint."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from _tiny import build_tiny
from safetensors.torch import load_file

from vlm3.train import trainer as trainer_mod
from vlm3.train.__main__ import parse_config
from vlm3.train.model_setup import causal_lm_loss_sum
from vlm3.train.trainer import TrainConfig, run_fingerprint, train, training_arguments

# sha256 of model.safetensors after 3 steps (batch 4, lr 1e-3, seed 0, 1 thread) on build_tiny(d, 16),
# computed with the trainer as it was before these options (commit 087bd40), torch 2.13.0 CPU.
BEFORE = {"padded": "10f04563b5134146e51a27ceb4bea1ba7c0687186b216d97174609a71e75a57f",
          "packed": "84fbe39b28ae0e0f24dcb53b8294f0c58dcdc08d6029015e361b9c58e371b438"}
NEW_OFF = {"sparse_lm_head": False, "pin_memory": False, "optim": "adamw_torch"}


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    d = tmp_path_factory.mktemp("speedopts")
    build_tiny(d, 16)
    return d


def _cfg(d: Path, out: str, **kw) -> TrainConfig:
    base = dict(model=str(d / "init"), data=[str(d / "qa/train.jsonl")], out=str(d / out), max_steps=3,
                batch_size=4, lr=1e-3, save_steps=100, threads=1)
    return TrainConfig(**{**base, **kw})


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _losses(folder: Path) -> list[float]:
    return [float(r["loss"]) for r in csv.DictReader(open(folder / "loss.csv"))]


@pytest.mark.parametrize("kind", ["padded", "packed"])
def test_every_new_option_off_keeps_the_weights_bitwise(d, kind):
    train(_cfg(d, f"off-{kind}", packing=kind == "packed", **NEW_OFF))
    assert _sha(d / f"off-{kind}" / "model.safetensors") == BEFORE[kind]


def test_sparse_lm_head_trains_with_the_stock_loss(d, monkeypatch):
    """Packed rows, 2 micro-batches of 2 per step: the loss is normalised over the whole step's
    labelled tokens as the stock Trainer does, so losses and weights agree to fp32 rounding; the
    sparse head ran on every micro-batch (3 steps x 2)."""
    kw = dict(packing=True, batch_size=2, grad_accum=2)
    train(_cfg(d, "stock", **kw))
    calls = []

    def counted(model, batch):
        calls.append(int((batch["labels"][:, 1:] != -100).sum()))
        return causal_lm_loss_sum(model, batch)

    monkeypatch.setattr(trainer_mod, "causal_lm_loss_sum", counted)
    summary = train(_cfg(d, "sparse", sparse_lm_head=True, **kw))
    assert len(calls) == 6 and min(calls) > 0
    a, b = _losses(d / "stock"), _losses(d / "sparse")
    assert len(a) == len(b) == 3
    assert b == pytest.approx(a, rel=1e-5)
    wa, wb = load_file(d / "stock" / "model.safetensors"), load_file(d / "sparse" / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert (wa[k] - wb[k]).abs().max().item() <= 1e-5 * max(1.0, wa[k].abs().max().item()), k
    assert summary["config"]["sparse_lm_head"] is True


def test_sparse_lm_head_padded_batches_match_too(d):
    train(_cfg(d, "stock-pad"))
    train(_cfg(d, "sparse-pad", sparse_lm_head=True))
    assert _losses(d / "sparse-pad") == pytest.approx(_losses(d / "stock-pad"), rel=1e-5)


def test_flags_parse_and_reach_the_trainer_arguments(d, monkeypatch):
    cfg = parse_config(["--model", str(d / "init"), "--data", "x.jsonl", "--out", "o", "--sparse-lm-head",
                        "--pin-memory", "--optim", "adamw_torch_fused"])
    assert (cfg.sparse_lm_head, cfg.pin_memory, cfg.optim) == (True, True, "adamw_torch_fused")
    args = training_arguments(cfg, 2, 1)
    assert args.optim.value == "adamw_torch_fused" and args.accelerator_config.non_blocking is True
    seen = []  # the keyword arguments (on CPU TrainingArguments itself turns pinning off again)
    monkeypatch.setattr(trainer_mod, "TrainingArguments", lambda **kw: seen.append(kw))
    training_arguments(cfg, 2, 1)
    training_arguments(_cfg(d, "x"), 2, 1)
    assert [(kw["optim"], kw["dataloader_pin_memory"], kw.get("accelerator_config")) for kw in seen] == [
        ("adamw_torch_fused", True, {"non_blocking": True}), ("adamw_torch", False, None)]
    assert parse_config(["--model", str(d / "init"), "--data", "x", "--out", "o", "--no-sparse-lm-head"]
                        ).sparse_lm_head is False
    with pytest.raises(ValueError, match=r"--optim: must be one of adamw_torch, adamw_torch_fused, got 'sgd'"):
        _cfg(d, "x", optim="sgd").validate()
    with pytest.raises(ValueError, match="--sparse-lm-head: must be true or false"):
        _cfg(d, "x", sparse_lm_head="yes").validate()


def test_fingerprint_of_earlier_runs_is_unchanged(d):
    """New options at their defaults are left out of the recipe fingerprint (a running job keeps its
    checkpoints across the upgrade); set, they are in it; pin_memory never is (speed only)."""
    recipe = run_fingerprint(_cfg(d, "x"))["recipe"]
    assert not {"sparse_lm_head", "optim", "pin_memory", "varlen_vision"} & set(recipe)
    recipe = run_fingerprint(_cfg(d, "x", sparse_lm_head=True, optim="adamw_torch_fused", pin_memory=True,
                                  varlen_vision=True))["recipe"]
    assert (recipe["sparse_lm_head"], recipe["optim"], recipe["varlen_vision"]) == (True, "adamw_torch_fused", True)
    assert "pin_memory" not in recipe
