"""The settings of one training run: `TrainConfig`, the one definition of the training recipe.

Every field is a flag of `python -m vlm3.train` (derived from the dataclass: `max_steps` is
`--max-steps`, a bool is `--packing` / `--no-packing`) and a key of its `--config` YAML file.
The fields are of two sorts:

- the recipe (`RECIPE`): what a run of the workflow config (`runs.<run>`) sets. The config
  schema's run properties are exactly `RECIPE` plus `WORKFLOW_RUN_KEYS`
  (tests/test_train_settings.py). The train rule writes a run's recipe (`run_recipe`) to
  results/train_config/{run}.yaml (`python -m vlm3.train.settings`) and passes it with --config.
- the invocation (`INVOCATION`): where the run reads and writes and how it uses this machine:
  `model`, `data`, `out`, `image_root`, `state`, `threads` (torch threads per process), and `seed`,
  the workflow's one seed (config `seed`). The rule passes them as flags. `extra` (passed through to
  TrainingArguments) is for Python callers only and has no flag.

To add a setting: a field here (type, default, a comment; a range check in `validate`), the
property in the runs section of src/vlm3/schemas/config.schema.yaml, and its use in trainer.py.
No other file lists the settings.

    python -m vlm3.train.settings --recipe '{"max_steps": 650, "packing": true}' --out run.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import yaml

from vlm3.train.hub import model_source
from vlm3.utils import atomic_path

OPTIMIZERS = ("adamw_torch", "adamw_torch_fused")  # TrainingArguments.optim values; fp32 states either way


@dataclass
class TrainConfig:
    """Training run settings; every field is a CLI flag of `python -m vlm3.train` and a YAML key."""

    model: str                      # save_pretrained folder (vlm3.model.build output) or hub id org/name
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
    weight_decay: float = 0.0       # AdamW weight decay
    grad_clip: float = 1.0          # max gradient norm (the paper used 0.02 at 4B scale)
    threads: int | None = None      # torch CPU threads (None: leave torch's default)
    num_workers: int = 0            # DataLoader worker processes per rank (0: collate in the training loop)
    image_root: str = "."           # relative image paths are taken from here
    state: str | None = None        # checkpoint folder (default {out}/trainer_state); put it outside
                                    # `out` when a workflow manager deletes `out` of failed jobs
    logging_steps: int = 1          # loss.csv gets a row every N optimizer steps
    global_batch: int | None = None  # samples per optimizer step over all ranks; batch_size is then
                                     # the micro-batch and grad_accum is derived (batch_plan)
    packing: bool = False           # padding-free packed rows (one row per micro-batch)
    freeze_vision: bool = False     # no gradients for the vision tower
    gradient_checkpointing: bool = False
    checkpoint_fraction: float | None = None  # checkpoint only this fraction of text layers
    compile: bool = False           # regional torch.compile of decoder layers and ViT blocks
    bf16: bool = False              # bf16 mixed precision
    liger: bool = False             # Liger kernels when liger_kernel is installed
    varlen_vision: bool = False     # vision attention as one varlen FlashAttention call per layer (CUDA)
    single_turn: bool = False       # each question its own sample with the images, as predicted
    shared_prefix: bool = False     # each question as predicted, the record's images and prefix stored
                                    # once (vlm3.train.data; needs packing)
    sparse_lm_head: bool = False    # LM head + loss only at labelled positions (same loss, less work)
    optim: str = "adamw_torch"      # AdamW implementation (OPTIMIZERS); adamw_torch_fused: one kernel
    pin_memory: bool = False        # page-locked host batches (asynchronous host-to-GPU copies)
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
        if int(self.num_workers) < 0:
            raise ValueError(f"--num-workers: must be >= 0, got {self.num_workers}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay: must be >= 0, got {self.weight_decay}")
        model_source(self.model)
        for name in SWITCHES:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"--{name.replace('_', '-')}: must be true or false, got {getattr(self, name)!r}")
        if self.optim not in OPTIMIZERS:
            raise ValueError(f"--optim: must be one of {', '.join(OPTIMIZERS)}, got {self.optim!r}")
        if self.global_batch is not None:
            if int(self.global_batch) < 1:
                raise ValueError(f"--global-batch: must be >= 1, got {self.global_batch}")
            if self.grad_accum != 1:
                raise ValueError(f"--grad-accum {self.grad_accum} with --global-batch {self.global_batch}: give one "
                                 "(with --global-batch the accumulation follows from the world size)")
        if self.checkpoint_fraction is not None:
            if not 0 <= self.checkpoint_fraction <= 1:
                raise ValueError(f"--checkpoint-fraction: must be in [0, 1], got {self.checkpoint_fraction}")
            if not self.gradient_checkpointing:
                raise ValueError("--checkpoint-fraction needs --gradient-checkpointing")
        if not self.data:
            raise ValueError("--data: at least one QA jsonl file is needed")
        if self.shared_prefix and not self.packing:
            raise ValueError("--shared-prefix needs --packing (branches live in packed rows)")
        if self.shared_prefix and self.single_turn:
            raise ValueError("--shared-prefix and --single-turn: give one (both train every question as "
                             "predicted; shared-prefix stores the images once per record)")


def _kinds() -> tuple[dict[str, type], set[str]]:
    """Each field's value type (bool, int, float, str, list of str, dict) and the fields that may be None."""
    kinds, nullable = {}, set()
    for name, hint in typing.get_type_hints(TrainConfig).items():
        if isinstance(hint, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(args) != 1:
                raise TypeError(f"TrainConfig.{name}: one type (or it | None) per setting, got {hint}")
            nullable.add(name)
            hint = args[0]
        kinds[name] = typing.get_origin(hint) or hint
    return kinds, nullable


KINDS, NULLABLE = _kinds()
SWITCHES = tuple(name for name, kind in KINDS.items() if kind is bool)  # --flag / --no-flag
INVOCATION = ("model", "data", "out", "image_root", "state", "threads", "seed", "extra")
RECIPE = tuple(f.name for f in fields(TrainConfig) if f.name not in INVOCATION)
# Keys of a workflow config run that the workflow reads and the trainer never sees: the run's task,
# the job's cores (`threads`, shared by its processes) and GPUs, its nodes and SLURM time limit,
# the paper's sample count, and which QA it trains on (unify_focal; `mixtures`, the names of the
# config's training mixtures it trains on, default [task]: the train rule passes their files as --data).
WORKFLOW_RUN_KEYS = ("task", "mixtures", "threads", "gpus", "nodes", "runtime_min", "samples", "unify_focal",
                     "from_built")
_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
          list: "a file name or a list of them", dict: "a mapping"}


def coerce(name: str, value):
    """`value` as field `name` holds it (YAML scalars, e.g. `max_minutes: 8` -> 8.0, `lr: '2e-3'`
    -> 0.002); ValueError "{name}: expected ..., got ..." when it is not one."""
    kind = KINDS[name]
    if value is None and name in NULLABLE:
        return None
    ok = None
    if kind is bool or kind is dict:
        ok = value if isinstance(value, kind) else None
    elif kind is list:
        items = [value] if isinstance(value, str) else value
        ok = list(items) if isinstance(items, list) and all(isinstance(v, str) for v in items) else None
    elif kind is str:
        ok = value if isinstance(value, str) else None
    elif isinstance(value, str):  # a number written as text (YAML reads `2e-3` as a string)
        try:
            ok = kind(value)
        except ValueError:
            ok = None
    elif kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        ok = float(value)
    elif kind is int and isinstance(value, int) and not isinstance(value, bool):
        ok = value
    elif kind is int and isinstance(value, float) and value.is_integer():
        ok = int(value)
    if ok is None:
        raise ValueError(f"{name}: expected {_WORDS[kind]}, got {value!r}")
    return ok


def from_mapping(values: Mapping, where: str) -> dict:
    """Settings of a --config file (keys with dashes or underscores), each coerced to its field's
    type; ValueError "{where}: unknown key 'k'" / "{where}: k: expected ..."."""
    out = {}
    for k, v in values.items():
        key = str(k).replace("-", "_")
        if key not in KINDS:
            raise ValueError(f"{where}: unknown key {k!r} (not a setting of vlm3.train.settings.TrainConfig)")
        try:
            out[key] = coerce(key, v)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    return out


def run_recipe(run: Mapping, where: str = "run") -> dict:
    """The trainer settings of a workflow config run: its `RECIPE` keys, type-checked. With
    `global_batch` the accumulation follows from the world size, so `grad_accum` (e.g. the paper's
    32-GPU value, kept in config/paper.yaml for the record) is left out."""
    unknown = sorted(set(run) - set(RECIPE) - set(WORKFLOW_RUN_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (neither a training setting nor a workflow key)")
    recipe = from_mapping({k: run[k] for k in RECIPE if k in run}, where)
    if "global_batch" in recipe:
        recipe.pop("grad_accum", None)
    return recipe


def write_recipe(recipe: Mapping, out: str | os.PathLike) -> None:
    """The recipe as a YAML mapping, keys sorted (same recipe, same bytes); written atomically."""
    text = yaml.safe_dump(dict(recipe), sort_keys=True, default_flow_style=False)
    with atomic_path(out) as tmp:
        tmp.write_text(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m vlm3.train.settings", description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", required=True, help="the run's settings as a JSON object")
    ap.add_argument("--out", required=True, help="the YAML file `python -m vlm3.train --config` reads")
    args = ap.parse_args(argv)
    try:
        run = json.loads(args.recipe)
    except json.JSONDecodeError as e:
        raise ValueError(f"--recipe: not valid JSON ({e})") from None
    if not isinstance(run, dict):
        raise ValueError(f"--recipe: expected a JSON object, got {type(run).__name__}")
    write_recipe(run_recipe(run, "--recipe"), args.out)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.train.settings")
