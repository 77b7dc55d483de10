"""Qwen3-VL configs with real and tiny shapes, and synthetic token-level samples.

`qwen3vl_4b_config()` reproduces the shapes of Qwen/Qwen3-VL-4B-Instruct's config.json (text: 36
layers, hidden 2560, 32 heads / 8 KV heads of dim 128, FFN 9728, vocab 151936, tied embeddings,
mRoPE sections [24, 20, 20] interleaved, theta 5e6; vision: depth 24, hidden 1024, 16 heads, FFN
4096, patch 16, temporal patch 2, merge 2, out 2560, 2304 position embeddings, deepstack layers
[5, 11, 17]) so randomly initialised weights have the real FLOP and memory profile without a
download. `tiny_qwen3vl_config()` is a CPU-test-sized model of the same architecture.

`synthetic_sample()` builds a tokenised multi-turn sample directly (no tokenizer): a vision-start
token, the image placeholders, vision-end, then text turns; labels keep only "answer" spans, the
rest is ignored, as in answer-only fine-tuning.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import Qwen3VLConfig

from vlm3.utils import rng_for

IGNORE_INDEX = -100


def qwen3vl_4b_config(attn_implementation: str = "sdpa") -> Qwen3VLConfig:
    """Qwen3-VL-4B-Instruct's architecture (random init; shapes from its published config.json)."""
    cfg = Qwen3VLConfig(
        text_config=dict(
            vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
            num_attention_heads=32, num_key_value_heads=8, head_dim=128, hidden_act="silu",
            max_position_embeddings=262144, rms_norm_eps=1e-6, tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                             "mrope_section": [24, 20, 20], "mrope_interleaved": True},
            attention_bias=False, use_cache=False, pad_token_id=151643,
        ),
        vision_config=dict(
            depth=24, hidden_size=1024, hidden_act="gelu_pytorch_tanh", intermediate_size=4096,
            num_heads=16, in_channels=3, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
            out_hidden_size=2560, num_position_embeddings=2304, deepstack_visual_indexes=[5, 11, 17],
        ),
        image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
        vision_end_token_id=151653, tie_word_embeddings=True,
    )
    cfg._attn_implementation = attn_implementation
    return cfg


def tiny_qwen3vl_config(attn_implementation: str = "sdpa", vocab_size: int = 300) -> Qwen3VLConfig:
    """A CPU-sized Qwen3-VL (2 text layers of width 64, 2 vision layers of width 32, patch 4)."""
    cfg = Qwen3VLConfig(
        text_config=dict(
            vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                             "mrope_section": [4, 2, 2], "mrope_interleaved": True},
            tie_word_embeddings=True, use_cache=False, pad_token_id=0,
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, in_channels=3, patch_size=4,
            spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64,
            num_position_embeddings=64, deepstack_visual_indexes=[0],
        ),
        image_token_id=vocab_size - 3, video_token_id=vocab_size - 2,
        vision_start_token_id=vocab_size - 5, vision_end_token_id=vocab_size - 4,
        tie_word_embeddings=True,
    )
    cfg._attn_implementation = attn_implementation
    return cfg


def synthetic_sample(
    config: Qwen3VLConfig, seed: int, key: str, grid: tuple[int, int, int], n_turns: int = 10,
    question_tokens: int = 28, answer_tokens: int = 12,
) -> dict[str, torch.Tensor]:
    """One tokenised sample: [vs, image x n, ve, (question, answer) x n_turns].

    Random token ids below the special ids; labels = ids on answer spans, IGNORE_INDEX elsewhere.
    pixel_values are N(0, 1) floats of shape (t*h*w, C*T*P*P) as Qwen's processor emits.
    """
    rng = rng_for(seed, "synthetic_sample", key)
    v = config.vision_config
    vocab = min(config.text_config.vocab_size, config.vision_start_token_id)
    n_img = int(np.prod(grid)) // v.spatial_merge_size**2
    ids = [config.vision_start_token_id] + [config.image_token_id] * n_img + [config.vision_end_token_id]
    labels = [IGNORE_INDEX] * len(ids)
    for _ in range(n_turns):
        q = rng.integers(1, vocab, question_tokens).tolist()
        a = rng.integers(1, vocab, answer_tokens).tolist()
        ids += q + a
        labels += [IGNORE_INDEX] * len(q) + a
    dim = v.in_channels * v.temporal_patch_size * v.patch_size**2
    pv = rng.standard_normal((int(np.prod(grid)), dim), dtype=np.float32)
    ids_t = torch.tensor(ids, dtype=torch.long)
    return {
        "input_ids": ids_t,
        "labels": torch.tensor(labels, dtype=torch.long),
        "mm_token_type_ids": (ids_t == config.image_token_id).long(),
        "pixel_values": torch.from_numpy(pv),
        "image_grid_thw": torch.tensor([grid], dtype=torch.long),
    }

