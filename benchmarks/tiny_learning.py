"""Does the tiny Qwen3-VL learn depth on CPU in minutes? One experiment = build, train, predict, score.

    python benchmarks/tiny_learning.py --data DIR (train.jsonl, test.jsonl) --out results/bench/tiny/exp1 \
        --model-config config/tiny_model.yaml --set text.hidden_size=192 --steps 400 --minutes 6 \
        --lr 2e-3 --batch-size 16 --seed 0 --threads 2

Writes {out}/result.json: settings, steps reached, minutes, and for the trained model, the
untrained model and the constant-median baseline (median of the training targets): depth delta1
(max(p/g, g/p) < 1.25 over all questions, unparsed = wrong), AbsRel (over parsed answers) and
95 % bootstrap CIs (2000 resamples of questions, seed 0), plus the paired bootstrap CI of
delta1(trained) - delta1(median). Scoring here is self-contained (first number in the answer) so
the experiment does not depend on the score stage; `python -m vlm3.score` is the product's scorer.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from vlm3.model.build import build, load_model_config, save
from vlm3.predict import load, predict
from vlm3.records import read_qa
from vlm3.train.trainer import TrainConfig, train

NUM = re.compile(r"[-+]?\d+(?:\.\d+)?")


def parse_depth(text: str) -> float | None:
    m = NUM.search(text)
    return float(m.group()) if m else None


def score(pred: list[float | None], gt: np.ndarray, rng_seed: int = 0) -> dict:
    ok = np.array([p is not None and p > 0 for p in pred])
    p = np.array([p if (p is not None and p > 0) else np.nan for p in pred], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        d1 = np.where(ok, np.maximum(p / gt, gt / p) < 1.25, False).astype(float)
        ae = np.where(ok, np.abs(p - gt) / gt, np.nan)
    rng = np.random.default_rng(rng_seed)
    idx = rng.integers(0, len(gt), size=(2000, len(gt)))
    b_d1 = d1[idx].mean(1)
    b_ae = np.nanmean(ae[idx], 1) if ok.any() else np.full(2000, np.nan)
    return {"delta1": float(d1.mean()), "delta1_ci95": [float(np.quantile(b_d1, 0.025)), float(np.quantile(b_d1, 0.975))],
            "abs_rel": float(np.nanmean(ae)) if ok.any() else None,
            "abs_rel_ci95": [float(np.nanquantile(b_ae, 0.025)), float(np.nanquantile(b_ae, 0.975))] if ok.any() else None,
            "n": int(len(gt)), "n_unparsed": int((~ok).sum()), "n_distinct_answers": int(len(set(pred))),
            "_d1": d1}


def paired_ci(a: np.ndarray, b: np.ndarray, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(2000, len(a)))
    diff = a[idx].mean(1) - b[idx].mean(1)
    return [float(np.quantile(diff, 0.025)), float(np.quantile(diff, 0.975))]


def set_key(cfg: dict, assignment: str) -> None:
    key, val = assignment.split("=", 1)
    *path, last = key.split(".")
    node = cfg
    for k in path:
        node = node[k]
    node[last] = yaml.safe_load(val)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model-config", default="config/tiny_model.yaml")
    ap.add_argument("--set", action="append", default=[], help="override a model config key, e.g. text.hidden_size=192")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-test", type=int, default=None, help="score only the first N test records")
    ap.add_argument("--skip-untrained", action="store_true", help="do not predict with the untrained model")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(a.data)
    cfg = load_model_config(a.model_config)
    for s in a.set:
        set_key(cfg, s)
    model, proc = build(cfg, [data / "train.jsonl"], a.seed)
    n_params = sum(p.numel() for p in model.parameters())
    save(model, proc, out / "init")
    test = read_qa(data / "test.jsonl")[: a.n_test]
    gt = np.array([t["value"] for r in test for t in r["meta"]["targets"]], dtype=float)
    train_vals = np.array([t["value"] for r in read_qa(data / "train.jsonl") for t in r["meta"]["targets"]])
    median = float(np.median(train_vals))

    def run_predict(model_dir: Path) -> tuple[list, float]:
        t0 = time.time()
        m, p = load(str(model_dir))
        rows = predict(m, p, test, batch_size=32, max_new_tokens=12)
        (out / f"pred_{model_dir.name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return [parse_depth(r["prediction"]) for r in rows], time.time() - t0

    t0 = time.time()
    summary = train(TrainConfig(model=str(out / "init"), data=[str(data / "train.jsonl")], out=str(out / "trained"),
                                max_steps=a.steps, lr=a.lr, batch_size=a.batch_size, grad_accum=a.grad_accum,
                                seed=a.seed, save_steps=10**6, max_minutes=a.minutes, threads=a.threads))
    train_min = (time.time() - t0) / 60
    pred_trained, t_pred = run_predict(out / "trained")
    pred_init = [None] * len(gt) if a.skip_untrained else run_predict(out / "init")[0]
    s_tr, s_in = score(pred_trained, gt), score(pred_init, gt)
    s_med = score([median] * len(gt), gt)
    res = {"settings": vars(a), "model_config": cfg, "n_params": n_params,
           "steps": summary["global_step"], "stopped_by": summary["stopped_by"], "train_minutes": round(train_min, 2),
           "predict_minutes": round(t_pred / 60, 2), "median": median,
           "trained": {k: v for k, v in s_tr.items() if k != "_d1"},
           "untrained": {k: v for k, v in s_in.items() if k != "_d1"},
           "constant_median": {k: v for k, v in s_med.items() if k != "_d1"},
           "delta1_trained_minus_median_ci95": paired_ci(s_tr["_d1"], s_med["_d1"]),
           "delta1_trained_minus_untrained_ci95": paired_ci(s_tr["_d1"], s_in["_d1"])}
    (out / "result.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: res[k] for k in ("n_params", "steps", "train_minutes")}),
          "trained", res["trained"]["delta1"], res["trained"]["abs_rel"], "median", res["constant_median"]["delta1"],
          "untrained", res["untrained"]["delta1"], "diffCI", res["delta1_trained_minus_median_ci95"])


if __name__ == "__main__":
    main()
