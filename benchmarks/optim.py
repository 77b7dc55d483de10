"""AdamW and the paper's cosine schedule, built by hand for the benchmarks that drive their own
training loop (fsdp_cpu.py, gpu_train.py). The workflow's trainer gets both from transformers'
Trainer (`vlm3.train.trainer`, `TrainConfig.optim`), so these live here, outside the package."""

from __future__ import annotations

import torch
from torch import nn


def build_optimizer(
    model: nn.Module, lr: float, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
    fused: bool | None = None,
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; `fused` defaults to True when they live on CUDA.
    Weight decay skips biases and norm weights (1-D tensors)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("build_optimizer: the model has no trainable parameters")
    if fused is None:
        fused = all(p.device.type == "cuda" for p in params)
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=betas, fused=fused)


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float = 0.1):
    """Cosine decay to 0 after a linear warm-up over `warmup_ratio` of the steps (paper: 0.1)."""
    from transformers import get_cosine_schedule_with_warmup

    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0.0 <= warmup_ratio < 1.0:
        raise ValueError(f"warmup_ratio must be in [0, 1), got {warmup_ratio}")
    return get_cosine_schedule_with_warmup(optimizer, int(round(warmup_ratio * total_steps)), total_steps)
