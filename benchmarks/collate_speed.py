"""Milliseconds per training batch of the product collator (`vlm3.train.trainer.build_collator`), with
where the time goes: part of the host-side work that bounds a tiny model's steps on a GPU (issue 13:
~5 steps/s per run; whether the collator or the main process sets that pace is not measured yet).

    python benchmarks/collate_speed.py --model results/models/base \
        --qa results/qa/correspondence/train.jsonl --batch 16 --batches 20 --out R.json

The same seeded batches of records (`--batch` records each, `QADataset` with the run's flags) through
the collator once to warm up, then `--batches` timed calls on one thread; then the same calls once
more under cProfile for the shares of the stages (cumulative seconds of `load_images`, the image
processor, the text encoding `encode_tree`/`encode_record`, and the packer, in the profiled run's time,
which is not `ms_per_batch`'s). To compare two versions
side by side, run it in two checkouts in one command (RESULTS.md shows how).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import random
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import transformers

from vlm3.train.data import QADataset
from vlm3.train.settings import TrainConfig
from vlm3.train.trainer import build_collator, load_model

STAGES = {"load_images": (("data.py", "load_images"),),
          "image_processor": (("image_processing_utils.py", "_preprocess_image_like_inputs"),),
          "text_encoding": (("data.py", "encode_tree"), ("data.py", "encode_record"))}


def stage_seconds(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds of each stage in a cProfile run of the collator: STAGES by (file name,
    function), and `packing` = the packed collator's call minus the padding collator's inside it."""
    cum: dict[tuple[str, str], float] = {}
    for (path, _, fn), (_, _, _, c, _) in stats.stats.items():
        key = (Path(path).name, fn)
        cum[key] = max(cum.get(key, 0.0), c) if fn == "__call__" else cum.get(key, 0.0) + c
    out = {stage: sum(cum.get(k, 0.0) for k in keys) for stage, keys in STAGES.items()}
    inner = cum.get(("data.py", "__call__"), 0.0)
    out["packing"] = max(cum.get(("packing.py", "__call__"), inner) - inner, 0.0)
    out["total"] = max(cum.get(("packing.py", "__call__"), 0.0), inner)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--qa", required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--no-shared-prefix", dest="shared_prefix", action="store_false")
    ap.add_argument("--no-packing", dest="packing", action="store_false")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model, processor = load_model(args.model)
    cfg = TrainConfig(model=args.model, data=[args.qa], out="unused", packing=args.packing,
                      shared_prefix=args.shared_prefix)
    ds = QADataset(cfg.data, shared_prefix=cfg.shared_prefix)
    collate = build_collator(cfg, model, processor)
    rng = random.Random(args.seed)
    batches = [[ds[i] for i in rng.sample(range(len(ds)), args.batch)] for _ in range(args.batches)]
    collate(batches[0])
    t = time.perf_counter()
    for b in batches:
        collate(b)
    ms = (time.perf_counter() - t) / len(batches) * 1000
    prof = cProfile.Profile()
    prof.enable()
    for b in batches:
        collate(b)
    prof.disable()
    stages = {k: round(v / len(batches) * 1000, 1) for k, v in stage_seconds(pstats.Stats(prof)).items()}
    git = ["git", "-C", str(Path(__file__).parent)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if subprocess.run([*git, "status", "--porcelain", "--", "src"], capture_output=True, text=True).stdout.strip():
        commit += "+uncommitted src changes"
    doc = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "card": "cpu (1 thread)",
           "commit": commit, "versions": {"python": platform.python_version(), "torch": torch.__version__,
                                          "transformers": transformers.__version__},
           "cmd": " ".join(["python", *sys.argv]), "records_per_batch": args.batch, "batches": len(batches),
           "shared_prefix": args.shared_prefix, "packing": args.packing, "ms_per_batch": round(ms, 1),
           "stage_ms_per_batch_profiled": stages}
    print(json.dumps(doc))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    return doc


if __name__ == "__main__":
    main()
