"""The paper-scale options wired into the real trainer, on the tiny model on CPU: packed training
matches padded training, resumes bitwise after SIGKILL, and keeps the global batch; the new flags
parse and validate; hub ids load through from_pretrained (faked: the hub cannot be reached here)."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from _tiny import build_tiny

from vlm3.train import hub
from vlm3.train import trainer as trainer_mod
from vlm3.train.__main__ import parse_config
from vlm3.train.data import QACollator
from vlm3.train.packing import PACKED_SDPA
from vlm3.train.trainer import TrainConfig, batch_settings, load_model, train, training_arguments

STEPS = 12


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("trainpack")
    qa = build_tiny(d, 16)
    (d / "run.yaml").write_text(yaml.safe_dump({
        "model": str(d / "init"), "data": [str(qa)], "max_steps": STEPS, "global_batch": 4, "batch_size": 2,
        "lr": 3e-3, "seed": 0, "save_steps": 4, "threads": 1, "packing": True}))
    return d


def _losses(folder: Path) -> list[float]:
    return [float(r["loss"]) for r in csv.DictReader(open(folder / "loss.csv"))]


def _cfg(d: Path, out: str, **kw) -> TrainConfig:
    base = dict(model=str(d / "init"), data=[str(d / "qa/train.jsonl")], out=str(d / out), max_steps=3,
                batch_size=4, lr=1e-3, save_steps=100, threads=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def packed_run(setup):
    """3 packed steps (fp32) and their summary; the folder is setup / 'packed'."""
    return train(_cfg(setup, "packed", packing=True))


def test_packed_training_matches_padded(setup, packed_run):
    """Same records, same seed: the first step's loss (before any update) agrees to fp tolerance,
    and the next steps stay close (the same gradients up to rounding)."""
    padded = train(_cfg(setup, "padded"))
    packed = packed_run
    a, b = _losses(setup / "padded"), _losses(setup / "packed")
    assert len(a) == len(b) == 3
    assert b[0] == pytest.approx(a[0], rel=1e-5)
    assert b == pytest.approx(a, rel=1e-3)
    assert packed["batch"] == {"world_size": 1, "micro_batch": 4, "grad_accum": 1, "samples_per_step": 4,
                               "packing": True}
    assert padded["batch"]["packing"] is False


def test_packed_model_uses_packed_attention_and_saves_a_plain_config(setup, packed_run):
    model, _ = load_model(str(setup / "init"))
    trainer_mod.prepare_model(model, _cfg(setup, "x", packing=True))
    assert model.model.language_model.config._attn_implementation == PACKED_SDPA
    saved = yaml.safe_load((setup / "packed" / "config.json").read_text())  # JSON is YAML
    ref = yaml.safe_load((setup / "init" / "config.json").read_text())
    assert saved["text_config"].get("use_cache") == ref["text_config"].get("use_cache")


def test_global_batch_counts_samples_not_packed_rows(setup, monkeypatch):
    """global 4 with micro-batch 2 on one rank: 2 micro-batches of 2 records per step, each packed
    into a single row; 3 steps consume 12 of the 16 records (the Trainer's own epoch count: 0.75).
    accelerate's loader fetches one batch ahead, hence up to 7 collator calls."""
    seen = []
    orig = QACollator.__call__

    def counting(self, records):
        seen.append(len(records))
        return orig(self, records)

    monkeypatch.setattr(QACollator, "__call__", counting)
    summary = train(_cfg(setup, "gb", packing=True, global_batch=4, batch_size=2, save_steps=3))
    assert summary["batch"] == {"world_size": 1, "micro_batch": 2, "grad_accum": 2, "samples_per_step": 4,
                                "packing": True}
    assert set(seen) == {2} and len(seen) in (6, 7)
    state = json.loads((setup / "gb/trainer_state/checkpoint-3/trainer_state.json").read_text())
    assert state["global_step"] == 3 and state["log_history"][-1]["epoch"] == pytest.approx(12 / 16)


@pytest.mark.parametrize("world,micro,accum", [(1, 8, 6), (2, 8, 3), (3, 8, 2), (4, 6, 2), (6, 8, 1),
                                               (8, 6, 1), (16, 3, 1), (48, 1, 1)])
def test_global_batch_is_kept_on_every_world_size(setup, monkeypatch, world, micro, accum):
    cfg = _cfg(setup, "w", global_batch=48, batch_size=8)
    assert batch_settings(cfg, world) == (micro, accum)
    assert micro * accum * world == 48
    monkeypatch.setenv("WORLD_SIZE", str(world))  # as torchrun / accelerate launch set it
    assert trainer_mod.world_size() == world
    assert batch_settings(cfg, trainer_mod.world_size()) == (micro, accum)
    if world == 1:  # TrainingArguments with WORLD_SIZE > 1 would start torch.distributed
        args = training_arguments(cfg)
        assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (micro, accum)


def test_global_batch_errors(setup, monkeypatch):
    with pytest.raises(ValueError, match="--global-batch 48: global_batch=48 is not divisible by world_size=5"):
        batch_settings(_cfg(setup, "w", global_batch=48), 5)
    with pytest.raises(ValueError, match="--grad-accum 2 with --global-batch 48: give one"):
        _cfg(setup, "w", global_batch=48, grad_accum=2).validate()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two' is not an integer"):
        train(_cfg(setup, "w"))
    # without global_batch the given accumulation is kept whatever the world size
    assert batch_settings(_cfg(setup, "w", batch_size=3, grad_accum=5), 8) == (3, 5)


def test_new_flags_parse_and_validate(tmp_path, setup):
    cfg = parse_config(["--model", "m", "--data", "a", "--out", "o", "--packing", "--freeze-vision",
                        "--gradient-checkpointing", "--checkpoint-fraction", "0.25", "--compile", "--bf16",
                        "--global-batch", "1344", "--liger", "--batch-size", "21"])
    assert (cfg.packing, cfg.freeze_vision, cfg.gradient_checkpointing, cfg.checkpoint_fraction, cfg.compile,
            cfg.bf16, cfg.global_batch, cfg.liger, cfg.batch_size) == (True, True, True, 0.25, True, True, 1344,
                                                                      True, 21)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({"model": "m", "data": "a", "out": "o", "packing": True,
                                                        "global-batch": "64"}))
    cfg = parse_config(["--config", str(tmp_path / "run.yaml"), "--no-packing"])
    assert (cfg.packing, cfg.global_batch) == (False, 64)
    assert parse_config(["--model", "m", "--data", "a", "--out", "o"]) == TrainConfig(model="m", data=["a"], out="o")
    with pytest.raises(ValueError, match="--checkpoint-fraction needs --gradient-checkpointing"):
        _cfg(setup, "v", checkpoint_fraction=0.5).validate()
    with pytest.raises(ValueError, match=r"--checkpoint-fraction: must be in \[0, 1\], got 1.5"):
        _cfg(setup, "v", checkpoint_fraction=1.5, gradient_checkpointing=True).validate()
    with pytest.raises(ValueError, match="--packing: must be true or false, got 'yes'"):
        _cfg(setup, "v", packing="yes").validate()


def test_gradient_checkpointing_options_train(setup):
    """Checkpointing half the text layers and a frozen vision tower: trains, and the tower is unchanged."""
    from safetensors.torch import load_file

    cfg = _cfg(setup, "gc", max_steps=2, packing=True, gradient_checkpointing=True, checkpoint_fraction=0.5,
               freeze_vision=True)
    model, _ = load_model(cfg.model)
    trainer_mod.prepare_model(model, cfg)
    layers = model.model.language_model.layers
    assert [layer.gradient_checkpointing for layer in layers] == [i < round(0.5 * len(layers))
                                                                  for i in range(len(layers))]
    assert not any(p.requires_grad for p in model.model.visual.parameters())
    train(cfg)
    before, after = load_file(setup / "init/model.safetensors"), load_file(setup / "gc/model.safetensors")
    visual = [k for k in before if ".visual." in k]
    text = [k for k in before if "language_model.layers" in k]
    assert visual and text
    assert all(torch.equal(before[k], after[k]) for k in visual)
    assert not all(torch.equal(before[k], after[k]) for k in text)


# ------------------------------------------------------------------ resume with packing, bitwise
def _cmd(d: Path, out: str) -> list[str]:
    return [sys.executable, "-m", "vlm3.train", "--config", str(d / "run.yaml"), "--out", str(d / out)]


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")


def test_packed_sigkill_then_resume_is_bitwise_identical(setup):
    subprocess.run(_cmd(setup, "pref"), env=_env(), check=True, capture_output=True)
    proc = subprocess.Popen(_cmd(setup, "pkill"), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = setup / "pkill" / "trainer_state" / "checkpoint-4" / "trainer_state.json"
    deadline = time.monotonic() + 60
    while not state.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (setup / "pkill" / "model.safetensors").exists()
    subprocess.run(_cmd(setup, "pkill"), env=_env(), check=True, capture_output=True)
    for name in ("model.safetensors", "loss.csv"):
        assert (setup / "pkill" / name).read_bytes() == (setup / "pref" / name).read_bytes(), name
    assert len(_losses(setup / "pref")) == STEPS


# ------------------------------------------------------------------ hub ids (faked from_pretrained)
@pytest.mark.parametrize("name,kind", [("Qwen/Qwen3-VL-4B-Instruct", "hub"), ("facebook/VLM3-depth", "hub"),
                                       ("org/name.v2", "hub")])
def test_model_source_hub_ids(name, kind):
    assert hub.model_source(name) == kind


@pytest.mark.parametrize("name", ["Qwen3-VL-4B", "a/b/c", "/abs/missing", "../x/y", "org/", "org/..x/y"])
def test_model_source_rejects(name):
    with pytest.raises(ValueError, match=f"--model {name}: not a save_pretrained folder"):
        hub.model_source(name)


def test_load_model_branches_on_the_source(setup, monkeypatch):
    """FAKE from_pretrained (the hub is unreachable here): records what the real path would load."""
    calls = []

    def fake_model(name, **kw):
        calls.append(("model", name, kw.get("dtype")))
        return "MODEL"

    def fake_auto(name, **kw):
        calls.append(("auto_processor", name))
        return "PROCESSOR"

    monkeypatch.setattr(trainer_mod.Qwen3VLForConditionalGeneration, "from_pretrained", fake_model)
    monkeypatch.setattr("transformers.AutoProcessor.from_pretrained", fake_auto)
    assert load_model("Qwen/Qwen3-VL-4B-Instruct") == ("MODEL", "PROCESSOR")
    assert calls == [("model", "Qwen/Qwen3-VL-4B-Instruct", torch.float32),
                     ("auto_processor", "Qwen/Qwen3-VL-4B-Instruct")]
    calls.clear()
    model, processor = load_model(str(setup / "init"))  # local folder: vlm3's image-only processor
    assert model == "MODEL" and type(processor).__name__ == "ImageOnlyQwen3VLProcessor"
    assert calls == [("model", str(setup / "init"), torch.float32)]
    TrainConfig(model="Qwen/Qwen3-VL-4B-Instruct", data=["a"], out="o").validate()


def test_auto_processor_falls_back_without_torchvision(setup, monkeypatch):
    def needs_torchvision(name, **kw):
        raise ImportError("Qwen3VLVideoProcessor requires the Torchvision library")

    monkeypatch.setattr("transformers.AutoProcessor.from_pretrained", needs_torchvision)
    processor = hub.auto_processor(str(setup / "init"))
    assert type(processor).__name__ == "ImageOnlyQwen3VLProcessor"


def test_predict_loads_hub_ids(monkeypatch):
    """vlm3.predict: a hub id goes to from_pretrained (FAKE here) and needs --auto-processor."""
    from vlm3 import predict

    class FakeModel:
        def __init__(self):
            self.moved = None

        def to(self, device):
            self.moved = device
            return self

        def eval(self):
            return self

    got = {}
    monkeypatch.setattr(predict.AutoModelForImageTextToText, "from_pretrained",
                        lambda name, **kw: got.setdefault("model", (name, FakeModel())) and got["model"][1])
    monkeypatch.setattr("transformers.AutoProcessor.from_pretrained", lambda name, **kw: ("AUTO", name))
    model, processor = predict.load("facebook/VLM3-depth", auto_processor=True)
    assert got["model"][0] == "facebook/VLM3-depth" and processor == ("AUTO", "facebook/VLM3-depth")
    with pytest.raises(ValueError, match="--model facebook/VLM3-depth: a hub model needs --auto-processor"):
        predict.load("facebook/VLM3-depth")


def test_bf16_packed_training_runs_and_stays_close(setup, packed_run):
    """bf16 mixed precision (CPU autocast here; CUDA on the cluster): finite losses within bf16
    rounding of the fp32 run's, weights saved in fp32."""
    from safetensors.torch import load_file

    train(_cfg(setup, "bf16", packing=True, bf16=True))
    fp32, bf16 = _losses(setup / "packed"), _losses(setup / "bf16")
    assert all(math.isfinite(v) for v in bf16)
    assert bf16 == pytest.approx(fp32, rel=2e-2)
    assert {t.dtype for t in load_file(setup / "bf16/model.safetensors").values()} == {torch.float32}


def test_packed_attention_choice(setup):
    """flash-attn importable (CUDA nodes with the package) -> transformers' flash_attention_2 for the
    text decoder; otherwise sdpa_packed. FAKE model for the first branch (no flash-attn here)."""
    class Fake:
        def __init__(self):
            self.calls = []

        def set_attn_implementation(self, impl):
            self.calls.append(impl)

    fake = Fake()
    assert trainer_mod.packed_attention(fake, flash_attn=True) == "flash_attention_2"
    assert fake.calls == [{"text_config": "flash_attention_2"}]
    model, _ = load_model(str(setup / "init"))
    assert trainer_mod.packed_attention(model, flash_attn=False) == PACKED_SDPA
    assert model.model.language_model.config._attn_implementation == PACKED_SDPA
    assert model.model.visual.config._attn_implementation != PACKED_SDPA


def test_gradient_checkpointing_under_shared_prefix_trains_the_same_weights(setup):
    """Recomputing the blocks in backward (the replica's memory setting) changes no number: shared-prefix
    branches with and without activation checkpointing give the same weights after 2 fp32 steps."""
    from safetensors.torch import load_file

    for name, gc in (("sp", False), ("sp_gc", True)):
        train(_cfg(setup, name, max_steps=2, packing=True, shared_prefix=True, gradient_checkpointing=gc))
    plain, recomputed = load_file(setup / "sp/model.safetensors"), load_file(setup / "sp_gc/model.safetensors")
    assert plain.keys() == recomputed.keys()
    for k in plain:
        torch.testing.assert_close(recomputed[k], plain[k], rtol=1e-5, atol=1e-6, msg=k)
