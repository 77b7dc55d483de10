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
   A decode step has fixed shapes: chunks are padded to `rows` questions, the cache length is
   rounded up to `BUCKET` slots and the key mask is a [rows, 1, 1, slots] tensor whose not yet
   written slots are masked; so one cache with its input buffers (`_DecodeState`) serves every
   chunk that fits it, and on CUDA with `cuda_graph` (opt-in: identical text and 5 % faster on one
   H100, benchmarks/RESULTS.md) the step is captured once as a CUDA graph and replayed (no
   per-kernel launch cost).

Records are grouped so a group holds about `batch_size` questions, after sorting a window of
records by prefix length (less padding); answers come back keyed by question index. A group's
prefixes are prefilled in batches of `PREFILL_RECORDS` records, each as soon as it is prepared. A
thread pool does the CPU's part ahead of the model, batch by batch: opening the images, the image
processor (PIL/numpy), tokenising the prefixes and their mRoPE positions (`get_rope_index`, on CPU
tensors: no host syncs), and, for the sdpa/eager vision attention, its segments (`image_cu_seqlens`,
kept on the CPU: no host sync per vision layer; on CUDA `vlm3.predict` selects the varlen vision
attention, one call per layer, which takes them on the GPU); on CUDA the inputs are page-locked
there and copied without blocking.
`fast_decode` (default on CUDA) runs the language model's attention through `gqa_attention`
(grouped-query attention without copying the KV heads: the query heads sharing a KV head are
stacked as query rows), which matters most in the decode steps over long caches. `timer`, a
profiling hook, times the phases (`benchmarks/eval_throughput.py --phases`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from transformers import AttentionInterface, AttentionMaskInterface, StaticCache
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask
from transformers.vision_utils import get_vision_cu_seqlens

VISION_END = "<|vision_end|>"
WINDOW = 2  # batches of questions whose records are sorted together by prefix length (and prepared a window ahead)
FAST = "vlm3_gqa"
BUCKET = 64  # static cache lengths are rounded up to this, so chunks of similar lengths share one
PREFILL_RECORDS = 8  # records per prefix prefill batch (the model starts on a group before all its images are ready)


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


def _phase(timer, name: str):
    """`timer(name)` (a context manager timing one phase, `answer`'s profiling hook) or a no-op."""
    return nullcontext() if timer is None else timer(name)


def _bucket(n: int) -> int:
    return -(-n // BUCKET) * BUCKET


class _DecodeState:
    """A static KV cache of `rows` rows and `max_len` slots with the decode step's input buffers
    (token ids [rows, 1], mRoPE positions [3, rows, 1], key mask [rows, 1, 1, max_len]), reused by
    every chunk of questions that fits it. The mask is a fixed-shape 4D bool tensor (transformers
    uses a 4D mask as given), so a decode step has the same shapes whatever the chunk's lengths; the
    slot a step writes is the cache's `cumulative_length` (a tensor advanced in place). With
    `graph`, the first decode step runs eagerly on a side stream (warm-up) and is then captured as
    a CUDA graph that every later step replays."""

    def __init__(self, model, rows: int, max_len: int, graph: bool):
        dev = model.device
        self.rows, self.max_len, self.use_graph = rows, max_len, graph
        self.cache = StaticCache(config=model.config, max_cache_len=max_len)
        self.ids = torch.zeros(rows, 1, dtype=torch.long, device=dev)
        self.pos = torch.zeros(3, rows, 1, dtype=torch.long, device=dev)
        self.mask = torch.zeros(rows, 1, 1, max_len, dtype=torch.bool, device=dev)
        self.graph = self.stream = self.out = None

    def fits(self, rows: int, need: int) -> bool:
        """Whether a chunk of `rows` rows needing `need` slots can use this state (at most two
        buckets of masked slots more than it needs)."""
        return rows == self.rows and need <= self.max_len <= need + 2 * BUCKET

    def fill(self, prefixes: list, rec: list[int], mask: torch.Tensor) -> None:
        """Each row's prefix into the first `lp` slots: row j is the group's record `rec[j]`, whose
        KV is row `rec[j] % PREFILL_RECORDS` of `prefixes[rec[j] // PREFILL_RECORDS]` (the group's
        prefix caches, left-padded, right-aligned at slot lp); `mask` [rows, lp] (0 at padding)
        goes into the 4D mask, every later slot masked."""
        dev, lp = mask.device, mask.shape[1]
        parts = []  # (prefix cache, its rows here or None for all, their rows in it)
        for p, prefix in enumerate(prefixes):
            rows = [j for j, g in enumerate(rec) if g // PREFILL_RECORDS == p]
            if rows:
                local = torch.tensor([rec[j] % PREFILL_RECORDS for j in rows], device=dev)
                parts.append((prefix, None if len(rows) == len(rec) else torch.tensor(rows, device=dev), local))
        for li, dst in enumerate(self.cache.layers):
            if not dst.is_initialized:
                k, v = prefixes[0].layers[li].keys, prefixes[0].layers[li].values
                dst.lazy_initialization(k.new_empty(self.rows, k.shape[1], 0, k.shape[3]),
                                        v.new_empty(self.rows, v.shape[1], 0, v.shape[3]))
            for prefix, rows, local in parts:
                src = prefix.layers[li]
                n = src.keys.shape[2]
                k, v = src.keys.index_select(0, local), src.values.index_select(0, local)
                if rows is None:
                    dst.keys[:, :, lp - n:lp].copy_(k)
                    dst.values[:, :, lp - n:lp].copy_(v)
                else:
                    dst.keys[rows, :, lp - n:lp] = k
                    dst.values[rows, :, lp - n:lp] = v
            dst.cumulative_length.fill_(lp)
        self.mask.zero_()
        self.mask[:, 0, 0, :lp] = mask.bool()

    def _forward(self, model) -> torch.Tensor:
        return model(input_ids=self.ids, attention_mask=self.mask, position_ids=self.pos,
                     past_key_values=self.cache, use_cache=True, logits_to_keep=1).logits

    def step(self, model, ids: torch.Tensor, pos: torch.Tensor, slot: int) -> torch.Tensor:
        """Float logits [rows, vocab] of tokens `ids` [rows] at positions `pos` [rows], written
        to cache slot `slot` (the cache's current length)."""
        self.ids.copy_(ids[:, None])
        self.pos.copy_(pos.view(1, -1, 1).expand(3, -1, 1))
        self.mask[:, 0, 0, slot] = True
        if not self.use_graph:
            return self._forward(model)[:, -1].float()
        if self.graph is not None:
            self.graph.replay()
            return self.out[:, -1].to(torch.float32, copy=True)
        # warm-up on a side stream (lazy initialisations out of the capture): this step's result
        self.stream = torch.cuda.Stream(device=model.device)
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            logits = self._forward(model)[:, -1].to(torch.float32, copy=True)
        torch.cuda.current_stream().wait_stream(self.stream)
        # capturing runs nothing: the cache, its length and the buffers stay as the warm-up left them
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream, capture_error_mode="thread_local"):
            self.out = self._forward(model)
        self.graph = graph
        return logits


@torch.inference_mode()
def _decode(model, tok, state: _DecodeState, n_ctx: int, pos: torch.Tensor, logits: torch.Tensor, n: int,
            max_new_tokens: int, min_new_tokens: int) -> torch.Tensor:
    """Greedy decoding from the suffix's last logits [rows, vocab]; the cache holds `n_ctx` slots,
    `pos` [rows] is the position of the first new token; the first `n` rows are questions (the
    others pad the chunk to the state's rows): their new tokens [n, steps] are returned."""
    eos = tok.eos_token_id
    out = []
    done = torch.arange(logits.shape[0], device=logits.device) >= n
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
        logits = state.step(model, nxt, pos + step, n_ctx + step)
    return torch.stack(out, 1)[:n]


def _texts(tok, ids: torch.Tensor) -> list[str]:
    """Answer texts of token rows: cut after the first EOS, special tokens dropped, stripped."""
    eos = tok.eos_token_id
    texts = []
    for row in ids.tolist():
        if eos in row:
            row = row[:row.index(eos) + 1]
        texts.append(row)
    return [t.strip() for t in tok.batch_decode(texts, skip_special_tokens=True)]


@torch.inference_mode()
def answer(model, processor, records: list[dict], qs: list[dict], load: Callable[[int], list],
           batch_size: int, max_new_tokens: int, min_new_tokens: int = 0,
           fast_decode: bool | None = None, cuda_graph: bool = False, timer=None) -> Iterator[dict[int, str]]:
    """Yield {question index: answer text} group by group for the questions `qs` (rows of
    `vlm3.predict.questions`, each with its record index `rec`); `load(rec)` opens a record's images.
    `cuda_graph` (default off; CUDA only) replays the decode step as a CUDA graph. `timer(name)`, when
    given, returns a context manager timing one phase (called from the worker threads too)."""
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
    cuda = model.device.type == "cuda"
    fast_decode = cuda if fast_decode is None else fast_decode
    if cuda_graph and not cuda:
        raise ValueError(f"cuda_graph: the model is on {model.device}, CUDA graphs need a CUDA device")
    rows = min(batch_size, len(qs))  # every chunk is padded to this many rows (one decode state)
    text_cfg = model.config.get_text_config()
    attn = text_cfg._attn_implementation
    if fast_decode and attn == "sdpa":
        text_cfg._attn_implementation = FAST
    pixel_dtype = model.model.visual.dtype
    pin = cuda  # the prefix inputs are page-locked in the pool and copied without blocking
    # sdpa and eager vision attention split the patches per image with cu_seqlens.tolist() (flash takes it on the GPU)
    split_vision = model.config.vision_config._attn_implementation in ("sdpa", "eager")
    lock = threading.Lock()  # the fast tokenizer cannot be used by two threads at once
    prefix, suffix, loads = {}, {}, {}

    def load_one(r: int):
        with _phase(timer, "images_load"):
            images = load(r)
        return sum(im.size[0] * im.size[1] for im in images), images

    def features(r: int):
        images = loads[r].result()[1]
        with _phase(timer, "images_process"):
            f = image_inputs(processor, images)
            if f is not None:  # the vision tower's dtype (it casts to it): half the bytes to copy
                f["pixel_values"] = f["pixel_values"].to(pixel_dtype)
        return f

    def prep_prefix(part: list[int], feats: dict):
        """The model inputs of the prefix batch of records `part` with their mRoPE positions, made
        on the CPU (page-locked for a CUDA model), its key mask and the position after each prefix."""
        fs = [feats[r].result() for r in part]
        with _phase(timer, "prefix_encode_rope"):
            with lock:
                enc = encode_prefixes(processor, [prefix[r] for r in part], fs)
            pos, deltas = model.model.get_rope_index(enc["input_ids"], enc["mm_token_type_ids"],
                                                     image_grid_thw=enc.get("image_grid_thw"),
                                                     attention_mask=enc["attention_mask"])
            inputs = {**enc, "position_ids": pos}
            if pin:
                inputs = {k: v.pin_memory() for k, v in inputs.items()}
            if "image_grid_thw" in enc and split_vision:  # the vision tower's attention segments as a CPU
                # tensor (transformers' precomputed kwarg): no host sync in each vision layer
                inputs["image_cu_seqlens"] = get_vision_cu_seqlens(enc["image_grid_thw"])
        return inputs, enc["attention_mask"], deltas[:, 0] + enc["attention_mask"].sum(1)

    def submit_loads(k: int) -> None:
        for r in windows[k] if k < len(windows) else []:
            loads[r] = pool.submit(load_one, r)

    def plan(k: int) -> list:
        """Window k: its prompts, its records sorted by pixels (prefix length) into groups, the
        preparation of their prefill batches (PREFILL_RECORDS records each) submitted to the pool in
        order (a task only waits on tasks submitted before it)."""
        win = windows[k]
        with _phase(timer, "prompts"):
            for r in win:
                rec = records[r]
                for i in by_rec[r]:
                    p, s = split_prompt(prompt_text(processor, len(rec["images"]), qs[i]["question"]),
                                        f"record {rec['id']}")
                    if prefix.setdefault(r, p) != p:
                        raise ValueError(f"record {rec['id']}: its questions' prompts differ before the question")
                    suffix[i] = s
        with _phase(timer, "prep_wait"):
            pixels = {r: loads[r].result()[0] for r in win}
        order = sorted(win, key=lambda r: (pixels[r], r))
        feats, out = {}, []
        for group in _groups([(r, len(by_rec[r])) for r in order], batch_size):
            parts = []
            for p in range(0, len(group), PREFILL_RECORDS):
                part = group[p:p + PREFILL_RECORDS]
                feats.update({r: pool.submit(features, r) for r in part})
                parts.append(pool.submit(prep_prefix, part, feats))
            out.append((group, parts))
        return out

    holder: dict = {}  # the decode state, reused by the chunks that fit it
    try:
        with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
            submit_loads(0)
            planned = plan(0)
            submit_loads(1)
            for k in range(len(windows)):
                current = planned
                for j, (group, parts) in enumerate(current):
                    if j == len(current) - 1 and k + 1 < len(windows):  # prepared while this group runs
                        planned = plan(k + 1)
                        submit_loads(k + 2)
                    yield _answer_group(model, tok, lock, parts, group, suffix, by_rec, batch_size, rows,
                                        holder, max_new_tokens, min_new_tokens, cuda_graph, timer)
                for r in windows[k]:
                    loads.pop(r, None)
                    prefix.pop(r, None)
    finally:
        holder.clear()
        text_cfg._attn_implementation = attn


def _prefill(model, parts: list, timer) -> tuple[list, torch.Tensor, torch.Tensor]:
    """Prefill the group's prefix batches, each as soon as the pool has prepared it: (their
    caches, the group's prefix key mask [records, lp] (left padding to the longest batch), the
    position after each record's prefix [records])."""
    dev = model.device
    caches, masks, p0 = [], [], []
    for fut in parts:
        with _phase(timer, "prep_wait"):
            inputs, mask, after = fut.result()
        with _phase(timer, "prefix_prefill"):
            masks.append(mask)
            p0.append(after)
            inputs = {k: v if k == "image_cu_seqlens" else v.to(dev, non_blocking=True) for k, v in inputs.items()}
            caches.append(model(**inputs, use_cache=True, logits_to_keep=1).past_key_values)
    lp = max(m.shape[1] for m in masks)
    mask = torch.cat([F.pad(m, (lp - m.shape[1], 0)) for m in masks])
    return caches, mask.to(dev), torch.cat(p0).to(dev)


def _answer_group(model, tok, lock, parts, group, suffix, by_rec, batch_size, rows, holder,
                  max_new_tokens, min_new_tokens, cuda_graph, timer) -> dict[int, str]:
    dev = model.device
    prefixes, group_mask, p0 = _prefill(model, parts, timer)
    lp = group_mask.shape[1]
    qids = [(g, i) for g, r in enumerate(group) for i in by_rec[r]]
    qids.sort(key=lambda gi: (len(suffix[gi[1]]), gi[1]))
    answers = {}
    for b in range(0, len(qids), batch_size):
        chunk = qids[b:b + batch_size]
        full = chunk + [chunk[0]] * (rows - len(chunk))  # padded with copies of the first question
        with _phase(timer, "suffix_tokenise"):
            with lock:
                sfx = tok([suffix[i] for _, i in full], add_special_tokens=False, padding=True, return_tensors="pt")
            sfx = sfx.to(dev)
            idx = torch.tensor([g for g, _ in full], device=dev)
        ls = sfx["input_ids"].shape[1]
        with _phase(timer, "cache_fill"):
            state = holder.get("state")
            if state is None or not state.fits(rows, lp + ls + max_new_tokens):
                holder.clear()
                state = None  # the old cache is freed before the new one is allocated
                state = holder["state"] = _DecodeState(model, rows, _bucket(lp + ls + max_new_tokens), cuda_graph)
            pmask = group_mask.index_select(0, idx)
            state.fill(prefixes, [g for g, _ in full], pmask)
        with _phase(timer, "suffix_prefill"):
            state.mask[:, 0, 0, lp:lp + ls] = sfx["attention_mask"].bool()
            n_real = sfx["attention_mask"].sum(1)
            spos = p0.index_select(0, idx)[:, None] + (sfx["attention_mask"].cumsum(1) - 1).clamp(min=0)
            logits = model(input_ids=sfx["input_ids"], attention_mask=torch.cat([pmask, sfx["attention_mask"]], 1),
                           position_ids=spos[None].expand(3, -1, -1), past_key_values=state.cache, use_cache=True,
                           logits_to_keep=1).logits[:, -1].float()
        with _phase(timer, "decode"):
            ids = _decode(model, tok, state, lp + ls, p0.index_select(0, idx) + n_real, logits, len(chunk),
                          max_new_tokens, min_new_tokens)
        with _phase(timer, "text_decode"):
            with lock:
                texts = _texts(tok, ids)
        answers.update({i: t for (_, i), t in zip(chunk, texts)})
    return answers
