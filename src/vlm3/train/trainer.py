"""Supervised fine-tuning of a Qwen3-VL model on QA records with the Hugging Face `Trainer`.

Recipe (the paper's, scaled down): AdamW, cosine schedule with 10 % linear warm-up, gradient
clipping, answer-only loss (`vlm3.train.data.QACollator`). Everything is seeded; on CPU a run
killed at any point and restarted with the same arguments resumes from its last checkpoint and
ends with bitwise the same weights as an uninterrupted run (tests/test_train_resume.py).

Output folder (docs/CONTRACTS.md, "Train"):
  {out}/model.safetensors, config.json, generation_config.json, tokenizer + processor files
  {out}/trainer_state/checkpoint-{step}/   resumable checkpoints (`save_steps`, last 2 kept;
                                           `state` puts them elsewhere)
  {out}/loss.csv (step, loss, lr), {out}/loss.png, {out}/train_summary.json (step reached, stop reason)

Signals and caps: SIGTERM (SLURM preemption) saves a checkpoint at the end of the current step and
exits with status 143 without writing the final model, so the job can be requeued and resumed.
`max_minutes` ends training cleanly (final model written) and records the step reached.

Swappable parts for other trainers (packing, FSDP): `train(cfg, load_fn=..., collator=...)`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers import Qwen3VLForConditionalGeneration, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from vlm3.model.processor import load_processor
from vlm3.train.data import QACollator, QADataset
from vlm3.utils import atomic_path

log = logging.getLogger(__name__)

SIGTERM_EXIT = 143  # 128 + SIGTERM, what SLURM and shells report for a terminated job


@dataclass
class TrainConfig:
    """Training run settings; every field is a CLI flag of `python -m vlm3.train` and a YAML key."""

    model: str                      # save_pretrained folder to start from (vlm3.model.build output)
    data: list[str]                 # QA jsonl files (results/qa/{task}/train.jsonl)
    out: str                        # output folder
    max_steps: int = 300            # optimizer steps
    lr: float = 1e-3                # peak learning rate
    batch_size: int = 8             # records per micro-batch
    grad_accum: int = 1             # micro-batches per optimizer step
    seed: int = 0                   # init of everything random, incl. data order
    save_steps: int = 100           # checkpoint every N steps
    max_minutes: float | None = None  # wall-clock cap; ends cleanly with a saved model
    warmup_ratio: float = 0.1       # linear warm-up as a fraction of max_steps
    weight_decay: float = 0.0
    grad_clip: float = 1.0          # max gradient norm (the paper used 0.02 at 4B scale)
    threads: int | None = None      # torch CPU threads (None: leave torch's default)
    image_root: str = "."           # relative image paths are taken from here
    state: str | None = None        # checkpoint folder (default {out}/trainer_state); put it outside
                                    # `out` when a workflow manager deletes `out` of failed jobs
    logging_steps: int = 1
    extra: dict = field(default_factory=dict)  # passed through to TrainingArguments

    def validate(self) -> None:
        for name in ("max_steps", "batch_size", "grad_accum", "save_steps", "logging_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"--{name.replace('_', '-')}: must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"--lr: must be > 0, got {self.lr}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"--warmup-ratio: must be in [0, 1), got {self.warmup_ratio}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"--max-minutes: must be > 0, got {self.max_minutes}")
        if not Path(self.model, "config.json").exists():
            raise ValueError(f"--model {self.model}: not a save_pretrained folder (config.json missing)")
        if not self.data:
            raise ValueError("--data: at least one QA jsonl file is needed")


def load_model(path: str):
    """(model, processor) from a save_pretrained folder; float32, training mode."""
    model = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    return model, load_processor(path)


class _StopControl(TrainerCallback):
    """SIGTERM -> checkpoint now and stop; wall-clock cap -> checkpoint and stop (`train` then saves
    the final model)."""

    def __init__(self, max_minutes: float | None):
        self.deadline = None if max_minutes is None else time.monotonic() + 60.0 * max_minutes
        self.terminated = False
        self.timed_out = False

    def on_step_end(self, args, state, control, **kwargs):
        if self.terminated:
            control.should_save = True
            control.should_training_stop = True
        elif self.deadline is not None and time.monotonic() >= self.deadline:
            self.timed_out = True
            control.should_save = True  # so a later run with a larger cap can continue from here
            control.should_training_stop = True
        return control


def last_complete_checkpoint(folder: str | Path) -> str | None:
    """The highest-step `checkpoint-N` in `folder` whose trainer_state.json is readable.

    The Trainer writes trainer_state.json last and not atomically, so a run killed while saving
    leaves a checkpoint without (or with a truncated) state file; transformers'
    `get_last_checkpoint` would pick it and the resume would fail.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    steps = []
    for d in folder.iterdir():
        name = d.name
        if d.is_dir() and name.startswith(PREFIX_CHECKPOINT_DIR + "-") and name.split("-")[-1].isdigit():
            try:
                json.loads((d / "trainer_state.json").read_text())
            except (OSError, json.JSONDecodeError):
                log.warning("ignoring incomplete checkpoint %s", d)
                continue
            steps.append((int(name.split("-")[-1]), str(d)))
    return max(steps)[1] if steps else None


def write_loss(log_history: list[dict], out: Path) -> list[tuple[int, float, float]]:
    """Write loss.csv (step, loss, lr) and loss.png from the Trainer's log history."""
    rows = [(int(e["step"]), float(e["loss"]), float(e.get("learning_rate", float("nan"))))
            for e in log_history if "loss" in e and "step" in e]
    with atomic_path(out / "loss.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "lr"])
        w.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if rows:
        ax.plot([r[0] for r in rows], [r[1] for r in rows], lw=1)
        ax2 = ax.twinx()
        ax2.plot([r[0] for r in rows], [r[2] for r in rows], color="tab:orange", lw=0.8, alpha=0.6)
        ax2.set_ylabel("learning rate")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (answer tokens)")
    ax.set_yscale("log")
    ax.set_title(out.name)
    fig.tight_layout()
    with atomic_path(out / "loss.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return rows


def _save_final(model, processor, out: Path) -> None:
    """save_pretrained into a temp folder inside `out`, then move each file into place."""
    tmp = Path(tempfile.mkdtemp(prefix=".final.", dir=out))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def training_arguments(cfg: TrainConfig) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(cfg.state or Path(cfg.out) / "trainer_state"),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_ratio,  # a float in [0, 1) is a ratio of max_steps
        optim="adamw_torch",
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.grad_clip,
        seed=cfg.seed,
        data_seed=cfg.seed,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        report_to="none",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        disable_tqdm=False,
        use_cpu=not torch.cuda.is_available(),
        **cfg.extra,
    )


def train(cfg: TrainConfig, load_fn=load_model, collator=None) -> dict:
    """Run (or resume) training; returns the summary written to train_summary.json.

    `load_fn(path) -> (model, processor)` and `collator(records) -> batch` can be swapped.
    """
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = QADataset(cfg.data)
    model, processor = load_fn(cfg.model)
    collator = collator or QACollator(processor, image_root=cfg.image_root)
    stop = _StopControl(cfg.max_minutes)
    old_handler = signal.signal(signal.SIGTERM, lambda *_: setattr(stop, "terminated", True))
    try:
        args = training_arguments(cfg)
        resume = last_complete_checkpoint(args.output_dir)
        if resume:
            log.info("resuming from %s", resume)
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator,
                          processing_class=processor, callbacks=[stop])
        t0 = time.monotonic()
        trainer.train(resume_from_checkpoint=resume)
        minutes = (time.monotonic() - t0) / 60
    finally:
        signal.signal(signal.SIGTERM, old_handler)
    write_loss(trainer.state.log_history, out)
    if stop.terminated:
        log.warning("SIGTERM: checkpoint written at step %d; exiting for requeue", trainer.state.global_step)
        raise SystemExit(SIGTERM_EXIT)
    _save_final(trainer.model, processor, out)
    summary = {
        "global_step": int(trainer.state.global_step),
        "max_steps": cfg.max_steps,
        "stopped_by": "max_minutes" if stop.timed_out else "max_steps",
        "config": {k: v for k, v in asdict(cfg).items()},
    }
    with atomic_path(out / "train_summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    log.info("trained %d steps in %.1f min (%s)", summary["global_step"], minutes, summary["stopped_by"])
    return summary
