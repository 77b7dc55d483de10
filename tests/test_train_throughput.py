"""throughput.csv: one row per optimizer step whose token counts add up exactly to the records seen;
the final save under FSDP on one GPU."""

from __future__ import annotations

import csv

import pytest
from _tiny import build_tiny

from vlm3.model.processor import load_processor
from vlm3.records import read_qa
from vlm3.train.data import QACollator
from vlm3.train.throughput import COLUMNS
from vlm3.train.trainer import TrainConfig, train


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("throughput")
    build_tiny(d, 12)
    return d


@pytest.mark.parametrize("packing", [False, True])
def test_one_epoch_counts_every_non_padding_token_once(setup, tmp_path, packing):
    qa = setup / "qa/train.jsonl"
    train(TrainConfig(model=str(setup / "init"), data=[str(qa)], out=str(tmp_path / "run"), max_steps=3,
                      batch_size=4, save_steps=50, threads=1, lr=1e-3, packing=packing))
    rows = list(csv.DictReader(open(tmp_path / "run/throughput.csv")))
    assert tuple(rows[0]) == COLUMNS
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert {int(r["samples"]) for r in rows} == {4}
    assert {r["peak_mem_gib"] for r in rows} == {""}  # CPU: no GPU memory figure
    for r in rows:
        assert float(r["tokens_per_s"]) == pytest.approx(int(r["tokens"]) / float(r["seconds"]), rel=1e-3)
        assert float(r["samples_per_s"]) == pytest.approx(4 / float(r["seconds"]), rel=1e-3)
    # 3 steps x 4 = the 12 records once: the tokens are each record's own length, padding excluded
    collate = QACollator(load_processor(setup / "init"), image_root=".")
    want = sum(int(collate([rec])["attention_mask"].sum()) for rec in read_qa(qa))
    assert sum(int(r["tokens"]) for r in rows) == want
    per_step = [int(r["tokens"]) for r in rows]
    assert min(per_step) > 0 and len(set(per_step)) > 1  # steps differ: counted per step, not averaged


def test_final_save_gathers_under_fsdp_on_one_gpu(monkeypatch, tmp_path):
    """FSDP with one rank still needs the gathering save (save_pretrained fails on its DTensors)."""
    from types import SimpleNamespace

    import vlm3.train.trainer as T

    calls = []
    monkeypatch.setattr(T, "_save_final_distributed", lambda tr, p, o: calls.append("distributed"))
    monkeypatch.setattr(T, "_save_final", lambda m, p, o: calls.append("single"))
    for ranks, fsdp, want in [(1, True, "distributed"), (2, False, "distributed"), (1, False, "single")]:
        assert T.save_final(SimpleNamespace(is_fsdp_enabled=fsdp, model=None), None, tmp_path, ranks) == want
    assert calls == ["distributed", "distributed", "single"]


def test_num_workers_reach_the_dataloader(tmp_path):
    from vlm3.train.__main__ import parse_config
    from vlm3.train.trainer import training_arguments

    cfg = parse_config(["--model", "m", "--data", "a.jsonl", "--out", str(tmp_path), "--num-workers", "3"])
    args = training_arguments(cfg, 2, 1)
    assert (cfg.num_workers, args.dataloader_num_workers, args.dataloader_persistent_workers) == (3, 3, True)
    args = training_arguments(TrainConfig(model="m", data=["a.jsonl"], out=str(tmp_path)), 2, 1)
    assert (args.dataloader_num_workers, args.dataloader_persistent_workers) == (0, False)
    assert args.include_num_input_tokens_seen == "non_padding"
    packed = TrainConfig(model="m", data=["a.jsonl"], out=str(tmp_path), packing=True)
    assert training_arguments(packed, 2, 1).include_num_input_tokens_seen == "all"  # packed rows: no padding
    with pytest.raises(ValueError, match="--num-workers: must be >= 0, got -1"):
        TrainConfig(model=str(tmp_path), data=["a.jsonl"], out=str(tmp_path), num_workers=-1).validate()
