"""benchmarks/optim.py: the hand-built AdamW and cosine schedule of the benchmarks' own loops."""

import math
import sys
from pathlib import Path

import pytest
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.optim import build_optimizer, build_scheduler


def test_optimizer_and_cosine_schedule():
    m = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    opt = build_optimizer(m, lr=1.0, weight_decay=0.1, fused=False)
    decays = sorted((g["weight_decay"], len(g["params"])) for g in opt.param_groups)
    assert decays == [(0.0, 3), (0.1, 1)]  # Linear weight decays; bias, LN weight and bias don't
    sched = build_scheduler(opt, total_steps=100)  # 10 warm-up steps
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and lrs[5] == pytest.approx(0.5) and lrs[10] == pytest.approx(1.0)
    # cosine: at step 10 + 45 of the 90 decay steps, lr = 0.5 * (1 + cos(pi / 2)) = 0.5
    assert lrs[55] == pytest.approx(0.5)
    assert lrs[99] == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))
    with pytest.raises(ValueError, match="warmup_ratio"):
        build_scheduler(opt, 10, warmup_ratio=1.0)
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer(frozen, lr=1e-3)
