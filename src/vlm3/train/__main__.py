"""CLI: fine-tune a Qwen3-VL model on QA records.

    python -m vlm3.train --config results/train_config/tiny-depth.yaml \
        --model results/models/base --data results/qa/depth/train.jsonl \
        --out results/checkpoints/tiny-depth --state results/train_state/tiny-depth --seed 0 --threads 2

The flags are the fields of `vlm3.train.settings.TrainConfig` (defaults and meanings there), each
as `--name-with-dashes`; a true/false setting is a switch with a `--no-...` form (`--packing`,
`--no-packing`). `--config FILE` is a YAML mapping of the same settings (dashes or underscores:
`max_steps: 300`, `data: [a.jsonl, b.jsonl]`); flags given on the command line override it, and a
key that is not a setting is an error. The workflow's train rule passes a run's recipe (the
config's `runs.<run>`, e.g. `--max-steps`, `--lr`, `--packing`) as that file and the invocation
settings as flags: `--model`, `--data`, `--out`, `--state`, `--seed`, `--threads` (`--image-root`
too, where needed); any of them may go in the file instead.
`--model` may be a hub id (Qwen/Qwen3-VL-4B-Instruct). On GPUs start it through
`python -m vlm3.train.launch -- python -m vlm3.train <these flags>` (accelerate launch, FSDP).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

from vlm3.train.settings import KINDS, TrainConfig, from_mapping
from vlm3.utils import load_mapping


def parser() -> argparse.ArgumentParser:
    """--config and one flag per TrainConfig field (`extra`, a mapping, has none)."""
    ap = argparse.ArgumentParser(prog="python -m vlm3.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="YAML file of settings (the flags' names, without the dashes)")
    for f in dataclasses.fields(TrainConfig):
        flag, kind = "--" + f.name.replace("_", "-"), KINDS[f.name]
        if kind is bool:
            ap.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif kind is list:
            ap.add_argument(flag, nargs="+")
        elif kind is not dict:
            ap.add_argument(flag, type=kind)
    return ap


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    args = vars(parser().parse_args(argv))
    merged: dict = {}
    if config_path := args.pop("config"):
        loaded = load_mapping(config_path, "--config", empty_ok=True)
        merged = from_mapping(loaded, f"--config {config_path}")
    merged.update({k: v for k, v in args.items() if v is not None})
    for k in ("model", "data", "out"):
        if k not in merged:
            raise ValueError(f"--{k} is required (on the command line or in --config)")
    return TrainConfig(**merged)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from vlm3.train.trainer import train  # torch and transformers: after the arguments are read

    train(parse_config(argv))


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.train")
