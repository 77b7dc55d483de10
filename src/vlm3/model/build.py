"""Build the tiny Qwen3-VL model offline: tokenizer, processor and a random-init model.

    python -m vlm3.model.build --config config/tiny_model.yaml \
        --qa results/qa/depth/synthetic/train.jsonl [more.jsonl ...] --seed 0 --out results/models/tiny-init

Tokenizer: byte-level BPE (as Qwen's) trained with the `tokenizers` library on every text of the
given QA files, with every digit pre-split into its own token so numbers compose digit by digit,
and Qwen's chat special tokens. Model: `Qwen3VLForConditionalGeneration(config)` with the sizes of
the YAML file, vocabulary = tokenizer size, initialised from `torch.manual_seed(seed)`.
The output folder is a `save_pretrained` folder (model safetensors, tokenizer, processor,
generation config) that `from_pretrained` reloads; it is written to a temporary folder and renamed.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    PreTrainedTokenizerFast,
    Qwen2VLImageProcessorPil,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
)

from vlm3.model.processor import CHAT_TEMPLATE, SPECIAL_TOKENS, ImageOnlyQwen3VLProcessor
from vlm3.records import read_qa_lines
from vlm3.staging import replace_dir, stage_dir
from vlm3.utils import load_mapping

log = logging.getLogger(__name__)

# Fixed strings the chat template adds around every message, so they tokenise compactly too.
_TEMPLATE_TEXTS = ["user\n", "assistant\n", "system\n", "\n"]
# Keys of the YAML's text / vision sections that go to transformers' Qwen3-VL text / vision
# configs under the same names (build_config adds the derived ones).
TEXT_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
             "num_key_value_heads", "head_dim", "max_position_embeddings")
VISION_KEYS = ("depth", "hidden_size", "intermediate_size", "num_heads", "patch_size",
               "spatial_merge_size", "temporal_patch_size", "num_position_embeddings")
_REQUIRED = {"text": TEXT_KEYS + ("rope_theta", "mrope_section"),
             "vision": VISION_KEYS + ("deepstack_visual_indexes",),
             "image": ("min_pixels", "max_pixels", "image_mean", "image_std"),
             "tokenizer": ("vocab_size",)}


def load_model_config(path: str | Path) -> dict:
    """Read and check the tiny-model YAML (sections tokenizer, text, vision, image)."""
    path = Path(path)
    cfg = load_mapping(path, "--config")
    for key, needed in _REQUIRED.items():
        if not isinstance(cfg.get(key), dict):
            raise ValueError(f"--config {path}: missing section {key!r}")
        if missing := [k for k in needed if k not in cfg[key]]:
            raise ValueError(f"--config {path}: section {key!r} lacks {missing}")
    t = cfg["text"]
    if sum(t["mrope_section"]) * 2 != t["head_dim"]:
        raise ValueError(f"--config {path}: text.mrope_section must sum to head_dim / 2 = {t['head_dim'] // 2}")
    if cfg["vision"]["depth"] <= max(cfg["vision"].get("deepstack_visual_indexes", [0]) or [0]):
        raise ValueError(f"--config {path}: vision.deepstack_visual_indexes must be < vision.depth")
    return cfg


def qa_texts(paths: list[str | Path]) -> list[str]:
    """Every user and assistant text of the given QA jsonl files, in file order."""
    texts: list[str] = []
    for p in paths:
        for n, rec in read_qa_lines(p, "--qa", need_targets=False):
            try:
                for msg in rec["messages"]:
                    content = msg["content"]
                    if isinstance(content, str):
                        texts.append(content)
                    else:
                        texts.extend(item["text"] for item in content if item.get("type") == "text")
            except (KeyError, TypeError) as e:
                raise ValueError(f"--qa {p}:{n}: not a QA record ({e})") from e
    if not texts:
        raise ValueError(f"--qa {[str(p) for p in paths]}: no text found")
    return texts


def train_tokenizer(texts: list[str], vocab_size: int, split_words: bool = False) -> PreTrainedTokenizerFast:
    """Byte-level BPE with single-digit tokens and Qwen's special tokens (deterministic).

    With `split_words=False` merges may cross spaces (as SentencePiece does), so the fixed
    phrases of the QA templates ("How far is the pixel at (") become single tokens: the same
    questions take about 40 % fewer tokens, which is training time on a CPU. Digits are always
    isolated, so numbers still compose digit by digit. `split_words=True` is GPT-2/Qwen word
    splitting.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            # Every digit is its own pre-token (Qwen does the same), so no merge spans digits.
            pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=split_words),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts + _TEMPLATE_TEXTS, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        chat_template=CHAT_TEMPLATE,
        model_max_length=4096,
        extra_special_tokens={},
    )


def build_processor(cfg: dict, tokenizer: PreTrainedTokenizerFast) -> ImageOnlyQwen3VLProcessor:
    v, im = cfg["vision"], cfg["image"]
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=v["patch_size"],
        temporal_patch_size=v["temporal_patch_size"],
        merge_size=v["spatial_merge_size"],
        min_pixels=im["min_pixels"],
        max_pixels=im["max_pixels"],
        image_mean=im["image_mean"],
        image_std=im["image_std"],
    )
    return ImageOnlyQwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


def special_token_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    """The Qwen3VLConfig keys of the vision special tokens, as ids of `tokenizer`."""
    return {name: tokenizer.convert_tokens_to_ids(tokname) for name, tokname in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")]}


def build_config(cfg: dict, tokenizer: PreTrainedTokenizerFast) -> Qwen3VLConfig:
    t, v = cfg["text"], cfg["vision"]
    ids = special_token_ids(tokenizer)
    text_config = {k: t[k] for k in TEXT_KEYS} | dict(
        vocab_size=len(tokenizer),
        rope_parameters={"rope_type": "default", "rope_theta": float(t["rope_theta"]),
                         "mrope_section": list(t["mrope_section"]), "mrope_interleaved": True},
        pad_token_id=tokenizer.pad_token_id,
    )
    vision_config = {k: v[k] for k in VISION_KEYS} | dict(
        out_hidden_size=t["hidden_size"],
        deepstack_visual_indexes=list(v["deepstack_visual_indexes"]),
    )
    return Qwen3VLConfig(text_config=text_config, vision_config=vision_config, tie_word_embeddings=True, **ids)


def build(cfg: dict, qa_paths: list[str | Path], seed: int):
    """Return (model, processor) built from the config, QA vocabulary and seed."""
    tokenizer = train_tokenizer(qa_texts(qa_paths), int(cfg["tokenizer"]["vocab_size"]),
                                bool(cfg["tokenizer"].get("split_words", False)))
    processor = build_processor(cfg, tokenizer)
    config = build_config(cfg, tokenizer)
    # Top-level special ids as the Trainer expects them (else it rewrites the config when training).
    config.eos_token_id, config.pad_token_id, config.bos_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id, None
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    return model, processor


def save(model, processor, out: str | Path) -> None:
    """`save_pretrained` model + processor (with tokenizer) into `out` atomically (temp dir + rename)."""
    out = Path(out)
    tmp = stage_dir(out)  # cleans what a killed run left; normal permissions (vlm3.staging)
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="tiny model YAML (config/tiny_model.yaml)")
    ap.add_argument("--qa", required=True, nargs="+", help="QA jsonl files whose text trains the tokenizer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="output save_pretrained folder")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = load_model_config(args.config)
    model, processor = build(cfg, args.qa, args.seed)
    n = sum(p.numel() for p in model.parameters())
    log.info("tiny Qwen3-VL: %d parameters, vocab %d", n, len(processor.tokenizer))
    save(model, processor, args.out)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.model.build")
