"""CLI: answer every question of a QA file with a model (batched greedy decoding).

    python -m vlm3.predict --model results/checkpoints/tiny-depth \
        --qa results/qa/depth/synthetic/test.jsonl \
        --out results/predictions/tiny-depth/depth/synthetic_test.jsonl --batch-size 16 --max-new-tokens 8

Each user turn of a record is asked as its own single-turn conversation: all the record's images
followed by that turn's question text (docs/CONTRACTS.md, "Evaluation asks each turn as its own
single-turn conversation"), decoded greedily, so the output is deterministic. By default the
record's images are encoded and its prompt prefix prefilled once for all its questions
(`vlm3.predict_prefix`, the same text as asking one at a time: tests/test_predict_shared.py);
`--plain` asks every question as its own full prompt (left-padded batches through `generate`).
`--cuda-graph` replays the shared-prefix decode step as a CUDA graph (CUDA only; opt-in).
`--batch-size` counts questions decoded together and `--max-new-tokens` caps each answer (defaults:
`BATCH_SIZE`, `MAX_NEW_TOKENS` below). One output line per question, in input order:
`{"id", "turn", "question", "prediction" (raw decoded text, stripped), "target" (meta.targets[turn])}`.

Resumable and data-parallel (`vlm3.predict_files`): rows are appended and flushed group by group to
`{out}.rank{r}.partial`; a job started again answers only the questions missing there, and `{out}`
appears only complete, merged in input order. Under a launcher (`python -m vlm3.train.launch --
python -m vlm3.predict ...`: RANK / WORLD_SIZE / LOCAL_RANK set) each process takes the records
r with r % world == rank on GPU LOCAL_RANK, and rank 0 merges the shards.

`--model` is a save_pretrained folder holding an image-only processor (`vlm3.model.build` or
`vlm3.train` output) or a Hugging Face hub id (`org/name`, `vlm3.train.hub`); for released Qwen3-VL
checkpoints pass `--auto-processor` to use `AutoProcessor` (the evaluate rule does for hub models;
without torchvision it falls back to the image-only processor, `vlm3.train.hub.auto_processor`).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import AutoModelForImageTextToText

from vlm3 import predict_files, predict_prefix
from vlm3.model.processor import load_processor
from vlm3.records import prediction_row, read_qa
from vlm3.records import questions as record_questions
from vlm3.train.data import load_images
from vlm3.train.hub import auto_processor as load_auto_processor
from vlm3.train.hub import model_source
from vlm3.train.model_setup import use_linear_patch_embed
from vlm3.train.packing import use_varlen_vision

log = logging.getLogger(__name__)

# The defaults of the predict settings, stated only here: the workflow passes --batch-size and
# --max-new-tokens only where the config's predict section sets them (rules/common.smk predict_sizes).
BATCH_SIZE = 16
MAX_NEW_TOKENS = 32


def questions(records: list[dict]) -> list[dict]:
    """Flatten records into single-turn questions: {rec (record index), id, turn, question, target}."""
    return [{"rec": r, **q} for r, rec in enumerate(records) for q in record_questions(rec)]


def load(path: str, auto_processor: bool = False, local_rank: int = 0):
    """(model, processor) for inference: float32 on CPU, bf16 on GPU `local_rank`."""
    source = model_source(path)  # ValueError unless a local folder or a hub id
    if source == "hub" and not auto_processor:
        raise ValueError(f"--model {path}: a hub model needs --auto-processor (its processor is the full Qwen3-VL one)")
    device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if device != "cpu":
        torch.cuda.set_device(local_rank)  # tensors made without a device land on this rank's GPU
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
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
            texts.append(predict_prefix.prompt_text(processor, len(rec["images"]), qs[i]["question"]))
            batch_images.extend(load(qs[i]["rec"]))
        inputs = processor(text=texts, images=batch_images or None, padding=True, return_tensors="pt")
        inputs = inputs.to(model.device)
        gen = model.generate(**inputs, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens or None,
                             do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        answers = tok.batch_decode(gen[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        yield {i: a.strip() for i, a in zip(idx, answers)}


def use_gpu_vision_kernels(model) -> None:
    """On a GPU the vision tower runs its patch embedding as one matrix product (`LinearPatchConv3d`,
    the trainer's too) and its attention as one varlen FlashAttention call per layer for all images
    (`use_varlen_vision`) instead of one call per image: same weights, same attention (in place,
    idempotent)."""
    use_linear_patch_embed(model)
    use_varlen_vision(model)


def answers(model, processor, records: list[dict], qs: list[dict], batch_size: int = BATCH_SIZE,
            max_new_tokens: int = MAX_NEW_TOKENS, image_root: str | Path = ".", plain: bool = False,
            min_new_tokens: int = 0, cuda_graph: bool = False, timer=None):
    """Yield {index into qs: answer text} batch by batch (in no fixed order), shared-prefix or plain;
    `cuda_graph` and `timer` go to the shared-prefix path (`predict_prefix.answer`)."""
    if batch_size < 1:
        raise ValueError(f"--batch-size: must be >= 1, got {batch_size}")
    cache: dict[int, list] = {}

    def load(r: int) -> list:  # called from several threads (predict_prefix prefetches)
        images = cache.get(r)
        if images is None:
            images = load_images(records[r]["images"], image_root)
            if len(cache) > 4 * batch_size:
                cache.clear()
            cache[r] = images
        return images

    if model.device.type == "cuda":
        use_gpu_vision_kernels(model)
    engine = _plain if plain else partial(predict_prefix.answer, cuda_graph=cuda_graph, timer=timer)
    with torch.inference_mode():
        yield from engine(model, processor, records, qs, load, batch_size, max_new_tokens, min_new_tokens)


def predict(model, processor, records: list[dict], batch_size: int = BATCH_SIZE,
            max_new_tokens: int = MAX_NEW_TOKENS,
            image_root: str | Path = ".", plain: bool = False, min_new_tokens: int = 0,
            cuda_graph: bool = False, timer=None) -> list[dict]:
    """Answer every question greedily; returns the output rows in input order."""
    qs = questions(records)
    done: dict[int, str] = {}
    for part in tqdm(answers(model, processor, records, qs, batch_size, max_new_tokens, image_root, plain,
                             min_new_tokens, cuda_graph, timer), desc="predict", unit="batch"):
        done.update(part)
    return [prediction_row(q, done[i]) for i, q in enumerate(qs)]


def _dist():
    """(rank, world size, local rank) from the launcher's environment (torchrun / accelerate),
    with a gloo process group for the final barrier when there are several ranks."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():  # gloo: a barrier only, and no NCCL timeout while shards differ in length
            dist.init_process_group("gloo", timeout=datetime.timedelta(hours=48))
    return rank, world, local


def run(model, processor, records: list[dict], out: str | Path, fp: dict, rank: int = 0, world: int = 1,
        batch_size: int = BATCH_SIZE, max_new_tokens: int = MAX_NEW_TOKENS, image_root: str | Path = ".",
        plain: bool = False, min_new_tokens: int = 0, cuda_graph: bool = False) -> int:
    """This rank's share of the questions (records r with r % world == rank) not yet in a shard of
    `out`, appended to its shard group by group; then (after all ranks) rank 0 merges the shards
    into `out` in input order. Returns the number of questions this rank answered now."""
    qs = questions(records)
    done = predict_files.resume(out, fp)
    todo = [q for q in qs if q["rec"] % world == rank and (q["id"], q["turn"]) not in done]
    writer = predict_files.ShardWriter(out, rank, fp)
    try:
        for part in tqdm(answers(model, processor, records, todo, batch_size, max_new_tokens, image_root, plain,
                                 min_new_tokens, cuda_graph), desc=f"predict rank {rank}", unit="batch"):
            writer.write([prediction_row(todo[i], a) for i, a in sorted(part.items())])
    finally:
        writer.close()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    if rank == 0:
        n = predict_files.merge(out, [(q["id"], q["turn"]) for q in qs], fp)
        log.info("%d predictions -> %s", n, out)
    if world > 1:
        dist.barrier()  # nobody leaves (and may be restarted) before the merge removed the shards
    return len(todo)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m vlm3.predict", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="save_pretrained folder or hub id (org/name)")
    ap.add_argument("--qa", required=True, help="QA jsonl (results/qa/{task}/{dataset}/{split}.jsonl)")
    ap.add_argument("--out", required=True, help="predictions jsonl")
    ap.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="questions decoded together")
    ap.add_argument("--max-new-tokens", type=int, default=MAX_NEW_TOKENS, help="generation cap per answer")
    ap.add_argument("--image-root", default=".", help="base of relative image paths")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--auto-processor", action="store_true", help="use AutoProcessor (released checkpoints)")
    ap.add_argument("--plain", action="store_true",
                    help="ask every question as its own full prompt (no shared image prefix)")
    ap.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=False,
                    help="replay the shared-prefix decode step as a CUDA graph (CUDA only; default off: 5 %% "
                         "faster with identical text on one H100, benchmarks/RESULTS.md)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: must be >= 1, got {args.batch_size}")
    if args.cuda_graph and not torch.cuda.is_available():
        raise ValueError("--cuda-graph: no CUDA device here (CUDA graphs need one)")
    records = read_qa(args.qa)  # bad records fail before the model loads
    rank, world, local = _dist()
    model, processor = load(args.model, args.auto_processor, local)
    fp = predict_files.fingerprint(args.model, args.qa, max_new_tokens=args.max_new_tokens)
    run(model, processor, records, args.out, fp, rank, world, args.batch_size, args.max_new_tokens,
        args.image_root, args.plain, cuda_graph=args.cuda_graph)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.predict")
