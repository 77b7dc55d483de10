"""PackedBatchCollator on the project's real QA collator (vlm3.train.data.QACollator) and tiny model:
the packed batch gives the same summed answer-only loss as the padded batch."""

from __future__ import annotations

import pytest
import torch

from _tiny import build_tiny
from vlm3.train.data import QACollator, QADataset
from vlm3.train.fsdp import causal_lm_loss_sum
from vlm3.train.packing import PackedBatchCollator, PackingCollator, use_packed_sdpa
from vlm3.train.trainer import load_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("packqa")
    qa = build_tiny(d, 4, n_q=3)
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
