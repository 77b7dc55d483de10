"""CLI: answer every question of a QA file with a model (batched greedy decoding).

    python -m vlm3.predict --model results/checkpoints/tiny-depth \
        --qa results/qa/depth/synthetic/test.jsonl \
        --out results/predictions/tiny-depth/depth/synthetic_test.jsonl --batch-size 16 --max-new-tokens 16

Each user turn of a record is asked as its own single-turn conversation: all the record's images
followed by that turn's question text (docs/CONTRACTS.md, "Evaluation asks each turn as its own
single-turn conversation"), decoded greedily, so the output is deterministic. By default the
record's images are encoded and its prompt prefix prefilled once for all its questions
(`vlm3.shared_prefix`, the same text as asking one at a time: tests/test_predict_shared.py);
`--plain` asks every question as its own full prompt (left-padded batches through `generate`).
`--batch-size` counts questions decoded together. One output line per question, in input order:
`{"id", "turn", "question", "prediction" (raw decoded text, stripped), "target" (meta.targets[turn])}`.

`--model` is a save_pretrained folder holding an image-only processor (`vlm3.model.build` or
`vlm3.train` output) or a Hugging Face hub id (`org/name`, `vlm3.train.hub`); for released Qwen3-VL
checkpoints pass `--auto-processor` to use `AutoProcessor` (the evaluate rule does for hub models;
without torchvision it falls back to the image-only processor, `vlm3.train.hub.auto_processor`).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import AutoModelForImageTextToText

from vlm3 import shared_prefix
from vlm3.baselines.records import questions as record_questions
from vlm3.model.processor import load_processor
from vlm3.train.data import load_images, read_qa
from vlm3.train.hub import auto_processor as load_auto_processor
from vlm3.train.hub import model_source
from vlm3.utils import atomic_path

log = logging.getLogger(__name__)


def questions(records: list[dict]) -> list[dict]:
    """Flatten records into single-turn questions: {rec (record index), id, turn, question, target}."""
    return [{"rec": r, **q} for r, rec in enumerate(records) for q in record_questions(rec)]


def load(path: str, auto_processor: bool = False):
    """(model, processor) for inference, float32 on CPU or the model's dtype on GPU."""
    source = model_source(path)  # ValueError unless a local folder or a hub id
    if source == "hub" and not auto_processor:
        raise ValueError(f"--model {path}: a hub model needs --auto-processor (its processor is the full Qwen3-VL one)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype).to(device).eval()
    processor = load_auto_processor(path) if auto_processor else load_processor(path)
    return model, processor


def _plain(model, processor, records, qs, load, batch_size, max_new_tokens, min_new_tokens):
    """Yield {question index: answer} per batch of `batch_size` full single-turn prompts (generate)."""
    tok = processor.tokenizer
    tok.padding_side = "left"
    for start in range(0, len(qs), batch_size):
        idx = list(range(start, min(start + batch_size, len(qs))))
        texts, batch_images = [], []
        for i in idx:
            rec = records[qs[i]["rec"]]
            texts.append(shared_prefix.prompt_text(processor, len(rec["images"]), qs[i]["question"]))
            batch_images.extend(load(qs[i]["rec"]))
        inputs = processor(text=texts, images=batch_images or None, padding=True, return_tensors="pt")
        inputs = inputs.to(model.device)
        gen = model.generate(**inputs, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens or None,
                             do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        answers = tok.batch_decode(gen[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        yield {i: a.strip() for i, a in zip(idx, answers)}


def answers(model, processor, records: list[dict], qs: list[dict], batch_size: int = 16,
            max_new_tokens: int = 16, image_root: str | Path = ".", plain: bool = False,
            min_new_tokens: int = 0):
    """Yield {index into qs: answer text} batch by batch (in no fixed order), shared-prefix or plain."""
    if batch_size < 1:
        raise ValueError(f"--batch-size: must be >= 1, got {batch_size}")
    cache: dict[int, list] = {}

    def load(r: int) -> list:
        if r not in cache:
            if len(cache) > 4 * batch_size:
                cache.clear()
            cache[r] = load_images(records[r]["images"], image_root)
        return cache[r]

    engine = _plain if plain else shared_prefix.answer
    with torch.inference_mode():
        yield from engine(model, processor, records, qs, load, batch_size, max_new_tokens, min_new_tokens)


def row(q: dict, prediction: str) -> dict:
    return {"id": q["id"], "turn": q["turn"], "question": q["question"], "prediction": prediction,
            "target": q["target"]}


def predict(model, processor, records: list[dict], batch_size: int = 16, max_new_tokens: int = 16,
            image_root: str | Path = ".", plain: bool = False, min_new_tokens: int = 0) -> list[dict]:
    """Answer every question greedily; returns the output rows in input order."""
    qs = questions(records)
    done: dict[int, str] = {}
    for part in tqdm(answers(model, processor, records, qs, batch_size, max_new_tokens, image_root, plain,
                             min_new_tokens), desc="predict", unit="batch"):
        done.update(part)
    return [row(q, done[i]) for i, q in enumerate(qs)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m vlm3.predict", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="save_pretrained folder or hub id (org/name)")
    ap.add_argument("--qa", required=True, help="QA jsonl (results/qa/{task}/{dataset}/{split}.jsonl)")
    ap.add_argument("--out", required=True, help="predictions jsonl")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--image-root", default=".", help="base of relative image paths")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--auto-processor", action="store_true", help="use AutoProcessor (released checkpoints)")
    ap.add_argument("--plain", action="store_true",
                    help="ask every question as its own full prompt (no shared image prefix)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    records = read_qa(args.qa)
    model, processor = load(args.model, args.auto_processor)
    rows = predict(model, processor, records, args.batch_size, args.max_new_tokens, args.image_root, args.plain)
    with atomic_path(args.out) as tmp, open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    log.info("%d predictions -> %s", len(rows), args.out)


if __name__ == "__main__":
    main()
