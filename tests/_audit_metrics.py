"""Metrics files and configs for the audit and paper-build tests (test_audit.py, test_paper_build.py):
the embedded default's depth models, written as `vlm3.score` writes them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

EMBEDDED = {
    "seed": 0,
    "datasets": {"synthetic": {"type": "synthetic", "source": "generate", "splits": ["train", "test"]}},
    "benchmarks": {"depth": [{"dataset": "synthetic", "split": "test"}]},
    "base_model": {"build": "config/tiny_model.yaml"},
    "runs": {"tiny-depth": {"task": "depth"}},
    "models": {"tiny-untrained": {"kind": "base", "label": "Tiny, untrained"},
               "tiny-trained": {"kind": "run", "run": "tiny-{task}", "label": "Tiny, fine-tuned"},
               "median": {"kind": "baseline", "label": "Constant"}},
}


def metrics_file(root: Path, model: str, task: str, bench: str, metrics: dict, ci: dict) -> Path:
    p = root / model / task / f"{bench}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"model": model, "task": task, "bench": bench, "n": 240, "n_unparsed": 0,
                             "metrics": metrics, "ci95": ci}))
    return p


def write_config(tmp_path: Path, cfg: dict) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


def embedded_metrics(root: Path, trained=(0.6, 0.55, 0.65)) -> Path:
    v, lo, hi = trained
    metrics_file(root, "tiny-trained", "depth", "synthetic_test", {"delta1": v, "abs_rel": 0.2},
                 {"delta1": [lo, hi], "abs_rel": [0.18, 0.22]})
    metrics_file(root, "tiny-untrained", "depth", "synthetic_test", {"delta1": 0.0, "abs_rel": None},
                 {"delta1": [0.0, 0.0], "abs_rel": [None, None]})
    metrics_file(root, "median", "depth", "synthetic_test", {"delta1": 0.375, "abs_rel": 0.32},
                 {"delta1": [0.3167, 0.4417], "abs_rel": [0.30, 0.35]})
    return root
