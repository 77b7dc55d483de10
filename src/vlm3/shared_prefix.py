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
records by prefix length (less padding); answers come back keyed by question index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from transformers import StaticCache

VISION_END = "<|vision_end|>"
WINDOW = 8  # groups of records sorted together by prefix length


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
        if step == max_new_tokens - 1 or bool(done.all()):
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
           batch_size: int, max_new_tokens: int, min_new_tokens: int = 0) -> Iterator[dict[int, str]]:
    """Yield {question index: answer text} group by group for the questions `qs` (rows of
    `vlm3.predict.questions`, each with its record index `rec`); `load(rec)` opens a record's images."""
    tok = processor.tokenizer
    tok.padding_side = "left"
    dev = model.device
    by_rec: dict[int, list[int]] = {}
    for i, q in enumerate(qs):
        by_rec.setdefault(q["rec"], []).append(i)
    recs = list(by_rec)
    window = max(1, batch_size) * WINDOW
    start = 0
    while start < len(recs):
        # a window of records (about WINDOW batches of questions), sorted by prefix length
        stop, n = start, 0
        while stop < len(recs) and (n < window or stop == start):
            n += len(by_rec[recs[stop]])
            stop += 1
        prefix, suffix = {}, {}
        for r in recs[start:stop]:
            rec = records[r]
            for i in by_rec[r]:
                p, s = split_prompt(prompt_text(processor, len(rec["images"]), qs[i]["question"]),
                                    f"record {rec['id']}")
                if prefix.setdefault(r, p) != p:
                    raise ValueError(f"record {rec['id']}: its questions' prompts differ before the question")
                suffix[i] = s
        images = {r: load(r) for r in recs[start:stop]}
        # pixels stand for the prefix length (visual tokens grow with them) without processing twice
        size = {r: sum(im.size[0] * im.size[1] for im in images[r]) for r in recs[start:stop]}
        order = sorted(recs[start:stop], key=lambda r: (size[r], r))
        for group in _groups([(r, len(by_rec[r])) for r in order], batch_size):
            yield _answer_group(model, processor, group, prefix, suffix, images, by_rec, batch_size,
                                max_new_tokens, min_new_tokens, dev)
        start = stop


def _answer_group(model, processor, group, prefix, suffix, images, by_rec, batch_size,
                  max_new_tokens, min_new_tokens, dev) -> dict[int, str]:
    tok = processor.tokenizer
    enc = processor(text=[prefix[r] for r in group], images=[im for r in group for im in images[r]] or None,
                    padding=True, return_tensors="pt").to(dev)
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
