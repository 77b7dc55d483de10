"""FSDP training pieces: Linear patch embedding, batch plan, model setup (the optimizer and schedule
of the benchmarks: test_bench_optim.py)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from transformers import Qwen3VLForConditionalGeneration
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLVisionPatchEmbed

from vlm3.train.model_setup import (
    LinearPatchConv3d,
    batch_plan,
    set_checkpoint_fraction,
    setup_model,
    use_linear_patch_embed,
)
from vlm3.train.packing import VARLEN_VISION, use_varlen_vision
from vlm3.train.shapes import qwen3vl_4b_config, synthetic_sample, tiny_qwen3vl_config


def test_linear_patch_embed_equals_conv3d_real_shapes():
    """Qwen3-VL-4B's patch embedding (3x2x16x16 -> 1024): Conv3d and the Linear form agree in fp32."""
    torch.manual_seed(0)
    pe = Qwen3VLVisionPatchEmbed(qwen3vl_4b_config().vision_config).float()
    x = torch.randn(37, 3 * 2 * 16 * 16)
    ref = pe(x)
    keys = {k: v.shape for k, v in pe.state_dict().items()}
    assert use_linear_patch_embed(nn.ModuleDict({"patch_embed": pe})) == 1
    assert type(pe.proj) is LinearPatchConv3d
    assert {k: v.shape for k, v in pe.state_dict().items()} == keys  # checkpoints unchanged
    out = pe(x)
    assert out.shape == (37, 1024)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    # gradients agree too
    out.square().sum().backward()
    g_lin = pe.proj.weight.grad.clone()
    pe.zero_grad()
    pe.proj.__class__ = nn.Conv3d
    pe(x).square().sum().backward()
    torch.testing.assert_close(g_lin, pe.proj.weight.grad, rtol=1e-4, atol=1e-4)


def test_linear_patch_embed_rejects_other_convs():
    m = nn.ModuleDict({"patch_embed": nn.ModuleDict({"proj": nn.Conv3d(3, 4, 2, stride=1)})})
    with pytest.raises(ValueError, match="not a plain patchify conv"):
        use_linear_patch_embed(m)


def test_setup_model_on_tiny_model_keeps_outputs():
    cfg = tiny_qwen3vl_config()
    torch.manual_seed(0)
    m = Qwen3VLForConditionalGeneration(cfg).float().eval()
    s = synthetic_sample(cfg, 0, "a", (1, 4, 6), n_turns=2, question_tokens=5, answer_tokens=3)
    batch = {k: (v[None] if k in ("input_ids", "labels", "mm_token_type_ids") else v) for k, v in s.items()}
    with torch.no_grad():
        ref = m(**batch).loss
    setup_model(m, gradient_checkpointing=True, freeze_vision=True, linear_patch_embed=True)
    assert type(m.model.visual.patch_embed.proj) is LinearPatchConv3d
    assert not any(p.requires_grad for p in m.model.visual.parameters())
    assert all(p.requires_grad for p in m.model.language_model.parameters())
    assert all(layer.gradient_checkpointing for layer in m.model.language_model.layers)
    m.train()
    loss = m(**batch).loss
    torch.testing.assert_close(loss, ref, rtol=1e-5, atol=1e-5)
    loss.backward()
    assert m.model.visual.patch_embed.proj.weight.grad is None
    assert m.model.language_model.layers[0].mlp.up_proj.weight.grad is not None
    assert set_checkpoint_fraction(m, 0.5) == 1
    assert [layer.gradient_checkpointing for layer in m.model.language_model.layers] == [True, False]
    with pytest.raises(ValueError, match="fraction"):
        set_checkpoint_fraction(m, 1.5)


def test_varlen_vision_keeps_the_vision_towers_outputs_on_cpu():
    """`use_varlen_vision` (one varlen call per ViT layer on CUDA) falls back on CPU to one SDPA call
    per image, exactly transformers' own sdpa vision attention: identical outputs, three images of
    different sizes in one batch, deepstack features included."""
    cfg = tiny_qwen3vl_config()
    torch.manual_seed(0)
    m = Qwen3VLForConditionalGeneration(cfg).float().eval()
    p = cfg.vision_config.patch_size
    grid = torch.tensor([[1, 4, 6], [1, 2, 2], [1, 6, 4]])
    pixels = torch.randn(int(grid.prod(1).sum()), 3 * cfg.vision_config.temporal_patch_size * p * p)
    with torch.no_grad():
        ref = m.model.visual(pixels, grid_thw=grid)
        assert use_varlen_vision(m) == "SDPA per image"
        assert m.config.vision_config._attn_implementation == VARLEN_VISION
        out = m.model.visual(pixels, grid_thw=grid)
    assert torch.equal(out.pooler_output, ref.pooler_output)
    assert len(out.deepstack_features) == len(ref.deepstack_features) > 0
    assert all(torch.equal(a, b) for a, b in zip(out.deepstack_features, ref.deepstack_features))


@pytest.mark.parametrize("glob,world,micro,expect", [
    (1344, 32, 8, (42, 7, 6)),   # paper depth recipe: 42 per GPU = 7 x 6
    (640, 32, 8, (20, 5, 4)),    # object
    (2816, 64, 8, (44, 4, 11)),  # correspondence
    (448, 32, 8, (14, 7, 2)),    # pose
    (1344, 8, 16, (168, 14, 12)),
    (64, 64, 8, (1, 1, 1)),
    (16, 1, 4, (16, 4, 4)),
])
def test_batch_plan_hand_cases(glob, world, micro, expect):
    p = batch_plan(glob, world, micro)
    assert (p.per_device_batch, p.micro_batch, p.grad_accum) == expect


def test_batch_plan_errors():
    with pytest.raises(ValueError, match="global_batch=100 is not divisible by world_size=32"):
        batch_plan(100, 32, 4)
    with pytest.raises(ValueError, match="micro_batch must be a positive integer"):
        batch_plan(64, 8, 0)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 32))
def test_batch_plan_keeps_global_batch(world, per_device, micro):
    p = batch_plan(world * per_device, world, micro)
    assert p.micro_batch * p.grad_accum * world == world * per_device
    assert 1 <= p.micro_batch <= micro
    # the largest feasible micro-batch: no divisor of per_device between it and the request
    assert all(per_device % d for d in range(p.micro_batch + 1, min(micro, per_device) + 1))
