"""Supervised fine-tuning of a Qwen3-VL model on QA records with the Hugging Face `Trainer`.

Recipe (the paper's, scaled down): AdamW, cosine schedule with 10 % linear warm-up, gradient
clipping, answer-only loss (`vlm3.train.data.QACollator`). Everything is seeded; on CPU a run
killed at any point and restarted with the same arguments resumes from its last checkpoint and
ends with bitwise the same weights as an uninterrupted run (tests/test_train_resume.py).

Output folder (docs/CONTRACTS.md, "Train"):
  {out}/model.safetensors, config.json, generation_config.json, tokenizer + processor files
  {out}/trainer_state/checkpoint-{step}/   resumable checkpoints (`save_steps`, last 2 kept;
                                           `state` puts them elsewhere)
  {out}/loss.csv (step, loss, lr), {out}/loss.png, {out}/throughput.csv (per-step time, tokens, samples,
  peak GPU memory; `vlm3.train.throughput`), {out}/train_summary.json (step reached, stop reason)

Signals and caps: SIGTERM (SLURM preemption) saves a checkpoint at the end of the current step and
exits with status 143 without writing the final model, so the job can be requeued and resumed.
`max_minutes` ends training cleanly (final model written) and records the step reached.

Paper-scale path (all off by default, so the CPU embedded default runs exactly as before):
`packing` (padding-free rows, `vlm3.train.packing`, with the `sdpa_packed` text attention),
`gradient_checkpointing` (+ `checkpoint_fraction` of text layers), `freeze_vision`, `compile`
(regional torch.compile), `liger` (when installed), `bf16` (mixed precision), `sparse_lm_head`
(LM head and loss only on labelled positions, `LabelledHeadTrainer`), `optim` (`adamw_torch_fused`:
one fused AdamW kernel over fp32 states), `pin_memory` (pinned host batches), and `global_batch`:
with it `batch_size` is the micro-batch and the accumulation is derived from the world size
(`vlm3.train.model_setup.batch_plan`), so the samples per optimizer step stay `global_batch` on any number
of GPUs. Packing does not change what a batch is: the Trainer still hands `micro_batch` records to
the collator, which packs them into ONE row, so the number of samples per step is unchanged.
Multi-GPU runs start through `python -m vlm3.train.launch -- <these flags>` (accelerate + FSDP);
the stop flags (SIGTERM, time cap) are agreed over all ranks so every rank stops at the same step.

The settings, their defaults and meanings: `vlm3.train.settings.TrainConfig`.
`model` is a local save_pretrained folder or a Hugging Face hub id (`vlm3.train.hub`).

Swappable parts for other trainers: `train(cfg, load_fn=..., collator=...)`.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import time
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import Qwen3VLForConditionalGeneration, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from vlm3.model.processor import load_processor
from vlm3.staging import stage_dir
from vlm3.train.data import QACollator, QADataset
from vlm3.train.hub import auto_processor, model_source
from vlm3.train.model_setup import batch_plan, causal_lm_loss_sum, compile_blocks, set_checkpoint_fraction, setup_model
from vlm3.train.packing import PACKED_SDPA, PackedBatchCollator, PackingCollator, use_packed_sdpa, use_varlen_vision
from vlm3.train.ranks import max_over_ranks
from vlm3.train.settings import TrainConfig
from vlm3.train.throughput import ThroughputLog
from vlm3.utils import atomic_path

log = logging.getLogger(__name__)

SIGTERM_EXIT = 143  # 128 + SIGTERM, what SLURM and shells report for a terminated job


def load_model(path: str):
    """(model, processor) from a save_pretrained folder or a hub id; float32 weights (bf16 is
    mixed precision on top, so optimizer states stay fp32), training mode.

    Local folders use `vlm3.model.processor.load_processor` (the image-only processor vlm3 saves);
    hub ids (`Qwen/Qwen3-VL-4B-Instruct`) use `AutoProcessor` (`vlm3.train.hub.auto_processor`).
    """
    model = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    processor = auto_processor(path) if model_source(path) == "hub" else load_processor(path)
    return model, processor


def world_size() -> int:
    """Processes of this run: WORLD_SIZE as set by torchrun / accelerate launch, else 1."""
    v = os.environ.get("WORLD_SIZE", "1")
    try:
        n = int(v)
    except ValueError:
        raise ValueError(f"environment variable WORLD_SIZE={v!r} is not an integer") from None
    if n < 1:
        raise ValueError(f"environment variable WORLD_SIZE={v!r} must be >= 1")
    return n


def batch_settings(cfg: TrainConfig, n_ranks: int) -> tuple[int, int]:
    """(micro-batch, gradient accumulation) per rank. Without `global_batch`: `batch_size` and
    `grad_accum` as given. With it: `batch_plan(global_batch, n_ranks, batch_size)`, so
    micro * accum * n_ranks == global_batch on any number of ranks (ValueError if it cannot)."""
    if cfg.global_batch is None:
        return int(cfg.batch_size), int(cfg.grad_accum)
    try:
        plan = batch_plan(int(cfg.global_batch), n_ranks, int(cfg.batch_size))
    except ValueError as e:
        raise ValueError(f"--global-batch {cfg.global_batch}: {e}") from None
    return plan.micro_batch, plan.grad_accum


def prepare_model(model, cfg: TrainConfig):
    """Apply the paper-scale options to a loaded model (in place). With every option off on CPU the
    model is left untouched (the embedded default's numbers do not move). On CUDA the patch
    embedding always runs as one matrix product (`LinearPatchConv3d`, same weights)."""
    cuda = torch.cuda.is_available()
    if cfg.packing:
        # flash-attn's varlen kernel would cut shared-prefix branches off their prefix
        flash = cuda and importlib.util.find_spec("flash_attn") is not None and not cfg.shared_prefix
        log.info("packed rows: text attention %s", packed_attention(model, flash))
    if cfg.gradient_checkpointing or cfg.freeze_vision or cfg.liger or cuda:
        before = dict(vars(model.config))
        setup_model(model, gradient_checkpointing=cfg.gradient_checkpointing, freeze_vision=cfg.freeze_vision,
                    linear_patch_embed=cuda, liger=cfg.liger)
        # setup_model sets config.use_cache = False, a training-time switch (the Qwen3-VL top-level
        # config has no such key; the decoder reads text_config): the saved config stays as loaded.
        if "use_cache" in before:
            model.config.use_cache = before["use_cache"]
        else:
            vars(model.config).pop("use_cache", None)
    if cfg.varlen_vision:
        log.info("vision attention: %s", use_varlen_vision(model))
    if cfg.checkpoint_fraction is not None:
        k = set_checkpoint_fraction(model, cfg.checkpoint_fraction)
        log.info("activation checkpointing on %d text layers", k)
    if cfg.compile:
        log.info("torch.compile on %d blocks", compile_blocks(model))
    return model


def packed_attention(model, flash_attn: bool) -> str:
    """Select the text decoder's attention for packed rows (`vlm3.train.packing`, point 2) and
    return its name: flash-attn's varlen kernel through transformers (`flash_attention_2`, reads
    the packed position ids) when the flash_attn package is usable, else `sdpa_packed`
    (`use_packed_sdpa`: torch's built-in varlen FlashAttention on CUDA, per-sample SDPA on CPU)."""
    if flash_attn:
        model.set_attn_implementation({"text_config": "flash_attention_2"})
        return "flash_attention_2"
    use_packed_sdpa(model)
    return PACKED_SDPA


def build_collator(cfg: TrainConfig, model, processor):
    """QACollator (right-padded), or with `packing` the same records packed into one row."""
    inner = QACollator(processor, image_root=cfg.image_root, shared_prefix=cfg.shared_prefix)
    return PackedBatchCollator(inner, PackingCollator.from_config(model.config)) if cfg.packing else inner


class LabelledHeadTrainer(Trainer):
    """The Trainer with `sparse_lm_head`: the LM head and the cross-entropy run only at positions
    whose next label is kept (`vlm3.train.model_setup.causal_lm_loss_sum`; answer tokens, ~10 % of a depth
    sample), so the (tokens x vocabulary) logits and their fp32 copy are never built for prompt and
    image tokens. The loss is the stock one up to rounding: the summed token loss divided by the
    labelled-token count of the whole optimizer step (`num_items_in_batch`, counted by the Trainer
    over every micro-batch and rank), scaled by the process count as the Trainer scales its own."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if return_outputs:  # evaluation-style calls want the outputs: the stock path
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss_sum, n = causal_lm_loss_sum(model, inputs)
        if num_items_in_batch is None:
            return loss_sum / n.clamp(min=1)
        loss = loss_sum / num_items_in_batch
        if self.args.average_tokens_across_devices:
            loss = loss * self.accelerator.num_processes
        return loss


class _StopControl(TrainerCallback):
    """SIGTERM -> checkpoint now and stop; wall-clock cap -> checkpoint and stop (`train` then saves
    the final model)."""

    def __init__(self, max_minutes: float | None):
        self.deadline = None if max_minutes is None else time.monotonic() + 60.0 * max_minutes
        self.terminated = False
        self.timed_out = False

    def on_step_end(self, args, state, control, **kwargs):
        late = self.deadline is not None and time.monotonic() >= self.deadline
        self.terminated, late = _any_rank(self.terminated, late)
        if self.terminated:
            control.should_save = True
            control.should_training_stop = True
        elif late:
            self.timed_out = True
            control.should_save = True  # so a later run with a larger cap can continue from here
            control.should_training_stop = True
        return control


def _any_rank(*flags: bool) -> tuple[bool, ...]:
    """Each flag OR-ed over all ranks (one tiny all-reduce), so that a signal or a deadline seen by
    one rank stops every rank at the same step; single-process runs return the flags as they are."""
    return tuple(v > 0 for v in max_over_ranks([float(f) for f in flags]))


def checkpoint_missing(d: str | Path) -> list[str]:
    """What a saved checkpoint lacks for an exact resume: the model weights, the optimizer state
    (`optimizer.pt`, or FSDP's `optimizer*`), `scheduler.pt` and the RNG state (`rng_state*.pth`).
    Empty when complete. (The Trainer writes these before trainer_state.json, so a run killed while
    saving never leaves them missing beside a readable state file: something removed them, or the
    run saved with `save_only_model`.)"""
    names = [p.name for p in Path(d).iterdir()]
    missing = []
    if not any(n.startswith(("model", "pytorch_model")) for n in names):
        missing.append("model weights")
    if not any(n.startswith("optimizer") for n in names):
        missing.append("optimizer.pt")
    if "scheduler.pt" not in names:
        missing.append("scheduler.pt")
    if not any(n.startswith("rng_state") and n.endswith(".pth") for n in names):
        missing.append("rng_state.pth")
    return missing


def last_complete_checkpoint(folder: str | Path) -> str | None:
    """The highest-step `checkpoint-N` in `folder` that an exact resume can start from.

    A checkpoint without (or with a truncated) trainer_state.json was interrupted while saving (the
    Trainer writes that file last, and not atomically; transformers' `get_last_checkpoint` would pick
    it and the resume would fail): it is skipped with a warning. One with a readable state but
    without its optimizer, scheduler or RNG state (`checkpoint_missing`) would make the Trainer
    restart the optimizer and the warm-up silently: the previous complete checkpoint is used instead,
    with a warning naming both, and when there is none, ValueError (the run must not restart from
    half a state; remove the folder to train afresh).
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
                log.warning("ignoring incomplete checkpoint %s (interrupted while saving)", d)
                continue
            steps.append((int(name.split("-")[-1]), d))
    lacking = []
    for _, d in sorted(steps, reverse=True):
        missing = checkpoint_missing(d)
        if not missing:
            if lacking:
                log.warning("train: %s; resuming from the previous complete checkpoint %s instead",
                            "; ".join(lacking), d)
            return str(d)
        lacking.append(f"{d} lacks {', '.join(missing)}")
    if lacking:
        raise ValueError(f"train: {folder}: no complete checkpoint to resume from ({'; '.join(lacking)}); "
                         "resuming would restart the optimizer and learning-rate schedule. "
                         "Restore the files or remove the checkpoints to train afresh")
    return None


# Settings that do not change what a run computes: where it writes, how fast it runs, how often it
# logs or checkpoints, and the wall-clock cap (a requeued job may get a longer one).
_NOT_FINGERPRINTED = {"out", "state", "threads", "num_workers", "pin_memory", "logging_steps", "save_steps",
                      "max_minutes"}
FINGERPRINT = "run_fingerprint.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# Settings added after runs were started, left out of the fingerprint at their default (the value
# every earlier run had), so upgrading the code does not make a running job's checkpoints look foreign.
_ADDED_DEFAULTS = {"sparse_lm_head": False, "optim": "adamw_torch", "shared_prefix": False, "varlen_vision": False}


def run_fingerprint(cfg: TrainConfig) -> dict:
    """What a run's checkpoints depend on: the recipe, the data files' contents and the base model
    (a local folder's file contents, or the hub id)."""
    recipe = {k: v for k, v in asdict(cfg).items() if k not in _NOT_FINGERPRINTED and k not in ("data", "model")
              and not (k in _ADDED_DEFAULTS and v == _ADDED_DEFAULTS[k])}
    model = Path(cfg.model)
    if model.is_dir():
        base = {str(f.relative_to(model)): _sha256(f) for f in sorted(model.rglob("*")) if f.is_file()}
    else:
        base = {"hub": cfg.model}
    return {"recipe": json.loads(json.dumps(recipe, sort_keys=True, default=str)),
            "data": [_sha256(Path(d)) for d in cfg.data], "base_model": base}


def check_state(folder: str | Path, fingerprint: dict) -> None:
    """Make the checkpoint folder belong to this run: checkpoints written for other settings, data or
    base model (or with no fingerprint) are removed with a warning saying what differs, so the run
    restarts instead of silently resuming someone else's state; then the fingerprint is recorded."""
    folder = Path(folder)
    ckpts = [d for d in folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if d.is_dir()] if folder.is_dir() else []
    path = folder / FINGERPRINT
    try:
        old = json.loads(path.read_text()) if path.exists() else None
    except (OSError, json.JSONDecodeError):
        old = None
    if ckpts and old != fingerprint:
        if old is None:
            why = f"no readable {FINGERPRINT}"
        else:
            why = ", ".join(k for k in ("recipe", "data", "base_model") if old.get(k) != fingerprint[k])
            if old.get("recipe") != fingerprint["recipe"]:
                keys = sorted(k for k in set(old.get("recipe") or {}) | set(fingerprint["recipe"])
                              if (old.get("recipe") or {}).get(k) != fingerprint["recipe"].get(k))
                why += f" ({', '.join(keys)})"
        log.warning("train: %s holds %d checkpoint(s) of other settings (differs: %s); starting afresh",
                    folder, len(ckpts), why)
        for d in ckpts:
            shutil.rmtree(d)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(fingerprint, indent=1, sort_keys=True) + "\n")


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
    tmp = stage_dir(out / "final")  # cleans what a killed run left (vlm3.staging)
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _save_final_distributed(trainer, processor, out: Path) -> None:
    """The final model of a multi-process run: FSDP gathers a full state dict (collective, every
    rank calls this), rank 0 writes it to a temp folder inside `out` and moves the files into place."""
    tmp = out / ".final.distributed"
    if trainer.is_world_process_zero():
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    if trainer.is_fsdp_enabled:
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(tmp))
    if trainer.is_world_process_zero():
        processor.save_pretrained(tmp)
        for f in sorted(tmp.iterdir()):
            if f.is_file() and f.name != "training_args.bin":
                os.replace(f, out / f.name)
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()


def save_final(trainer, processor, out: Path, n_ranks: int) -> str:
    """Write the final model; returns which path did it. FSDP gathers a full state dict even on one
    GPU: its parameters are DTensors there too, which `save_pretrained` cannot serialise (seen on an
    H100 with `--gpus-per-node 1`: "Attempted to access the data pointer on an invalid python
    storage" after the whole run)."""
    if n_ranks > 1 or trainer.is_fsdp_enabled:
        _save_final_distributed(trainer, processor, out)
        return "distributed"
    _save_final(trainer.model, processor, out)
    return "single"


def training_arguments(cfg: TrainConfig, micro_batch: int | None = None, grad_accum: int | None = None
                       ) -> TrainingArguments:
    """HF TrainingArguments of a run; `micro_batch`/`grad_accum` default to `batch_settings` on
    this process's world size."""
    if micro_batch is None or grad_accum is None:
        micro_batch, grad_accum = batch_settings(cfg, world_size())
    bf16 = {"bf16": True} if cfg.bf16 else {}
    # pinned batches are copied to the GPU asynchronously (accelerate's non_blocking device placement)
    pinned = {"accelerator_config": {"non_blocking": True}} if cfg.pin_memory else {}
    return TrainingArguments(
        output_dir=str(cfg.state or Path(cfg.out) / "trainer_state"),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=micro_batch,
        gradient_accumulation_steps=grad_accum,
        learning_rate=cfg.lr,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_ratio,  # a float in [0, 1) is a ratio of max_steps
        optim=cfg.optim,
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
        # Workers decode and patchify the next micro-batches while the GPU runs the current one;
        # with 0 the GPU waits for every collation (measured: benchmarks/RESULTS.md, "GPU scaling").
        dataloader_num_workers=cfg.num_workers,
        dataloader_persistent_workers=cfg.num_workers > 0,  # no worker restart at every epoch
        dataloader_pin_memory=cfg.pin_memory,
        disable_tqdm=False,
        use_cpu=not torch.cuda.is_available(),
        # tokens per step for throughput.csv: packed rows have no padding, so all of a row counts
        include_num_input_tokens_seen="all" if cfg.packing else "non_padding",
        **bf16,
        **pinned,
        **cfg.extra,
    )


def train(cfg: TrainConfig, load_fn=load_model, collator=None, callbacks=()) -> dict:
    """Run (or resume) training; returns the summary written to train_summary.json.

    `load_fn(path) -> (model, processor)` and `collator(records) -> batch` can be swapped;
    `callbacks` are more TrainerCallbacks (e.g. a profiler, benchmarks/train_throughput.py).
    """
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    n_ranks = world_size()
    micro, accum = batch_settings(cfg, n_ranks)
    log.info("batch: %d ranks x %d micro-batch x %d accumulation = %d samples per step%s",
             n_ranks, micro, accum, n_ranks * micro * accum, " (packed rows)" if cfg.packing else "")
    args = training_arguments(cfg, micro, accum)
    if n_ranks > 1:
        # Start torch.distributed before from_pretrained, so that under accelerate's FSDP config
        # (fsdp_cpu_ram_efficient_loading) only rank 0 reads the weights into CPU memory.
        _ = args.device
    dataset = QADataset(cfg.data, single_turn=cfg.single_turn, shared_prefix=cfg.shared_prefix)
    model, processor = load_fn(cfg.model)
    model = prepare_model(model, cfg)
    collator = collator or build_collator(cfg, model, processor)
    stop = _StopControl(cfg.max_minutes)
    old_handler = signal.signal(signal.SIGTERM, lambda *_: setattr(stop, "terminated", True))
    if os.environ.get("RANK", "0") == "0":  # one process hashes the data and base model and cleans
        check_state(args.output_dir, run_fingerprint(cfg))
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()  # every rank sees the cleaned folder before looking for a checkpoint
    try:
        resume = last_complete_checkpoint(args.output_dir)
        if resume:
            log.info("resuming from %s", resume)
        trainer_cls = LabelledHeadTrainer if cfg.sparse_lm_head else Trainer
        trainer = trainer_cls(model=model, args=args, train_dataset=dataset, data_collator=collator,
                              processing_class=processor,
                              callbacks=[stop, ThroughputLog(out / "throughput.csv", n_ranks * micro * accum),
                                         *callbacks])
        t0 = time.monotonic()
        trainer.train(resume_from_checkpoint=resume)
        minutes = (time.monotonic() - t0) / 60
    finally:
        signal.signal(signal.SIGTERM, old_handler)
    main = trainer.is_world_process_zero()
    if main:
        write_loss(trainer.state.log_history, out)
    if stop.terminated:
        log.warning("SIGTERM: checkpoint written at step %d; exiting for requeue", trainer.state.global_step)
        raise SystemExit(SIGTERM_EXIT)
    save_final(trainer, processor, out, n_ranks)
    summary = {
        "global_step": int(trainer.state.global_step),
        "max_steps": cfg.max_steps,
        "stopped_by": "max_minutes" if stop.timed_out else "max_steps",
        "batch": {"world_size": n_ranks, "micro_batch": micro, "grad_accum": accum,
                  "samples_per_step": n_ranks * micro * accum, "packing": cfg.packing},
        "config": {k: v for k, v in asdict(cfg).items()},
    }
    if main:
        with atomic_path(out / "train_summary.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    log.info("trained %d steps in %.1f min (%s)", summary["global_step"], minutes, summary["stopped_by"])
    return summary
