"""Tiny Qwen3-VL build: tokenizer, chat template, processor, answer-only labels, save/reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from _tiny import MICRO, build_tiny, ground_plane  # noqa: F401 (test_train_distributed/_throughput load these from here)
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from transformers import Qwen3VLForConditionalGeneration

from vlm3.model.build import build, load_model_config
from vlm3.model.build import main as build_main
from vlm3.model.processor import CHAT_TEMPLATE, SPECIAL_TOKENS, load_processor, render_segments
from vlm3.records import read_qa
from vlm3.train.data import IGNORE, QACollator, QADataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    d = tmp_path_factory.mktemp("micro")
    build_tiny(d, 6, n_q=3)
    return d


def test_tiny_config_file_loads_and_builds_expected_sizes():
    cfg = load_model_config(ROOT / "config/tiny_model.yaml")
    assert cfg["vision"]["patch_size"] * cfg["vision"]["spatial_merge_size"] == 16  # one token / 16x16 px
    assert sum(cfg["text"]["mrope_section"]) * 2 == cfg["text"]["head_dim"]


def test_bad_config_is_a_clear_error(tmp_path):
    bad = dict(MICRO, text=dict(MICRO["text"], mrope_section=[4, 4, 4]))
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="mrope_section"):
        load_model_config(tmp_path / "bad.yaml")
    (tmp_path / "lacks.yaml").write_text(yaml.safe_dump(dict(MICRO, vision={"depth": 2})))
    with pytest.raises(ValueError, match=r"lacks\.yaml: section 'vision' lacks \['hidden_size', 'intermediate_size', "
                                         r"'num_heads', 'patch_size', 'spatial_merge_size', 'temporal_patch_size', "
                                         r"'num_position_embeddings', 'deepstack_visual_indexes'\]"):
        load_model_config(tmp_path / "lacks.yaml")
    with pytest.raises(ValueError, match=r"--config .*missing\.yaml: no such file"):
        load_model_config(tmp_path / "missing.yaml")


def test_tokenizer_digits_and_specials(micro):
    tok = load_processor(micro / "init").tokenizer
    assert tok.tokenize("03.52 meters")[:5] == ["0", "3", ".", "5", "2"]
    for d in "0123456789":
        assert len(tok(d, add_special_tokens=False)["input_ids"]) == 1
    for s in SPECIAL_TOKENS:
        ids = tok(s, add_special_tokens=False)["input_ids"]
        assert ids == [tok.convert_tokens_to_ids(s)]
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    # merges cross spaces: the fixed template phrase is far fewer tokens than words, digits stay single
    q = "How far is the pixel at (609, 1396) from the camera? Both x and y are normalized to between [0, 2000)."
    pieces = tok.tokenize(q)
    assert len(pieces) < 30 and [p for p in pieces if any(c.isdigit() for c in p)] == list("609139602000")


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="0123456789.,() abcdefgmrstxyzHFB?[]-+°=<>|_\n", max_size=40))
def test_tokenizer_round_trip(micro_tok, text):
    assert micro_tok.decode(micro_tok(text, add_special_tokens=False)["input_ids"]) == text


@pytest.fixture(scope="module")
def micro_tok(micro):
    return load_processor(micro / "init").tokenizer


def test_segments_equal_chat_template(micro):
    proc = load_processor(micro / "init")
    for rec in read_qa(micro / "qa/train.jsonl"):
        text = proc.apply_chat_template(rec["messages"], tokenize=False)
        assert "".join(s for s, _ in render_segments(rec["messages"])) == text
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q1"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "A1"}]},
            {"role": "user", "content": [{"type": "text", "text": "Q2"}]},
            {"role": "assistant", "content": "A2"}]
    assert render_segments(msgs) == [
        ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Q1<|im_end|>\n<|im_start|>assistant\n", False),
        ("A1<|im_end|>", True),
        ("\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n", False),
        ("A2<|im_end|>", True),
        ("\n", False)]
    assert CHAT_TEMPLATE  # the saved tokenizer/processor carry it
    with pytest.raises(ValueError, match="unknown role"):
        render_segments([{"role": "robot", "content": "x"}])


def test_collator_matches_processor_and_masks_only_answers(micro):
    proc = load_processor(micro / "init")
    ds = QADataset(micro / "qa/train.jsonl")
    batch = QACollator(proc)([ds[0], ds[1]])
    tok = proc.tokenizer
    for b in range(2):
        rec = ds[b]
        ref = proc(text=[proc.apply_chat_template(rec["messages"], tokenize=False)],
                   images=[Image.open(rec["images"][0]).convert("RGB")], return_tensors="pt")
        n = int(batch["attention_mask"][b].sum())
        assert torch.equal(batch["input_ids"][b, :n], ref["input_ids"][0])
        assert torch.equal(batch["mm_token_type_ids"][b, :n], ref["mm_token_type_ids"][0])
        assert (batch["input_ids"][b, n:] == tok.pad_token_id).all()
        lab = batch["labels"][b]
        kept = lab[lab != IGNORE].tolist()
        answers = [m["content"][0]["text"] for m in rec["messages"] if m["role"] == "assistant"]
        # exactly the answers and their closing <|im_end|>, nothing else
        assert tok.decode(kept) == "".join(a + "<|im_end|>" for a in answers)
        expected = sum(len(tok(a, add_special_tokens=False)["input_ids"]) + 1 for a in answers)
        assert len(kept) == expected
        keep = lab != IGNORE
        assert torch.equal(lab[keep], batch["input_ids"][b][keep])
    # 128x96 image, 8 px patches merged 2x2 -> 8 x 6 = 48 visual tokens per image
    assert batch["image_grid_thw"].tolist() == [[1, 12, 16], [1, 12, 16]]
    assert int(batch["mm_token_type_ids"][0].sum()) == 48


def test_known_record_labels_exact(micro, tmp_path):
    proc = load_processor(micro / "init")
    Image.new("RGB", (32, 32), (10, 20, 30)).save(tmp_path / "a.png")
    rec = {"id": "x", "images": [str(tmp_path / "a.png")], "messages": [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "d?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "1.5"}]},
        {"role": "user", "content": [{"type": "text", "text": "e?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "20"}]}]}
    tok = proc.tokenizer
    batch = QACollator(proc)([rec])
    ids, lab = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    end = tok.convert_tokens_to_ids("<|im_end|>")
    d = [tok.convert_tokens_to_ids(c) for c in "1.520"]
    # 32x32 px -> grid 4x4 patches -> 4 visual tokens; answers "1.5" and "20" are digit tokens
    assert ids.count(proc.image_token_id) == 4
    assert [x for x in lab if x != IGNORE] == [d[0], d[1], d[2], end, d[3], d[4], end]
    # every kept label sits right where its token is
    first = lab.index(d[0])
    assert ids[first:first + 4] == [d[0], d[1], d[2], end] and tok.decode(ids[first - 1]).endswith("\n")


def test_save_reload_and_determinism(micro, tmp_path):
    cfg = load_model_config(micro / "micro.yaml")
    model, proc = build(cfg, [micro / "qa/train.jsonl"], seed=0)
    reloaded = Qwen3VLForConditionalGeneration.from_pretrained(micro / "init")
    sd1, sd2 = model.state_dict(), reloaded.state_dict()
    assert sd1.keys() == sd2.keys() and all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert reloaded.config.text_config.vocab_size == len(proc.tokenizer)
    assert reloaded.config.image_token_id == proc.image_token_id
    build_main(["--config", str(micro / "micro.yaml"), "--qa", str(micro / "qa/train.jsonl"),
                "--seed", "0", "--out", str(tmp_path / "again")])
    for name in ("model.safetensors", "tokenizer.json", "config.json", "processor_config.json"):
        assert (tmp_path / "again" / name).read_bytes() == (micro / "init" / name).read_bytes(), name
    other, _ = build(cfg, [micro / "qa/train.jsonl"], seed=1)
    assert not torch.equal(other.state_dict()["lm_head.weight"], sd1["lm_head.weight"])
    # the reloaded model runs a forward pass on a collated batch
    batch = QACollator(load_processor(micro / "init"))(QADataset(micro / "qa/train.jsonl").records[:2])
    out = reloaded(**batch)
    assert torch.isfinite(out.loss) and out.logits.shape[-1] == len(proc.tokenizer)


def test_bad_qa_inputs(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "images": [], "messages": [}\n')
    with pytest.raises(ValueError, match=r"QA file .*bad\.jsonl:1: not valid JSON"):
        QADataset(tmp_path / "bad.jsonl")
    rec = {"id": "a", "images": ["x.png", "y.png"],
           "messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "q"}]}]}
    (tmp_path / "mismatch.jsonl").write_text(json.dumps(rec) + "\n")
    with pytest.raises(ValueError, match=r"QA file .*mismatch\.jsonl:1: 1 image items but 2 image paths"):
        QADataset(tmp_path / "mismatch.jsonl")
    with pytest.raises(ValueError, match=r"--qa .*nope\.jsonl: no such file"):
        build_main(["--config", str(ROOT / "config/tiny_model.yaml"), "--qa", str(tmp_path / "nope.jsonl"),
                    "--out", str(tmp_path / "m")])
    assert not (tmp_path / "m").exists()


_chat_text = st.text(alphabet="abcxyz0123456789 .,?()[]\n", min_size=1, max_size=30)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_chat_text, _chat_text), min_size=1, max_size=4))
def test_segments_and_labels_round_trip(micro_proc, turns):
    """Any text-only chat: segments render the template; kept labels decode to exactly the answers."""
    msgs = []
    for q, a in turns:
        msgs += [{"role": "user", "content": [{"type": "text", "text": q}]},
                 {"role": "assistant", "content": [{"type": "text", "text": a}]}]
    assert "".join(s for s, _ in render_segments(msgs)) == micro_proc.apply_chat_template(msgs, tokenize=False)
    batch = QACollator(micro_proc)([{"id": "h", "images": [], "messages": msgs}])
    lab = batch["labels"][0]
    tok = micro_proc.tokenizer
    assert tok.decode(lab[lab != IGNORE].tolist()) == "".join(a + "<|im_end|>" for _, a in turns)
    full = tok(micro_proc.apply_chat_template(msgs, tokenize=False), add_special_tokens=False)["input_ids"]
    assert batch["input_ids"][0].tolist() == full


@pytest.fixture(scope="module")
def micro_proc(micro):
    return load_processor(micro / "init")
