"""The one collective the training callbacks need: an element-wise maximum over all ranks."""

from __future__ import annotations

import torch


def max_over_ranks(values: list[float]) -> list[float]:
    """`values` maxed element-wise over every rank (one small all-reduce on the process group's
    device); a single-process run gets them back unchanged. Every rank must call it."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [float(v) for v in values]
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()
