"""Per-step throughput log of a training run: `OUT/throughput.csv`.

One row per optimizer step, written by rank 0:
    step, seconds, tokens, samples, tokens_per_s, samples_per_s, peak_mem_gib
`seconds` is the wall time since the previous step ended (the first row also holds the start-up
of the loop), `tokens` the non-padding LLM tokens (text + merged visual tokens) of the step summed
over all ranks (the Trainer's own `num_input_tokens_seen`, which `training_arguments` switches on),
`samples` the samples per optimizer step (the global batch), and `peak_mem_gib` the largest
`torch.cuda.max_memory_allocated` over the ranks so far (empty on CPU).

Used for watching a cluster job (tokens/s per GPU is `tokens_per_s / world_size`) and by
`benchmarks/gpu_scaling.py`, which times multi-GPU runs from this file.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from vlm3.train.ranks import max_over_ranks

COLUMNS = ("step", "seconds", "tokens", "samples", "tokens_per_s", "samples_per_s", "peak_mem_gib")


class ThroughputLog(TrainerCallback):
    """Append one `COLUMNS` row per optimizer step to `path` (rank 0). A resumed run appends to the
    same file, so its steps continue the earlier rows."""

    def __init__(self, path: str | Path, samples_per_step: int):
        self.path = Path(path)
        self.samples_per_step = int(samples_per_step)
        self.last = None
        self.tokens = 0

    def on_train_begin(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self.tokens = int(state.num_input_tokens_seen or 0)
        if state.is_world_process_zero and not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(",".join(COLUMNS) + "\n")
        self.last = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.synchronize()
        now = time.perf_counter()
        peak = max_over_ranks([torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0])[0]
        seen = int(state.num_input_tokens_seen or 0)
        tokens, self.tokens = seen - self.tokens, seen
        dt, self.last = now - self.last, now
        if state.is_world_process_zero:
            row = (state.global_step, f"{dt:.6f}", tokens, self.samples_per_step, f"{tokens / dt:.1f}",
                   f"{self.samples_per_step / dt:.3f}", f"{peak:.2f}" if cuda else "")
            with self.path.open("a") as f:
                f.write(",".join(map(str, row)) + "\n")
        # The clock restarts after the file write and the all-reduce, so neither is charged to a step.
        self.last = time.perf_counter()
        return control
