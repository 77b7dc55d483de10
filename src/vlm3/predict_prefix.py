"""Shared-prefix prediction: a record's images are encoded once and the prompt up to its questions
is prefilled once; every question of the record then continues from that KV cache.

Each question is asked as its own single-turn conversation (docs/CONTRACTS.md): its prompt is
`P + S_q`, where the prefix P (chat header, all the record's images) ends at the last
`<|vision_end|>` and the suffix S_q is the question text and the generation prompt. Because the
split sits at a special token, tokenising P and S_q apart gives the ids of the whole prompt. Here:

1. P of several records is prefilled in one left-padded batch (one vision-tower pass per image);
   `Qwen3VLModel.get_rope_index` gives the 3D (mRoPE) positions of the image tokens, and the next
   position after P, `p0 = max position + 1`.
2. The prefix KV rows are gathered per question (a question's row is its record's) into a static
   cache sized for the suffix and the answer, and the left-padded suffixes are run at text
   positions `p0 + 0, 1, ...` (what `generate` gives the text after the last image). Padding sits
   between P and S_q and is masked out, so a question attends to its record's prefix and its own
   tokens only, with the same positions as in the single-turn conversation.
3. Greedy decoding of all the batch's questions at once, one token per step, until every question
   has produced EOS or `max_new_tokens` (EOS suppressed before `min_new_tokens`, as `generate`).

Records are grouped so a group holds about `batch_size` questions, after sorting a window of
records by prefix length (less padding); answers come back keyed by question index. Images are
opened and run through the image processor (PIL/numpy, the CPU's part) in a thread pool, a window
ahead of the model. `fast_decode` (default on CUDA) runs the language model's attention through
`gqa_attention` (grouped-query attention without copying the KV heads: the query heads sharing a
KV head are stacked as query rows), which matters most in the decode steps over long caches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from transformers import AttentionInterface, AttentionMaskInterface, StaticCache
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

VISION_END = "<|vision_end|>"
WINDOW = 2  # batches of questions whose records are sorted together by prefix length (and prepared a window ahead)
FAST = "vlm3_gqa"


def gqa_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """SDPA for grouped-query attention without copying KV heads: query [B, H, Q, D] is seen as
    [B, KV, H/KV * Q, D] against key/value [B, KV, L, D] (the H/KV query heads of a KV head stacked
    as rows) and the mask [B, 1, Q, L] repeated per stacked head. Without a mask (a causal prefill
    without padding) or without grouping it is transformers' `sdpa_attention_forward`."""
    b, h, q, d = query.shape
    kv = key.shape[1]
    if h == kv or attention_mask is None or attention_mask.shape[1] != 1:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    g = h // kv
    mask = attention_mask if attention_mask.shape[2] == 1 else attention_mask.repeat(1, 1, g, 1)
    out = F.scaled_dot_product_attention(query.reshape(b, kv, g * q, d), key, value, attn_mask=mask, scale=scaling)
    return out.view(b, h, q, d).transpose(1, 2).contiguous(), None


AttentionInterface.register(FAST, gqa_attention)
AttentionMaskInterface.register(FAST, sdpa_mask)


def image_inputs(processor, images: list):
    """The image processor's output for one record's images (None without images)."""
    return processor.image_processor(images=images, return_tensors="pt") if images else None


def encode_prefixes(processor, texts: list[str], feats: list) -> dict:
    """What `processor(text=texts, images=<their images>, padding=True)` returns, from each text's
    image features (`image_inputs`): image tokens expanded as the processor does, left padding."""
    tok = processor.tokenizer
    merge = processor.image_processor.merge_size ** 2
    expanded = []
    for text, f in zip(texts, feats):
        parts = text.split(processor.image_token)
        grids = [] if f is None else f["image_grid_thw"]
        if len(parts) != len(grids) + 1:
            raise ValueError(f"{len(parts) - 1} image tokens in the prompt but {len(grids)} images")
        expanded.append(parts[0] + "".join(processor.image_token * int(g.prod() // merge) + p
                                           for g, p in zip(grids, parts[1:])))
    enc = tok(expanded, padding=True, return_tensors="pt")
    enc["mm_token_type_ids"] = (enc["input_ids"] == processor.image_token_id).to(enc["input_ids"].dtype)
    with_images = [f for f in feats if f is not None]
    if with_images:
        enc["pixel_values"] = torch.cat([f["pixel_values"] for f in with_images])
        enc["image_grid_thw"] = torch.cat([f["image_grid_thw"] for f in with_images])
    return enc


def prompt_text(processor, n_images: int, question: str) -> str:
    """The single-turn prompt (chat template with generation prompt) of one question."""
    conv = [{"role": "user", "content": [{"type": "image"}] * n_images + [{"type": "text", "text": question}]}]
    return processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)


def split_prompt(prompt: str, where: str) -> tuple[str, str]:
    """(prefix through the last image, suffix) of a prompt; ValueError when it holds no image."""
    k = prompt.rfind(VISION_END)
    if k < 0:
        raise ValueError(f"{where}: prompt holds no image ({VISION_END!r}); shared-prefix prediction needs one")
    k += len(VISION_END)
    return prompt[:k], prompt[k:]


def _groups(items: list[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """items (record index, questions) in processing order -> groups of record indices holding at
    most batch_size questions each (a record with more is a group of its own)."""
    groups, cur, n = [], [], 0
    for rec, nq in items:
        if cur and n + nq > batch_size:
            groups.append(cur)
            cur, n = [], 0
        cur.append(rec)
        n += nq
    if cur:
        groups.append(cur)
    return groups


def _static_cache(model, prefix, idx: torch.Tensor, max_len: int) -> StaticCache:
    """A static cache of len(idx) rows and max_len slots holding prefix rows idx in its first slots."""
    cache = StaticCache(config=model.config, max_cache_len=max_len)
    lp = prefix.layers[0].keys.shape[2]
    for dst, src in zip(cache.layers, prefix.layers):
        k, v = src.keys.index_select(0, idx), src.values.index_select(0, idx)
        dst.lazy_initialization(k, v)
        dst.keys[:, :, :lp].copy_(k)
        dst.values[:, :, :lp].copy_(v)
        dst.cumulative_length.fill_(lp)
    return cache


@torch.inference_mode()
def _decode(model, tok, cache, mask: torch.Tensor, pos: torch.Tensor, logits: torch.Tensor,
            max_new_tokens: int, min_new_tokens: int) -> list[str]:
    """Greedy decoding from the suffix's last logits; `mask` is the [B, max_len] key mask (ones
    for the slots still to be written), `pos` the [B] position of the first new token."""
    eos = tok.eos_token_id
    n_ctx = cache.get_seq_length()
    n_ctx = int(n_ctx.item()) if torch.is_tensor(n_ctx) else int(n_ctx)
    out = []
    done = torch.zeros(logits.shape[0], dtype=torch.bool, device=logits.device)
    for step in range(max_new_tokens):
        if step < min_new_tokens and eos is not None:
            logits[:, eos] = -float("inf")
        nxt = logits.argmax(-1)
        out.append(nxt)
        done |= nxt == eos
        if step == max_new_tokens - 1:
            break
        # every 4th step: a host sync per step would serialize kernel launches with the GPU's work
        if step >= min_new_tokens and step % 4 == 3 and bool(done.all()):
            break
        n_ctx += 1
        p = (pos + step).view(1, -1, 1).expand(3, -1, 1)
        logits = model(input_ids=nxt[:, None], attention_mask=mask[:, :n_ctx], position_ids=p,
                       past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1].float()
    ids = torch.stack(out, 1).tolist()
    texts = []
    for row in ids:
        if eos in row:
            row = row[:row.index(eos) + 1]
        texts.append(row)
    return [t.strip() for t in tok.batch_decode(texts, skip_special_tokens=True)]


@torch.inference_mode()
def answer(model, processor, records: list[dict], qs: list[dict], load: Callable[[int], list],
           batch_size: int, max_new_tokens: int, min_new_tokens: int = 0,
           fast_decode: bool | None = None) -> Iterator[dict[int, str]]:
    """Yield {question index: answer text} group by group for the questions `qs` (rows of
    `vlm3.predict.questions`, each with its record index `rec`); `load(rec)` opens a record's images."""
    tok = processor.tokenizer
    tok.padding_side = "left"
    by_rec: dict[int, list[int]] = {}
    for i, q in enumerate(qs):
        by_rec.setdefault(q["rec"], []).append(i)
    recs = list(by_rec)
    window = max(1, batch_size) * WINDOW
    windows, start = [], 0
    while start < len(recs):  # windows of about WINDOW batches of questions
        stop, n = start, 0
        while stop < len(recs) and (n < window or stop == start):
            n += len(by_rec[recs[stop]])
            stop += 1
        windows.append(recs[start:stop])
        start = stop
    if fast_decode is None:
        fast_decode = model.device.type == "cuda"
    text_cfg = model.config.get_text_config()
    attn = text_cfg._attn_implementation
    if fast_decode and attn == "sdpa":
        text_cfg._attn_implementation = FAST

    def prepare(r: int):
        images = load(r)
        return sum(im.size[0] * im.size[1] for im in images), image_inputs(processor, images)

    try:
        with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
            ahead = [pool.map(prepare, w) for w in windows[:2]]
            for k, win in enumerate(windows):
                prepared = dict(zip(win, ahead[k]))
                if k + 2 < len(windows):
                    ahead.append(pool.map(prepare, windows[k + 2]))
                prefix, suffix = {}, {}
                for r in win:
                    rec = records[r]
                    for i in by_rec[r]:
                        p, s = split_prompt(prompt_text(processor, len(rec["images"]), qs[i]["question"]),
                                            f"record {rec['id']}")
                        if prefix.setdefault(r, p) != p:
                            raise ValueError(f"record {rec['id']}: its questions' prompts differ before the question")
                        suffix[i] = s
                # pixels stand for the prefix length (visual tokens grow with them)
                order = sorted(win, key=lambda r: (prepared[r][0], r))
                for group in _groups([(r, len(by_rec[r])) for r in order], batch_size):
                    enc = encode_prefixes(processor, [prefix[r] for r in group], [prepared[r][1] for r in group])
                    yield _answer_group(model, tok, enc, group, suffix, by_rec, batch_size, max_new_tokens,
                                        min_new_tokens)
                ahead[k] = None
    finally:
        text_cfg._attn_implementation = attn


def _answer_group(model, tok, enc, group, suffix, by_rec, batch_size, max_new_tokens, min_new_tokens) -> dict[int, str]:
    dev = model.device
    enc = enc.to(dev)
    pos, deltas = model.model.get_rope_index(enc["input_ids"], enc["mm_token_type_ids"],
                                             image_grid_thw=enc.get("image_grid_thw"),
                                             attention_mask=enc["attention_mask"])
    p0 = deltas[:, 0] + enc["attention_mask"].sum(1)  # the position after each prefix
    out = model(**enc, position_ids=pos, use_cache=True, logits_to_keep=1)
    prefix_cache, lp = out.past_key_values, enc["input_ids"].shape[1]
    qids = [(g, i) for g, r in enumerate(group) for i in by_rec[r]]
    qids.sort(key=lambda gi: (len(suffix[gi[1]]), gi[1]))
    answers = {}
    for b in range(0, len(qids), batch_size):
        chunk = qids[b:b + batch_size]
        idx = torch.tensor([g for g, _ in chunk], device=dev)
        sfx = tok([suffix[i] for _, i in chunk], add_special_tokens=False, padding=True,
                  return_tensors="pt").to(dev)
        ls = sfx["input_ids"].shape[1]
        cache = _static_cache(model, prefix_cache, idx, lp + ls + max_new_tokens)
        mask = torch.cat([enc["attention_mask"].index_select(0, idx), sfx["attention_mask"],
                          torch.ones(len(chunk), max_new_tokens, dtype=sfx["attention_mask"].dtype, device=dev)], 1)
        n_real = sfx["attention_mask"].sum(1)
        spos = p0.index_select(0, idx)[:, None] + (sfx["attention_mask"].cumsum(1) - 1).clamp(min=0)
        logits = model(input_ids=sfx["input_ids"], attention_mask=mask[:, :lp + ls],
                       position_ids=spos[None].expand(3, -1, -1), past_key_values=cache, use_cache=True,
                       logits_to_keep=1).logits[:, -1].float()
        texts = _decode(model, tok, cache, mask, p0.index_select(0, idx) + n_real, logits,
                        max_new_tokens, min_new_tokens)
        answers.update({i: t for (_, i), t in zip(chunk, texts)})
    return answers
