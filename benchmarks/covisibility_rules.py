"""Covisibility rules compared on a generated synthetic raw folder: pairs kept, values, CPU time.

    python benchmarks/covisibility_rules.py --raw data/raw/synthetic --splits train,test \
        --out benchmarks/results/covisibility_rules_default.json

For every pair in `{raw}/{split}/pairs.json` (true intrinsics, also for withheld images) it
recomputes covisibility 1 -> 2 at full resolution with
  * `cell@0.02`: the project's rule (`vlm3.geometry.covisibility`, the generator's; must equal the
    stored value bit for bit),
  * `cell@0.05`: the same rule at the looser tolerance the real loaders used,
  * `nearest@0.05`, `nearest@0.02`: the real loaders' former rule (nearest view-2 pixel, relative
    tolerance, view-2 pixels without depth counted as seen), written here on the same re-projection,
and reports per rule: values equal to the stored ones, pairs kept at `--min-covisibility`, pairs
gained and lost against the stored values, and CPU ms per pair (one core, one thread).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from vlm3.geometry.covisibility import covisibility, reproject  # noqa: E402


def nearest_rule(depth1, K1, c2w1, depth2, K2, c2w2, tol: float) -> float:
    """The loaders' former rule: nearest view-2 pixel, |z2 - d2| <= tol * d2, no depth = seen."""
    u2, v2, z2, valid = reproject(depth1, K1, c2w1, K2, c2w2)
    H2, W2 = depth2.shape
    with np.errstate(invalid="ignore"):
        iu, iv = np.floor(u2 + 0.5), np.floor(v2 + 0.5)
        inside = valid & (z2 > 1e-9) & (iu >= 0) & (iu < W2) & (iv >= 0) & (iv < H2)
    d2 = depth2[iv[inside].astype(np.int64), iu[inside].astype(np.int64)].astype(np.float64)
    ok = ~(np.isfinite(d2) & (d2 > 0)) | (np.abs(z2[inside] - d2) <= tol * d2)
    n = int(valid.sum())
    return float(ok.sum()) / n if n else 0.0


RULES = {
    "cell@0.02": lambda *v: covisibility(*v, tol=0.02),
    "cell@0.05": lambda *v: covisibility(*v, tol=0.05),
    "nearest@0.05": lambda *v: nearest_rule(*v, tol=0.05),
    "nearest@0.02": lambda *v: nearest_rule(*v, tol=0.02),
}


def views(folder: Path) -> dict:
    """image_id -> (depth, K, c2w) with the true intrinsics of every image."""
    meta = json.loads((folder / "meta.json").read_text())
    truth = json.loads((folder / "intrinsics_withheld.json").read_text())
    out = {}
    for im in meta["images"]:
        k = im["intrinsics"] or truth[im["image_id"]]
        K = np.array([[k["fx"], 0, k["cx"]], [0, k["fy"], k["cy"]], [0, 0, 1.0]])
        out[im["image_id"]] = (np.load(folder / im["depth"]), K, np.reshape(im["cam_to_world"], (4, 4)))
    return out


def compare(folder: Path, min_cov: float) -> dict:
    pairs = json.loads((folder / "pairs.json").read_text())
    v = views(folder)
    stored = np.array([p["covisibility"] for p in pairs])
    res = {"pairs": len(pairs), "kept_stored": int((stored >= min_cov).sum())}
    for name, rule in RULES.items():
        t0 = time.process_time()
        vals = np.array([rule(*v[p["image_id_1"]], *v[p["image_id_2"]]) for p in pairs])
        dt = time.process_time() - t0
        kept = vals >= min_cov
        res[name] = {"ms_per_pair": round(1000 * dt / len(pairs), 2), "equal_to_stored": int((vals == stored).sum()),
                     "kept": int(kept.sum()), "gained": int((kept & (stored < min_cov)).sum()),
                     "lost": int((~kept & (stored >= min_cov)).sum()),
                     "mean_abs_diff": round(float(np.abs(vals - stored).mean()), 5)}
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raw", type=Path, default=Path("data/raw/synthetic"))
    p.add_argument("--splits", default="train,test")
    p.add_argument("--min-covisibility", type=float, default=0.25)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    res = {s: compare(a.raw / s, a.min_covisibility) for s in a.splits.split(",")}
    text = json.dumps(res, indent=1, sort_keys=True) + "\n"
    print(text, end="")
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
