"""Shared-prefix prediction answers every question with exactly the text of the plain path (each
question its own single-turn prompt through `generate`), on records of all four tasks."""

from __future__ import annotations

import pytest
import torch
from _tiny import build_micro, ground_plane

from vlm3.predict import load, predict, questions
from vlm3.predict_prefix import encode_prefixes, image_inputs, prompt_text, split_prompt
from vlm3.qa import templates as T
from vlm3.records import read_qa

OBJ = ["distance_data", "width_data", "direction", "left_predicate", "tall_choice"]


def _task_records(depth: list[dict]) -> list[dict]:
    """Records of the four tasks' shapes from the ground-plane images: depth (as written), object
    (one image, region questions), correspondence and pose (two images, pose with 4 questions)."""
    out = [dict(r, id=f"depth/{r['id']}") for r in depth]

    def rec(rid, images, texts):
        msgs = []
        for t, text in enumerate(texts):
            content = ([{"type": "image"}] * len(images) if t == 0 else []) + [{"type": "text", "text": text}]
            msgs += [{"role": "user", "content": content}, {"role": "assistant", "content": "x"}]
        return {"id": rid, "images": images, "messages": msgs,
                "meta": {"targets": [{"kind": "depth", "value": 1.0}] * len(texts)}}

    for i, r in enumerate(depth):
        other = depth[(i + 1) % len(depth)]["images"][0]
        boxes = [[10 * i, 20, 300 + 10 * i, 400], [500, 120 + i, 900, 880]]
        cats = OBJ[i % len(OBJ):] + OBJ[:i % len(OBJ)]
        out.append(rec(f"object/{i}", r["images"], [T.object_question(c, 0, boxes[:T.OBJECT_CATEGORIES[c]["n_regions"]])
                                                    for c in cats[:3]]))
        out.append(rec(f"corr/{i}", [r["images"][0], other],
                       [T.correspondence_question(100 * k + 7 * i, 250 + 13 * k) for k in range(2 + i % 2)]))
        out.append(rec(f"pose/{i}", [r["images"][0], other], list(T.POSE_QUESTIONS.values())))
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("shared")
    gp = ground_plane()
    qa = gp.write_dataset(d / "qa", "train", 4, seed=0, n_q=2)
    build_micro(d, qa)
    # images of several sizes, so prefixes of a batch differ in length (left padding)
    test = gp.write_dataset(d / "qa", "test", 4, seed=1, n_q=3, focal_range=(60.0, 160.0))
    torch.set_num_threads(1)
    model, processor = load(str(d / "init"))
    # larger random weights than the init's, so answers depend on the image and question (the
    # untrained micro model says nearly the same for everything: a weak test)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.copy_(torch.randn(p.shape, generator=g) * 2.0 / p.shape[1] ** 0.5)
    return model, processor, _task_records(read_qa(test))


def test_split_at_vision_end_gives_the_whole_prompts_ids(setup):
    model, processor, recs = setup
    tok = processor.tokenizer
    for rec in (recs[0], recs[-1]):
        text = prompt_text(processor, len(rec["images"]), "How far is the point (12, 34)?")
        pre, suf = split_prompt(text, rec["id"])
        assert pre.endswith("<|vision_end|>") and pre + suf == text
        assert tok(text)["input_ids"] == tok(pre)["input_ids"] + tok(suf, add_special_tokens=False)["input_ids"]


def test_encode_prefixes_is_the_processors_batch(setup):
    model, processor, recs = setup
    from vlm3.train.data import load_images

    group = [recs[0], recs[5], recs[7], recs[2]]  # one and two images, different sizes
    texts = [split_prompt(prompt_text(processor, len(r["images"]), "q"), r["id"])[0] for r in group]
    images = [load_images(r["images"]) for r in group]
    want = processor(text=texts, images=[im for ims in images for im in ims], padding=True, return_tensors="pt")
    got = encode_prefixes(processor, texts, [image_inputs(processor, ims) for ims in images])
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k


def test_fast_decode_attention_matches(setup, monkeypatch):
    """The grouped-query attention (the GPU default) gives the plain path's text here too."""
    from vlm3 import predict_prefix
    from vlm3.train.data import load_images

    model, processor, recs = setup
    plain = predict(model, processor, recs[:8], batch_size=5, max_new_tokens=6, plain=True)
    qs = questions(recs[:8])
    calls = []
    real = predict_prefix.gqa_attention
    monkeypatch.setitem(predict_prefix.AttentionInterface._global_mapping, predict_prefix.FAST,
                        lambda *a, **k: (calls.append(a[1].shape[2]), real(*a, **k))[1])
    fast = {}
    for part in predict_prefix.answer(model, processor, recs[:8], qs, lambda r: load_images(recs[r]["images"]),
                                     16, 6, fast_decode=True):
        fast.update(part)
    assert [fast[i] for i in range(len(qs))] == [p["prediction"] for p in plain]
    assert 1 in calls and max(calls) > 1  # prefill, suffix and decode steps went through it
    assert model.config.get_text_config()._attn_implementation == "sdpa"  # restored


@pytest.mark.parametrize("batch_size", [7, 64])
def test_shared_prefix_text_identical_to_plain(setup, batch_size):
    model, processor, recs = setup
    plain = predict(model, processor, recs, batch_size=5, max_new_tokens=10, plain=True)
    shared = predict(model, processor, recs, batch_size=batch_size, max_new_tokens=10)
    assert len(shared) == len(plain) == 4 * 3 + 4 * 3 + sum(2 + i % 2 for i in range(4)) + 4 * 4
    assert [(r["id"], r["turn"]) for r in shared] == [(r["id"], r["turn"]) for r in plain]
    diff = [(p["id"], p["turn"], p["prediction"], s["prediction"]) for p, s in zip(plain, shared)
            if p["prediction"] != s["prediction"]]
    assert diff == []
    assert len({r["prediction"] for r in plain}) > 20  # answers differ between questions
    for task in ("depth", "object", "corr", "pose"):
        assert any(r["id"].startswith(task) and r["prediction"] for r in shared)


def test_min_new_tokens_forces_length(setup):
    model, processor, recs = setup
    tok = processor.tokenizer
    for plain in (True, False):
        rows = predict(model, processor, recs[:2], batch_size=8, max_new_tokens=4, plain=plain, min_new_tokens=4)
        assert all(len(tok(r["prediction"], add_special_tokens=False)["input_ids"]) >= 1 for r in rows)
    a = predict(model, processor, recs[:3], batch_size=8, max_new_tokens=4, plain=True, min_new_tokens=4)
    b = predict(model, processor, recs[:3], batch_size=8, max_new_tokens=4, min_new_tokens=4)
    assert [r["prediction"] for r in a] == [r["prediction"] for r in b]


def test_decode_state_reused_and_padded(setup, monkeypatch):
    """The static cache of one chunk serves the next ones that fit it (stale slots masked), and
    short chunks are padded to its rows: the answers stay the plain path's."""
    from vlm3 import predict_prefix

    model, processor, recs = setup
    made, fills = [], []
    real_init, real_fill = predict_prefix._DecodeState.__init__, predict_prefix._DecodeState.fill
    monkeypatch.setattr(predict_prefix._DecodeState, "__init__",
                        lambda self, *a: (made.append(a[1:3]), real_init(self, *a))[1])
    monkeypatch.setattr(predict_prefix._DecodeState, "fill", lambda self, prefixes, rec, mask: (
        fills.append((mask.shape[1], len(set(rec)))), real_fill(self, prefixes, rec, mask))[1])
    plain = predict(model, processor, recs, batch_size=5, max_new_tokens=7, plain=True)
    shared = predict(model, processor, recs, batch_size=6, max_new_tokens=7)
    assert [r["prediction"] for r in shared] == [r["prediction"] for r in plain]
    assert all(rows == 6 and max_len % predict_prefix.BUCKET == 0 for rows, max_len in made)
    assert len(made) < len(fills) and len({lp for lp, _ in fills}) > 1  # reused across prefix lengths
    assert any(n == 1 for _, n in fills)  # a one-record group (at most 4 questions) padded to 6 rows


def test_graph_step_sequence_emulated(setup, monkeypatch):
    """The CUDA-graph branch of the decode step on CPU, with the graph emulated as CUDA runs one:
    capturing runs nothing (the cache and its length are put back as they were, the captured
    output holds NaN), a replay runs the captured step on what the buffers hold then. The first
    step of a state is its warm-up's result; the answers stay the plain path's."""
    from contextlib import contextmanager, nullcontext

    from vlm3 import predict_prefix as pp

    model, processor, recs = setup
    real_init, real_forward = pp._DecodeState.__init__, pp._DecodeState._forward
    cap, count = {}, {"capture": 0, "replay": 0}

    def forward(self, m):
        if cap.get("on"):
            cap["state"] = (self, m)
            cap["saved"] = [(la.cumulative_length.clone(), la.keys.clone(), la.values.clone())
                            for la in self.cache.layers]
        return real_forward(self, m)

    class Graph:
        def replay(self):
            count["replay"] += 1
            self.run()

    @contextmanager
    def graph(g, stream=None, capture_error_mode="global"):
        cap["on"] = True
        yield
        cap["on"] = False
        count["capture"] += 1
        st, m = cap["state"]
        for la, (n, k, v) in zip(st.cache.layers, cap["saved"]):
            la.cumulative_length.copy_(n), la.keys.copy_(k), la.values.copy_(v)
        st.out.fill_(float("nan"))
        g.run = lambda: st.out.copy_(real_forward(st, m))

    class Stream:
        def __init__(self, device=None):
            pass

        def wait_stream(self, other):
            pass

    monkeypatch.setattr(pp._DecodeState, "_forward", forward)
    monkeypatch.setattr(pp._DecodeState, "__init__", lambda self, m, rows, max_len, g: real_init(self, m, rows, max_len, True))
    for name, value in [("CUDAGraph", Graph), ("graph", graph), ("Stream", Stream),
                        ("current_stream", lambda *a: Stream()), ("stream", lambda s: nullcontext())]:
        monkeypatch.setattr(torch.cuda, name, value)
    plain = predict(model, processor, recs, batch_size=5, max_new_tokens=7, plain=True)
    shared = predict(model, processor, recs, batch_size=6, max_new_tokens=7)
    assert [r["prediction"] for r in shared] == [r["prediction"] for r in plain]
    assert 1 <= count["capture"] and count["replay"] > 3 * count["capture"]


def test_prefix_prefilled_in_parts(setup, monkeypatch):
    """A group's prefixes prefilled in batches of 3 records (of different lengths, right-aligned
    in the static cache) give the plain path's answers."""
    from vlm3 import predict_prefix

    model, processor, recs = setup
    monkeypatch.setattr(predict_prefix, "PREFILL_RECORDS", 3)
    lengths = []
    real_fill = predict_prefix._DecodeState.fill
    monkeypatch.setattr(predict_prefix._DecodeState, "fill", lambda self, prefixes, rec, mask: (
        lengths.append(sorted({p.layers[0].keys.shape[2] for p in prefixes})), real_fill(self, prefixes, rec, mask))[1])
    plain = predict(model, processor, recs, batch_size=5, max_new_tokens=7, plain=True)
    shared = predict(model, processor, recs, batch_size=20, max_new_tokens=7)
    assert [r["prediction"] for r in shared] == [r["prediction"] for r in plain]
    assert any(len(n) > 1 for n in lengths)  # a chunk's rows come from prefix batches of different lengths
