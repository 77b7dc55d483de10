"""The real trainer in two CPU processes (gloo) through `python -m vlm3.train.launch --cpu`, with the
command form the train rule writes (the recipe in a --config file, read by every rank): the global
batch is kept (2 ranks x 2 x 1 = 4 samples per step), rank 0 alone writes the final model and the
loss table.

Resuming is not exercised here: with several CPU processes transformers' Trainer loads the optimizer
state with map_location=torch.device("cpu", rank), which torch.load rejects ("cpu:0"); on GPUs that
is cuda:N, and FSDP runs load through accelerate (tests/test_fsdp_cpu.py covers an FSDP resume).
Single-process resume: tests/test_train_resume.py, tests/test_train_packing.py."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from _tiny import build_tiny

from vlm3.train.settings import run_recipe, write_recipe

ROOT = Path(__file__).resolve().parents[1]


RUN = {"task": "depth", "gpus": 2, "global_batch": 4, "grad_accum": 8, "batch_size": 2, "lr": 3e-3, "save_steps": 2,
       "packing": True}


def _launch(d: Path, out: str, steps: int, port: int) -> None:
    write_recipe(run_recipe({**RUN, "max_steps": steps}), d / f"{out}.yaml")
    cmd = [sys.executable, "-m", "vlm3.train.launch", "--cpu", "--gpus-per-node", "2", "--main-port", str(port),
           "--", "python", "-m", "vlm3.train", "--config", str(d / f"{out}.yaml"), "--model", str(d / "init"),
           "--data", str(d / "qa/train.jsonl"), "--out", str(d / out), "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    for k in [k for k in env if k.startswith("SLURM_")]:
        env.pop(k)
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-12000:]


def test_two_ranks_keep_the_global_batch(tmp_path):
    d = tmp_path
    build_tiny(d, 16)
    _launch(d, "run", steps=2, port=29631)
    summary = json.loads((d / "run/train_summary.json").read_text())
    assert summary["batch"] == {"world_size": 2, "micro_batch": 2, "grad_accum": 1, "samples_per_step": 4,
                                "packing": True}
    # the recipe file reached the trainer (its grad_accum left out: global_batch sets it)
    want = {"max_steps": 2, "global_batch": 4, "grad_accum": 1, "batch_size": 2, "lr": 3e-3, "save_steps": 2,
            "packing": True}
    assert {k: summary["config"][k] for k in want} == want
    state = json.loads((d / "run/trainer_state/checkpoint-2/trainer_state.json").read_text())
    assert state["log_history"][-1]["epoch"] == 0.5  # 2 steps x 4 samples of 16 records
    assert not list((d / "run").glob(".final*"))
    # rank 0 alone writes throughput.csv; its per-step all-reduce ran on both ranks (else a hang)
    tp = list(csv.DictReader(open(d / "run/throughput.csv")))
    assert [(int(r["step"]), int(r["samples"])) for r in tp] == [(1, 4), (2, 4)]
    assert all(int(r["tokens"]) > 0 for r in tp)
    rows = list(csv.DictReader(open(d / "run/loss.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2]
    # the final model is complete: it loads and has every weight of the initial model
    from safetensors.torch import load_file

    final, init = load_file(d / "run/model.safetensors"), load_file(d / "init/model.safetensors")
    assert final.keys() == init.keys() and any(not (final[k] == init[k]).all() for k in init)


def _agree_worker(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from vlm3.train.trainer import _any_rank

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        # rank 1 alone got SIGTERM; rank 0 alone passed its deadline; neither saw anything next
        got = [_any_rank(rank == 1, rank == 0), _any_rank(False, False)]
        Path(out, f"r{rank}.json").write_text(json.dumps(got))
    finally:
        dist.destroy_process_group()


def test_stop_flags_are_agreed_over_ranks(tmp_path):
    """A signal or deadline seen by one rank stops every rank at the same step (else the others
    would wait forever in the next collective)."""
    import torch.multiprocessing as mp

    mp.spawn(_agree_worker, args=(29641, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        assert json.loads((tmp_path / f"r{rank}.json").read_text()) == [[True, True], [False, False]]
