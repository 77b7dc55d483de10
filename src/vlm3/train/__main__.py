"""CLI: fine-tune a Qwen3-VL model on QA records.

    python -m vlm3.train --model results/models/tiny-init --data results/qa/depth/train.jsonl \
        --out results/checkpoints/tiny-depth --max-steps 300 --lr 1e-3 --batch-size 8 \
        --grad-accum 1 --seed 0 --save-steps 100 --max-minutes 7 [--config run.yaml]

Paper-scale options (off by default): --global-batch N (batch-size becomes the micro-batch, the
accumulation follows from the world size), --packing, --freeze-vision, --gradient-checkpointing,
--checkpoint-fraction F, --compile, --bf16, --liger, --sparse-lm-head, --pin-memory (each switch
also has a --no-... form), --optim adamw_torch_fused.
`--model` may be a hub id (Qwen/Qwen3-VL-4B-Instruct). On GPUs start it through
`python -m vlm3.train.launch -- <these flags>` (accelerate launch, FSDP).

`--config FILE` is a YAML mapping with the same keys (dashes or underscores: `max_steps: 300`,
`data: [a.jsonl, b.jsonl]`); flags given on the command line override it. See
`vlm3.train.trainer.TrainConfig` for defaults and meanings.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

from vlm3.train.trainer import SWITCHES, TrainConfig, train
from vlm3.utils import load_mapping

_TYPES = {"max_steps": int, "lr": float, "batch_size": int, "grad_accum": int, "seed": int,
          "save_steps": int, "max_minutes": float, "warmup_ratio": float, "weight_decay": float,
          "grad_clip": float, "threads": int, "logging_steps": int, "global_batch": int,
          "checkpoint_fraction": float, "num_workers": int, "optim": str}


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    ap = argparse.ArgumentParser(prog="python -m vlm3.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="YAML file with the same keys as the flags")
    ap.add_argument("--model")
    ap.add_argument("--data", nargs="+")
    ap.add_argument("--out")
    ap.add_argument("--image-root")
    ap.add_argument("--state", help="checkpoint folder (default OUT/trainer_state)")
    for name, typ in _TYPES.items():
        ap.add_argument("--" + name.replace("_", "-"), type=typ)
    for name in SWITCHES:
        ap.add_argument("--" + name.replace("_", "-"), action=argparse.BooleanOptionalAction, default=None)
    args = vars(ap.parse_args(argv))
    merged: dict = {}
    if config_path := args.pop("config"):
        loaded = load_mapping(config_path, "--config", empty_ok=True)
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        for k, v in loaded.items():
            key = k.replace("-", "_")
            if key not in known:
                raise ValueError(f"--config {config_path}: unknown key {k!r}")
            merged[key] = v
    merged.update({k: v for k, v in args.items() if v is not None})
    for k in ("model", "data", "out"):
        if k not in merged:
            raise ValueError(f"--{k} is required (on the command line or in --config)")
    if isinstance(merged["data"], str):
        merged["data"] = [merged["data"]]
    for k, typ in _TYPES.items():
        if k in merged and merged[k] is not None:
            try:
                merged[k] = typ(merged[k])
            except (TypeError, ValueError):
                where = f"--config {config_path}: " if config_path else ""
                raise ValueError(f"{where}{k}: expected {'an integer' if typ is int else 'a number'}, "
                                 f"got {merged[k]!r}") from None
    return TrainConfig(**merged)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    train(parse_config(argv))


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.train")
