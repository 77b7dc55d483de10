"""Is a pair's yaw readable from a model's visual tokens? A bilinear ridge probe (issue 13).

    python benchmarks/pose_probe.py --model results/models/base --train results/qa/pose/train.jsonl \
        --test results/qa/pose/synthetic/test.jsonl [--n-train 600] [--dims 12] [--lam 1]

For each pose record, each image's visual tokens (the model's `get_image_features`, i.e. what the
language model receives) are mean-pooled; both images' features are projected on their top `--dims`
principal components (fitted on the training images), and the ridge probe regresses the euler
target's yaw on [a, b, a x b] (the products let a linear read compute an angle difference). The same
probe on the images' raw mean RGB is the reference. Prints test correlation and median absolute
error in degrees, beside the constant (training mean) answer's. CPU, seconds to minutes.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from vlm3.train.data import load_images
from vlm3.train.trainer import load_model


def _yaw(rec: dict) -> float:
    return float(next(t for t in rec["meta"]["targets"] if t["kind"] == "euler")["value"][0])


def pooled_tokens(model, processor, rec: dict) -> list[np.ndarray]:
    """Mean visual token of each of the record's images, as the language model receives them."""
    enc = processor.image_processor(images=load_images(rec["images"]), return_tensors="pt")
    with torch.no_grad():
        out = model.model.get_image_features(enc["pixel_values"], enc["image_grid_thw"])
    emb = out.pooler_output
    if not isinstance(emb, (list, tuple)):
        emb = torch.split(emb, (enc["image_grid_thw"].prod(-1) // processor.image_processor.merge_size**2).tolist())
    return [e.float().mean(0).numpy() for e in emb]


def mean_rgb(rec: dict) -> list[np.ndarray]:
    return [np.asarray(im, dtype=np.float64).reshape(-1, 3).mean(0) / 255 for im in load_images(rec["images"])]


def bilinear_probe(f_train, y_train, f_test, y_test, dims: int, lam: float) -> dict:
    """f_*: (n, 2, d) features of the two images; ridge on [a, b, outer(a, b)] after PCA to `dims`."""
    d = f_train.shape[2]
    flat = f_train.reshape(-1, d)
    mu = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mu, full_matrices=False)
    proj = vt[:min(dims, d)].T

    def design(f):
        a, b = (f[:, 0] - mu) @ proj, (f[:, 1] - mu) @ proj
        return np.concatenate([a, b, (a[:, :, None] * b[:, None, :]).reshape(len(f), -1)], 1)

    xa, xb = design(f_train), design(f_test)
    m, s = xa.mean(0), xa.std(0) + 1e-9
    xa, xb = (xa - m) / s, (xb - m) / s
    w = np.linalg.solve(xa.T @ xa + lam * np.eye(xa.shape[1]), xa.T @ (y_train - y_train.mean()))
    pred = xb @ w + y_train.mean()
    return {"corr": float(np.corrcoef(pred, y_test)[0, 1]), "median_abs_err_deg": float(np.median(np.abs(pred - y_test))),
            "constant_median_abs_err_deg": float(np.median(np.abs(y_train.mean() - y_test)))}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model folder (e.g. results/models/base or a checkpoint)")
    p.add_argument("--train", required=True, help="pose QA (.jsonl) the probe is fitted on")
    p.add_argument("--test", required=True, help="pose QA (.jsonl) it is scored on")
    p.add_argument("--n-train", type=int, default=600)
    p.add_argument("--dims", type=int, default=12)
    p.add_argument("--lam", type=float, default=1.0)
    a = p.parse_args(argv)
    train = [json.loads(line) for line in open(a.train, encoding="utf-8")][: a.n_train]
    test = [json.loads(line) for line in open(a.test, encoding="utf-8")]
    y_train, y_test = np.array([_yaw(r) for r in train]), np.array([_yaw(r) for r in test])
    model, processor = load_model(a.model)
    model.eval()
    out = {"model": a.model, "n_train": len(train), "n_test": len(test)}
    for name, fn in (("visual_tokens", lambda r: pooled_tokens(model, processor, r)), ("raw_mean_rgb", mean_rgb)):
        f_train, f_test = np.array([fn(r) for r in train]), np.array([fn(r) for r in test])
        out[name] = bilinear_probe(f_train, y_train, f_test, y_test, a.dims, a.lam)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
