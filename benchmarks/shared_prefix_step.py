"""One training step of the same QA records in the three forms `vlm3.train` can train them, side by side.

    python benchmarks/shared_prefix_step.py --model results/models/base \
        --qa results/qa/correspondence/train.jsonl --records 16 --threads 2 --out R.json

Forms (all packed into one row, `--packing`, the `sdpa_packed` text attention):
  multi_turn     each record as its chat (the default; every question sees the earlier answers);
  single_turn    every question its own sample with the record's images (`--single-turn`);
  shared_prefix  every question a branch of the record's prefix, images encoded once
                 (`--shared-prefix`; what `vlm3.predict` asks, computed once per record);
  shared_prefix_masked_block  the same row through the attention used before 2026-12-07 (one SDPA
                 call per record over its whole L x L block, masked to the prefix tree): the reference
                 for the batched branch attention `sdpa_packed` now runs (`vlm3.train.packing._BranchPlan`).
Each form: the first `--records` records of the file, collated once, then `--warmup` and `--steps`
timed steps of forward, backward and AdamW on a fresh copy of the model (`--threads` torch threads).
Writes {"date", "card", "versions", "cmd", "rows": [{"form", "samples", "tokens", "loss", "s_per_step",
"tokens_per_s"}]}; `loss` is the untrained model's mean answer loss on the batch, the same in every form
up to rounding (the answers and what each sees are the same).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from datetime import datetime, timezone

import torch
import transformers

from vlm3.train import packing
from vlm3.train.data import QACollator, QADataset, group_by_images, split_turns
from vlm3.train.packing import PackedBatchCollator, PackingCollator, use_packed_sdpa
from vlm3.train.trainer import load_model

FORMS = {"multi_turn": {}, "single_turn": {"single_turn": True}, "shared_prefix": {"shared_prefix": True},
         "shared_prefix_masked_block": {"shared_prefix": True}}


def _masked_block_row(module, query, key, value, plan, kwargs):
    """The former attention of a shared-prefix row (reference only): per sample, one SDPA call over its
    whole block with an additive mask (token i sees j <= i of its branch and the sample's first p)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    spans = plan.spans
    out, k = [], 0
    while k < len(spans):
        s, e, _, _ = spans[k]
        branches = [(s, e, 0)]
        while k + 1 < len(spans) and spans[k + 1][3] > 0:
            k += 1
            branches.append((spans[k][0], spans[k][1], spans[k][3]))
        k += 1
        end, n = branches[-1][1], branches[-1][1] - s
        allowed = torch.zeros(n, n, dtype=torch.bool)
        for bs, be, p in branches:
            allowed[bs - s:be - s, bs - s:be - s] = torch.ones(be - bs, be - bs, dtype=torch.bool).tril()
            allowed[bs - s:be - s, :p] = True
        mask = torch.zeros(n, n, dtype=query.dtype).masked_fill_(~allowed, float("-inf"))[None, None]
        out.append(sdpa_attention_forward(module, query[None, :, s:end], key[None, :, s:end],
                                          value[None, :, s:end], mask, **kwargs)[0][0])
    return torch.cat(out)[None]


def _use_masked_block(on: bool) -> None:
    """Swap `sdpa_packed`'s branched-row attention for the reference (and back)."""
    if not hasattr(packing, "_product_branched_row"):
        packing._product_branched_row = packing._branched_row
        product_plan = packing._branch_plan

        def plan_with_spans(spans, *a):
            plan = product_plan(spans, *a)
            plan.spans = spans
            return plan

        packing._branch_plan = plan_with_spans
    packing._branched_row = _masked_block_row if on else packing._product_branched_row


def time_form(model, processor, base: list[dict], form: str, warmup: int, steps: int) -> dict:
    """One form's row on the records `base`, turned into that form as `QADataset` does."""
    flags = FORMS[form]
    _use_masked_block(form == "shared_prefix_masked_block")
    if flags.get("single_turn"):
        records = [one for rec in base for one in split_turns(rec)]
    elif flags.get("shared_prefix"):
        records = group_by_images(base)
    else:
        records = base
    collate = PackedBatchCollator(QACollator(processor, shared_prefix=flags.get("shared_prefix", False)),
                                  PackingCollator.from_config(model.config))
    batch = collate(records)
    m = copy.deepcopy(model).train()
    with torch.no_grad():
        loss0 = float(m(**batch).loss)  # the same answers in every form: the same mean loss
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)

    def step():
        m(**batch).loss.backward()
        opt.step()
        opt.zero_grad()

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t0) / steps
    tokens = int(batch["input_ids"].shape[1])
    return {"form": form, "samples": len(records), "tokens": tokens, "loss": loss0, "s_per_step": round(dt, 4),
            "tokens_per_s": round(tokens / dt, 1)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--qa", required=True, help="a training QA file (records of several questions)")
    ap.add_argument("--records", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--forms", default=",".join(FORMS))
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, processor = load_model(args.model)
    use_packed_sdpa(model)
    base = QADataset(args.qa).records[:args.records]
    rows = []
    for form in args.forms.split(","):
        rows.append(time_form(model, processor, base, form, args.warmup, args.steps))
        print(json.dumps(rows[-1]), flush=True)
    cpu = f"CPU ({platform.processor() or platform.machine()}, {args.threads} threads)"
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "card": torch.cuda.get_device_name() if torch.cuda.is_available() else cpu,
           "versions": {"python": platform.python_version(), "torch": torch.__version__,
                        "transformers": transformers.__version__},
           "cmd": " ".join(["python", *sys.argv]), "rows": rows}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
