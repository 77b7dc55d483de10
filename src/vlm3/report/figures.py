"""Stage `report` (figures): PNG plots from predictions, QA images and training logs.

    python -m vlm3.report.figures --predictions P [P ...] --out results/figures
        [--qa Q [Q ...]] [--checkpoints C [C ...]] [--config config/config.yaml] [--n-pairs 3]

Reads only the files it is given (rule figures lists them from the config), never a folder's
other contents, so a stale file of an earlier config cannot reach a figure:
- `--predictions`: prediction files `.../{model}/{task}/{bench}.jsonl`;
- `--qa`: QA files `.../{task}/{dataset}/{split}.jsonl` (the correspondence images);
- `--checkpoints`: checkpoint folders of the fine-tuning runs, each with its `loss.csv`.
A named file that does not exist is an error.

Writes (each only when its inputs exist; the log says which were skipped and why):
- `depth_scatter.png`: predicted vs true depth (log-log, metres) per model, all depth benchmarks,
  with the y = x line and the delta1 band (x 1.25^-1 .. x 1.25); unparsed answers are not drawn.
- `pose_cdf.png`: cumulative share of pairs with error <= x degrees per model (pair error as in
  `vlm3.score`), the 30-degree line marked and AUC@30 (histogram) in the legend.
- `correspondence_{model}.png`: the first `--n-pairs` pairs (sorted by id) of each model: image 1
  | image 2 side by side; every query joined by a green line to its true position and by a red
  line to the predicted one. Images come from the `--qa` file `correspondence/{dataset}/{split}.jsonl`.
- `loss.png`: training loss against step for every `{checkpoint}/loss.csv` (step, loss, lr).
Matplotlib Agg, fixed size and dpi, PNG metadata without a software version: same inputs, same bytes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vlm3 import metrics as M
from vlm3 import score
from vlm3.geometry.coords import denormalize_point
from vlm3.io.image import read_image
from vlm3.records import read_predictions, read_qa
from vlm3.report.tables import model_labels, row_order
from vlm3.utils import atomic_path

log = logging.getLogger("vlm3.report.figures")

DPI = 100
PNG_META = {"Software": None}


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata=PNG_META)
    plt.close(fig)
    log.info("wrote %s", path)
    return path


def _existing(paths, flag: str) -> list[Path]:
    paths = [Path(p) for p in paths or []]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ValueError(f"{flag} {missing[0]}: no such file or folder" + (f" (and {len(missing) - 1} more)"
                                                                            if len(missing) > 1 else ""))
    return paths


def prediction_files(files, task: str) -> dict[str, dict[str, Path]]:
    """{model: {bench: path}} of the given prediction files `.../{model}/{task}/{bench}.jsonl` of `task`."""
    out: dict[str, dict[str, Path]] = {}
    for f in sorted(Path(f) for f in files):
        if f.parent.name == task:
            out.setdefault(f.parent.parent.name, {})[f.stem] = f
    return out


def qa_files(files, task: str) -> dict[str, Path]:
    """{bench: path} of the given QA files `.../{task}/{dataset}/{split}.jsonl` of `task`."""
    return {f"{f.parent.name}_{f.stem}": f for f in sorted(Path(f) for f in files) if f.parent.parent.name == task}


def depth_points(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(gt, pred) metres of the parsed answers of a depth predictions file."""
    recs = read_predictions(path, "depth")
    pairs = [(float(r["target"]["value"]), float(a)) for r in recs
             if (a := score.read_answer(r)) is not None]
    arr = np.array(pairs, dtype=float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def pose_errors(path: Path) -> np.ndarray:
    """Per-pair pose errors in degrees (NaN = unparsed), sorted by pair id."""
    recs = read_predictions(path, "pose")
    pairs = score.pose_pair_errors(recs, [score.read_answer(r) for r in recs])
    return np.array([pairs[k]["err"] for k in sorted(pairs)], dtype=float)


def error_cdf(errors: np.ndarray, max_deg: float = 180.0) -> tuple[np.ndarray, np.ndarray]:
    """Step CDF: x = sorted finite errors (prefixed 0, suffixed max_deg), y = share of ALL pairs
    with error <= x (unparsed pairs never count, so the curve may end below 1)."""
    e = np.sort(np.asarray(errors, dtype=float)[np.isfinite(errors)])
    n = max(len(errors), 1)
    x = np.r_[0.0, e, max_deg]
    y = np.r_[0.0, np.arange(1, len(e) + 1) / n, len(e) / n]
    return x, y


def plot_depth_scatter(files: dict[str, dict[str, Path]], labels: dict[str, str], out: Path) -> Path | None:
    rows = row_order(list(files), labels)
    if not rows:
        return None
    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3.4), squeeze=False)
    for ax, (name, label) in zip(axes[0], rows):
        lo, hi = np.inf, 0.0
        for bench, path in sorted(files[name].items()):
            gt, pred = depth_points(path)
            ok = pred > 0
            if ok.any():
                ax.scatter(gt[ok], pred[ok], s=6, alpha=0.6, label=bench)
                lo, hi = min(lo, gt.min(), pred[ok].min()), max(hi, gt.max(), pred[ok].max())
        if hi > 0:
            xs = np.array([lo / 1.5, hi * 1.5])
            ax.plot(xs, xs, "k-", lw=0.8)
            ax.fill_between(xs, xs / 1.25, xs * 1.25, color="0.85", zorder=0, label=r"$\delta_1$ band")
            ax.set_xscale("log")
            ax.set_yscale("log")
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlim(xs)
            ax.set_ylim(xs)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("true depth (m)")
        ax.legend(fontsize=6, loc="upper left")
    axes[0][0].set_ylabel("predicted depth (m)")
    fig.tight_layout()
    return _save(fig, out)


def plot_pose_cdf(files: dict[str, dict[str, Path]], labels: dict[str, str], out: Path) -> Path | None:
    rows = row_order(list(files), labels)
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    for name, label in rows:
        for bench, path in sorted(files[name].items()):
            err = pose_errors(path)
            if len(err) == 0:
                continue
            auc = M.pose_auc(err, 30, method="histogram")
            x, y = error_cdf(err)
            ax.step(x, y, where="post", label=f"{label} / {bench} (AUC@30 {100 * auc:.1f})")
    ax.axvline(30.0, color="k", ls="--", lw=0.8)
    ax.text(30.5, 0.02, "30°", fontsize=8)
    ax.set_xlim(0, 90)
    ax.set_ylim(0, 1)
    ax.set_xlabel("pose error max(rot, transl. dir.) (deg)")
    ax.set_ylabel("share of pairs")
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return _save(fig, out)


def plot_correspondence(path: Path, qa_file: Path | None, label: str, out: Path, n_pairs: int = 3) -> Path | None:
    """Side-by-side pairs with true (green) and predicted (red) matches of each query."""
    if qa_file is None:
        log.warning("%s: no QA file of benchmark %s given for the images; correspondence figure skipped",
                    path, path.stem)
        return None
    images = {rec["id"]: rec["images"] for rec in read_qa(qa_file, "QA file")}
    recs = read_predictions(path, "correspondence")
    ids = sorted({r["id"] for r in recs})[:n_pairs]
    if not ids:
        return None
    fig, axes = plt.subplots(len(ids), 1, figsize=(7.0, 2.6 * len(ids)), squeeze=False)
    for ax, pid in zip(axes[:, 0], ids):
        if pid not in images:
            raise ValueError(f"{path}: pair {pid!r} is not in {qa_file}")
        im1, im2 = (read_image(p) for p in images[pid])
        h = max(im1.shape[0], im2.shape[0])
        canvas = np.zeros((h, im1.shape[1] + im2.shape[1], 3), dtype=np.uint8)
        canvas[:im1.shape[0], :im1.shape[1]] = im1
        canvas[:im2.shape[0], im1.shape[1]:] = im2
        ax.imshow(canvas)
        (h1, w1), (h2, w2) = im1.shape[:2], im2.shape[:2]
        for r in (r for r in recs if r["id"] == pid):
            q = score.read_answer(r)
            query = r["target"].get("query")
            if query is None:
                continue
            x1, y1 = denormalize_point(*query, w1, h1, scale=1000)
            xt, yt = denormalize_point(*r["target"]["value"], w2, h2, scale=1000)
            ax.plot([x1, w1 + xt], [y1, yt], "-", color="lime", lw=0.8)
            if q is not None:
                xp, yp = denormalize_point(*q, w2, h2, scale=1000)
                ax.plot([x1, w1 + xp], [y1, yp], "-", color="red", lw=0.8)
            ax.plot([x1], [y1], "o", color="yellow", ms=2)
        ax.set_title(f"{label}: {pid}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, out)


def plot_losses(checkpoints, out: Path) -> Path | None:
    """Loss curves of the given checkpoint folders (each with loss.csv), labelled by folder name."""
    files = _existing([Path(c) / "loss.csv" for c in sorted(checkpoints, key=lambda c: Path(c).name)], "--checkpoints")
    if not files:
        return None
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    for f in files:
        df = pd.read_csv(f)
        if not {"step", "loss"} <= set(df.columns):
            raise ValueError(f"{f}: loss.csv needs columns step, loss; has {list(df.columns)}")
        ax.plot(df["step"], df["loss"], lw=1.0, label=f.parent.name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out)


def write_figures(predictions, out: str | Path, qa=None, checkpoints=None, config: str | Path | None = None,
                  n_pairs: int = 3) -> list[Path]:
    """Every figure whose inputs are given: prediction files, QA files, checkpoint folders (lists of
    paths); returns the written paths."""
    plt.rcParams.update({"font.size": 8, "svg.hashsalt": "vlm3"})
    labels = model_labels(config)
    predictions, out = _existing(predictions, "--predictions"), Path(out)
    written = []
    p = plot_depth_scatter(prediction_files(predictions, "depth"), labels, out / "depth_scatter.png")
    written += [p] if p else []
    p = plot_pose_cdf(prediction_files(predictions, "pose"), labels, out / "pose_cdf.png")
    written += [p] if p else []
    if qa is not None:
        images = qa_files(_existing(qa, "--qa"), "correspondence")
        for model, benches in sorted(prediction_files(predictions, "correspondence").items()):
            label = labels.get(model, model)
            for bench, path in sorted(benches.items())[:1]:
                p = plot_correspondence(path, images.get(bench), label, out / f"correspondence_{model}.png", n_pairs)
                written += [p] if p else []
    if checkpoints:
        p = plot_losses(checkpoints, out / "loss.png")
        written += [p] if p else []
    if not written:
        log.warning("no figure written: no predictions or loss logs given")
    return written


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--predictions", nargs="*", default=[], help="prediction files .../{model}/{task}/{bench}.jsonl")
    p.add_argument("--out", required=True, help="output folder (results/figures)")
    p.add_argument("--qa", nargs="*", help="QA files .../{task}/{dataset}/{split}.jsonl, for the correspondence images")
    p.add_argument("--checkpoints", nargs="*", help="checkpoint folders (each with loss.csv), for loss curves")
    p.add_argument("--config", help="workflow config: model labels and order")
    p.add_argument("--n-pairs", type=int, default=3, help="pairs drawn per correspondence figure")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    write_figures(a.predictions, a.out, a.qa, a.checkpoints, a.config, a.n_pairs)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.report.figures")
