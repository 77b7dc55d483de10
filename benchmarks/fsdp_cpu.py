"""Multi-process FSDP2 run of a tiny Qwen3-VL on CPU (gloo): sharding, checkpoint save and resume.

Launch with 2 processes (issue 8's fallback while multi-GPU machines are not lent), e.g.
    python -m vlm3.train.launch --cpu --gpus-per-node 2 --module benchmarks.fsdp_cpu -- \\
        --out /tmp/fsdp_cpu --steps 4
or  torchrun --nproc_per_node 2 benchmarks/fsdp_cpu.py --out /tmp/fsdp_cpu --steps 4
Each rank builds the same tiny model (fixed seed), applies `vlm3.train.model_setup.setup_model`, shards
every decoder/vision block and the root with `torch.distributed.fsdp.fully_shard`, trains on
packed synthetic batches (each rank its own samples) with AdamW + cosine warm-up + grad clipping,
and writes `losses.json` (rank 0). `--save-at K` writes a torch.distributed.checkpoint (sharded:
each rank writes its shard) after step K; `--resume DIR` loads one and continues from its step.
Resumed losses must equal an uninterrupted run's (tests/test_fsdp_cpu.py checks this).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.fsdp import fully_shard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks.optim
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's vlm3

from benchmarks.optim import build_optimizer, build_scheduler
from vlm3.train.model_setup import causal_lm_loss_sum, setup_model
from vlm3.train.packing import PackingCollator, use_packed_sdpa
from vlm3.train.shapes import synthetic_sample, tiny_qwen3vl_config


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--save-at", type=int, default=0)
    ap.add_argument("--resume", type=Path)
    ap.add_argument("--micro", type=int, default=2, help="samples per rank per step")
    args = ap.parse_args(argv)

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    from transformers import Qwen3VLForConditionalGeneration

    cfg = tiny_qwen3vl_config()
    model = Qwen3VLForConditionalGeneration(cfg).float()
    setup_model(model, gradient_checkpointing=True, linear_patch_embed=True, freeze_vision=False)
    use_packed_sdpa(model)
    full_numel = sum(p.numel() for p in model.parameters())
    for block in [*model.model.visual.blocks, *model.model.language_model.layers]:
        fully_shard(block)
    fully_shard(model)
    local_numel = sum(p.to_local().numel() for p in model.parameters())
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.01, fused=False)
    sched = build_scheduler(opt, total_steps=args.steps)
    collate = PackingCollator.from_config(cfg)

    start = 0
    if args.resume:
        msd, osd = get_state_dict(model, opt)
        state = {"model": msd, "optim": osd, "sched": sched.state_dict(), "step": 0}
        dcp.load(state, checkpoint_id=str(args.resume))
        set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"])
        sched.load_state_dict(state["sched"])
        start = int(state["step"])

    losses = {}
    model.train()
    for step in range(start, args.steps):
        samples = [synthetic_sample(cfg, 0, f"{step}/{rank}/{j}", (1, 4, 6), n_turns=2 + j,
                                    question_tokens=5, answer_tokens=3) for j in range(args.micro)]
        loss_sum, n = causal_lm_loss_sum(model, collate(samples))
        total = n.clone().float()
        dist.all_reduce(total)  # mean over every labelled token of the global batch
        (loss_sum * world / total).backward()  # FSDP averages gradients over ranks
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        reduced = loss_sum.detach().clone()
        dist.all_reduce(reduced)
        losses[step] = {"loss": float(reduced / total), "grad_norm": float(grad_norm.full_tensor()
                        if hasattr(grad_norm, "full_tensor") else grad_norm), "lr": sched.get_last_lr()[0]}
        if args.save_at and step + 1 == args.save_at:
            msd, osd = get_state_dict(model, opt)
            dcp.save({"model": msd, "optim": osd, "sched": sched.state_dict(), "step": step + 1},
                     checkpoint_id=str(args.out / f"ckpt_{step + 1}"))
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "losses.json").write_text(json.dumps(
            {"world": world, "full_numel": full_numel, "rank0_local_numel": local_numel,
             "losses": losses}, indent=1, sort_keys=True))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
