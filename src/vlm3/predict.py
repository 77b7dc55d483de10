"""CLI: answer every question of a QA file with a model (batched greedy decoding).

    python -m vlm3.predict --model results/checkpoints/tiny-depth \
        --qa results/qa/depth/synthetic/test.jsonl \
        --out results/predictions/tiny-depth/depth/synthetic_test.jsonl --batch-size 16 --max-new-tokens 16

Each user turn of a record is asked as its own single-turn conversation: all the record's images
followed by that turn's question text (docs/CONTRACTS.md, "Evaluation asks each turn as its own
single-turn conversation"). Prompts are left-padded into batches and decoded greedily, so the
output is deterministic. One output line per question, in input order:
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

from vlm3.model.processor import load_processor
from vlm3.train.data import load_images, read_qa
from vlm3.train.hub import auto_processor as load_auto_processor
from vlm3.train.hub import model_source
from vlm3.utils import atomic_path

log = logging.getLogger(__name__)


def questions(records: list[dict]) -> list[dict]:
    """Flatten records into single-turn questions: {record index, id, turn, text, target}."""
    out = []
    for r, rec in enumerate(records):
        targets = rec.get("meta", {}).get("targets")
        users = [m for m in rec["messages"] if m["role"] == "user"]
        if targets is None or len(targets) != len(users):
            raise ValueError(f"record {rec['id']}: {len(users)} user turns but "
                             f"{'no' if targets is None else len(targets)} meta.targets")
        for t, msg in enumerate(users):
            content = msg["content"]
            text = content if isinstance(content, str) else "".join(
                item["text"] for item in content if item.get("type") == "text")
            out.append({"rec": r, "id": rec["id"], "turn": t, "question": text, "target": targets[t]})
    return out


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


@torch.inference_mode()
def predict(model, processor, records: list[dict], batch_size: int = 16, max_new_tokens: int = 16,
            image_root: str | Path = ".") -> list[dict]:
    """Answer every question greedily; returns the output rows in input order."""
    if batch_size < 1:
        raise ValueError(f"--batch-size: must be >= 1, got {batch_size}")
    qs = questions(records)
    tok = processor.tokenizer
    tok.padding_side = "left"
    images: dict[int, list] = {}
    rows = []
    for start in tqdm(range(0, len(qs), batch_size), desc="predict", unit="batch"):
        batch = qs[start:start + batch_size]
        texts, batch_images = [], []
        for q in batch:
            rec = records[q["rec"]]
            if q["rec"] not in images:
                images.clear()  # questions come record by record: keep one record's images
                images[q["rec"]] = load_images(rec["images"], image_root)
            conv = [{"role": "user", "content": [{"type": "image"}] * len(rec["images"])
                     + [{"type": "text", "text": q["question"]}]}]
            texts.append(processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False))
            batch_images.extend(images[q["rec"]])
        inputs = processor(text=texts, images=batch_images or None, padding=True, return_tensors="pt")
        inputs = inputs.to(model.device)
        gen = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        answers = tok.batch_decode(gen[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        for q, a in zip(batch, answers):
            rows.append({"id": q["id"], "turn": q["turn"], "question": q["question"],
                         "prediction": a.strip(), "target": q["target"]})
    return rows


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
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    records = read_qa(args.qa, need_targets=True)
    model, processor = load(args.model, args.auto_processor)
    rows = predict(model, processor, records, args.batch_size, args.max_new_tokens, args.image_root)
    with atomic_path(args.out) as tmp, open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    log.info("%d predictions -> %s", len(rows), args.out)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.predict")
