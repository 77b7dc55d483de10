"""The micro Qwen3-VL shared by the model, training, packing and prediction tests: its config
(MICRO), the ground-plane QA generator (benchmarks/ground_plane_qa.py) and `build_tiny`, which
writes QA records and builds the model from them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

from vlm3.model.build import main as build_main

ROOT = Path(__file__).resolve().parents[1]
MICRO = {
    "tokenizer": {"vocab_size": 400},
    "text": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
             "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 2048,
             "rope_theta": 10000.0, "mrope_section": [4, 2, 2]},
    "vision": {"depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": 8,
               "spatial_merge_size": 2, "temporal_patch_size": 2, "num_position_embeddings": 64,
               "deepstack_visual_indexes": [0]},
    "image": {"min_pixels": 1024, "max_pixels": 49152, "image_mean": [0.5] * 3, "image_std": [0.5] * 3},
}


def ground_plane():
    """benchmarks/ground_plane_qa.py as a module (write_dataset(folder, split, n, seed, n_q))."""
    spec = importlib.util.spec_from_file_location("ground_plane_qa", ROOT / "benchmarks/ground_plane_qa.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_micro(d: Path, qa: Path) -> Path:
    """Build the MICRO model (seed 0) with the vocabulary of `qa` into d/init; return that folder."""
    (d / "micro.yaml").write_text(yaml.safe_dump(MICRO))
    build_main(["--config", str(d / "micro.yaml"), "--qa", str(qa), "--seed", "0", "--out", str(d / "init")])
    return d / "init"


def build_tiny(d: Path, n: int, n_q: int = 2) -> Path:
    """`n` ground-plane records (seed 0, `n_q` questions each) in d/qa/train.jsonl and the MICRO
    model built from them in d/init; return the QA file."""
    qa = ground_plane().write_dataset(d / "qa", "train", n, seed=0, n_q=n_q)
    build_micro(d, qa)
    return qa
