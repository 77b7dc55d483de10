"""Padding-free packing for Qwen3-VL: packed loss/gradients == sum of unpacked ones (fp32, CPU)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import Qwen3VLForConditionalGeneration

from vlm3.train.model_setup import causal_lm_loss_sum
from vlm3.train.packing import (
    PACKED_SDPA,
    PackedBatchCollator,
    PackingCollator,
    pack_indices,
    unpad_batch,
    use_packed_sdpa,
)
from vlm3.train.shapes import synthetic_sample, tiny_qwen3vl_config

CFG = tiny_qwen3vl_config()


def _model(attn="sdpa"):
    torch.manual_seed(0)
    m = Qwen3VLForConditionalGeneration(tiny_qwen3vl_config(attn)).float()
    m.train()  # dropout is 0 in this config; train mode exercises the training code paths
    return m


def _samples():
    # three samples with different image grids (4x6, 6x8, 8x4 patches) and 2, 3, 4 QA turns
    grids = [(1, 4, 6), (1, 6, 8), (1, 8, 4)]
    return [synthetic_sample(CFG, 0, f"s{i}", g, n_turns=2 + i, question_tokens=5, answer_tokens=3)
            for i, g in enumerate(grids)]


def _unpacked(m, samples):
    """Sum over samples of (mean loss x labelled tokens), each sample run alone via the model's
    own position-id computation (position_ids=None)."""
    total = 0.0
    for s in samples:
        out = m(input_ids=s["input_ids"][None], labels=s["labels"][None],
                mm_token_type_ids=s["mm_token_type_ids"][None], pixel_values=s["pixel_values"],
                image_grid_thw=s["image_grid_thw"])
        total = total + out.loss * (s["labels"][1:] != -100).sum()
    return total


def _grads(m):
    return {n: p.grad.detach().clone() for n, p in m.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("attn", ["sdpa", "eager", PACKED_SDPA])
def test_packed_loss_and_grads_equal_unpacked(attn, monkeypatch):
    import vlm3.train.packing as packing

    calls = []
    orig = packing._branches
    monkeypatch.setattr(packing, "_branches", lambda pos: calls.append(1) or orig(pos))
    m = _model("sdpa" if attn == PACKED_SDPA else attn)
    samples = _samples()
    ref = _unpacked(m, samples)
    ref.backward()
    g_ref = _grads(m)
    m.zero_grad(set_to_none=True)

    if attn == PACKED_SDPA:
        use_packed_sdpa(m)
    batch = PackingCollator.from_config(CFG)(samples)
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    n = (batch["labels"][0, 1:] != -100).sum()
    packed = m(**batch).loss * n
    packed.backward()
    g = _grads(m)
    assert n == sum((s["labels"][1:] != -100).sum() for s in samples) == 27  # 3 tokens x (2+3+4) answers
    torch.testing.assert_close(packed, ref, rtol=1e-5, atol=1e-5)
    assert g.keys() == g_ref.keys() and len(g) > 20
    # the per-sample attention really ran (2 layers, forward + nothing cached across layers: >= 2)
    assert (len(calls) >= 2) == (attn == PACKED_SDPA)
    for k in g:
        torch.testing.assert_close(g[k], g_ref[k], rtol=1e-4, atol=1e-6, msg=k)


def test_boundaries_matter_negative_control():
    """Same packed row but with text positions that do not restart per sample (so no boundary is
    detected): the loss must differ, proving the equality test above can fail."""
    m = _model()
    samples = _samples()
    batch = PackingCollator.from_config(CFG)(samples)
    with torch.no_grad():
        good = m(**batch).loss
        bad = dict(batch)
        pos = batch["position_ids"].clone()
        pos[0, 0] = torch.arange(pos.shape[-1])
        bad["position_ids"] = pos
        wrong = m(**bad).loss
    assert abs(float(good - wrong)) > 1e-3


def test_positions_match_model_rope_index():
    m = _model()
    samples = _samples()
    batch = PackingCollator.from_config(CFG)(samples)
    start = 0
    for s in samples:
        L = s["input_ids"].numel()
        ref, _ = m.model.get_rope_index(s["input_ids"][None], s["mm_token_type_ids"][None],
                                        image_grid_thw=s["image_grid_thw"])
        assert torch.equal(batch["position_ids"][1:, 0, start:start + L], ref[:, 0])
        assert torch.equal(batch["position_ids"][0, 0, start:start + L], torch.arange(L))
        assert batch["labels"][0, start] == -100  # first label of each sample dropped
        assert torch.equal(batch["labels"][0, start + 1:start + L], s["labels"][1:])
        start += L
    assert start == batch["input_ids"].shape[1]
    assert torch.equal(batch["image_grid_thw"], torch.tensor([[1, 4, 6], [1, 6, 8], [1, 8, 4]]))
    assert batch["pixel_values"].shape == (24 + 48 + 32, 3 * 2 * 4 * 4)


def test_hand_computed_positions():
    """One sample: 2 text tokens, a 1x4x4 image (2x2 merged tokens), 1 text token.
    mRoPE (t, h, w): text 0,1; image t=2, h=2+{0,0,1,1}, w=2+{0,1,0,1}; next text at 2+2=4."""
    img = CFG.image_token_id
    s = {"input_ids": [5, 6, img, img, img, img, 7], "pixel_values": torch.zeros(16, 96),
         "image_grid_thw": [[1, 4, 4]]}
    b = PackingCollator.from_config(CFG)([s, s])
    one = [[0, 1, 2, 3, 4, 5, 6],
           [0, 1, 2, 2, 2, 2, 4],
           [0, 1, 2, 2, 3, 3, 4],
           [0, 1, 2, 3, 2, 3, 4]]
    expect = torch.tensor([r + r for r in one])
    assert torch.equal(b["position_ids"][:, 0], expect)
    # default labels: ids with image tokens ignored, first label of each sample ignored
    assert b["labels"][0].tolist() == [-100, 6, -100, -100, -100, -100, 7] * 2
    assert b["mm_token_type_ids"][0].tolist() == [0, 0, 1, 1, 1, 1, 0] * 2


def test_pad_to_multiple_changes_nothing():
    m = _model()
    samples = _samples()
    b1 = PackingCollator.from_config(CFG)(samples)
    b2 = PackingCollator.from_config(CFG, pad_to_multiple_of=64)(samples)
    assert b2["input_ids"].shape[1] % 64 == 0 and b2["input_ids"].shape[1] > b1["input_ids"].shape[1]
    with torch.no_grad():
        l1, n1 = causal_lm_loss_sum(m, b1)
        l2, n2 = causal_lm_loss_sum(m, b2)
    assert n1 == n2
    torch.testing.assert_close(l1, l2, rtol=1e-5, atol=1e-5)


def test_causal_lm_loss_sum_equals_model_loss():
    m = _model()
    b = PackingCollator.from_config(CFG)(_samples())
    with torch.no_grad():
        ref = m(**b).loss
        s, n = causal_lm_loss_sum(m, b)
    assert n == 27
    torch.testing.assert_close(s / n, ref, rtol=1e-6, atol=1e-6)


def test_unpad_and_packed_batch_collator_roundtrip():
    samples = _samples()
    L = max(s["input_ids"].numel() for s in samples)
    padded = {"input_ids": torch.zeros(3, L, dtype=torch.long), "labels": torch.full((3, L), -100),
              "attention_mask": torch.zeros(3, L, dtype=torch.long),
              "mm_token_type_ids": torch.zeros(3, L, dtype=torch.long),
              "pixel_values": torch.cat([s["pixel_values"] for s in samples]),
              "image_grid_thw": torch.cat([s["image_grid_thw"] for s in samples])}
    for b, s in enumerate(samples):
        n = s["input_ids"].numel()
        padded["input_ids"][b, :n] = s["input_ids"]
        padded["labels"][b, :n] = s["labels"]
        padded["attention_mask"][b, :n] = 1
        padded["mm_token_type_ids"][b, :n] = s["mm_token_type_ids"]
    back = unpad_batch(padded, CFG.image_token_id)
    for s, t in zip(samples, back):
        for k in s:
            assert torch.equal(s[k], t[k]), k
    packer = PackingCollator.from_config(CFG)
    direct = packer(samples)
    via = PackedBatchCollator(lambda recs: padded, packer)(["r0", "r1", "r2"])
    assert direct.keys() == via.keys()
    for k in direct:
        assert torch.equal(direct[k], via[k]), k


def test_bad_inputs_raise():
    col = PackingCollator.from_config(CFG)
    s = _samples()[0]
    with pytest.raises(ValueError, match="sample 0: .*image placeholder tokens"):
        col([{**s, "image_grid_thw": torch.tensor([[1, 8, 8]]), "pixel_values": torch.zeros(64, 96)}])
    with pytest.raises(ValueError, match="pixel_values shape"):
        col([{**s, "pixel_values": s["pixel_values"][:-1]}])
    with pytest.raises(ValueError, match="sample 1: labels shape"):
        col([s, {**s, "labels": s["labels"][:-1]}])
    with pytest.raises(ValueError, match="empty list"):
        col([])
    with pytest.raises(ValueError, match="missing 'input_ids'"):
        col([{"labels": [1]}])


def test_pack_indices_hand_example():
    # first-fit decreasing, cap 10: 7(#2)->A, 5(#0)->B, 4(#4)->B, 3(#1)->A, 2(#5)->C, 1(#3)->B
    assert pack_indices([5, 3, 7, 1, 4, 2], 10) == [[0, 3, 4], [1, 2], [5]]
    with pytest.raises(ValueError, match="sample 1 has 11 tokens"):
        pack_indices([3, 11], 10)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=40), st.integers(50, 120))
def test_pack_indices_properties(lengths, cap):
    packs = pack_indices(lengths, cap)
    flat = sorted(i for p in packs for i in p)
    assert flat == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in p) <= cap for p in packs)
    assert packs == pack_indices(list(lengths), cap)
    # any first-fit packing has at most one pack at most half full
    assert len(packs) <= 2 * sum(lengths) / cap + 1
