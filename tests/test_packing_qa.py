"""PackedBatchCollator on the project's real QA collator (vlm3.train.data.QACollator) and tiny model:
the packed batch gives the same summed answer-only loss as the padded batch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import yaml

from vlm3.model.build import main as build_main
from vlm3.train.data import QACollator, QADataset
from vlm3.train.fsdp import causal_lm_loss_sum
from vlm3.train.packing import PackedBatchCollator, PackingCollator, use_packed_sdpa
from vlm3.train.trainer import load_model

_spec = importlib.util.spec_from_file_location("_model_build_tests", Path(__file__).with_name("test_model_build.py"))
_mb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mb)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("packqa")
    qa = _mb.ground_plane().write_dataset(d / "qa", "train", 4, seed=0, n_q=3)
    (d / "micro.yaml").write_text(yaml.safe_dump(_mb.MICRO))
    build_main(["--config", str(d / "micro.yaml"), "--qa", str(qa), "--seed", "0", "--out", str(d / "init")])
    model, processor = load_model(str(d / "init"))
    return model.eval(), processor, QADataset(qa)


def test_packed_qa_batch_matches_padded(tiny):
    model, processor, ds = tiny
    records = [ds[i] for i in range(3)]
    inner = QACollator(processor)
    padded = inner(records)
    with torch.no_grad():
        ref_sum, ref_n = causal_lm_loss_sum(model, padded)
    packed = PackedBatchCollator(inner, PackingCollator.from_config(model.config))(records)
    assert packed["input_ids"].shape == (1, int(padded["attention_mask"].sum()))
    use_packed_sdpa(model)
    with torch.no_grad():
        got_sum, got_n = causal_lm_loss_sum(model, packed)
    assert int(got_n) == int(ref_n) > 0
    torch.testing.assert_close(got_sum, ref_sum, rtol=1e-5, atol=1e-4)
