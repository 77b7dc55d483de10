"""The tiny, valid inputs of every stage, built once per test session; each fault case copies what
it needs into its own folder and breaks it there."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from vlm3.records import prediction_line, prediction_row, questions, read_qa

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    root: Path
    raw: Path            # synthetic raw dataset (split `test`)
    index: Path          # index parquet
    pairs: Path          # index pairs parquet
    calib: Path          # calibrated index parquet
    resized: Path        # resized folder .../synthetic/test
    qa: dict             # task -> QA jsonl
    pred: dict           # task -> predictions jsonl
    metrics: Path        # metrics root: {model}/{task}/{bench}.json
    model: Path          # micro Qwen3-VL save_pretrained folder
    config: Path         # the embedded default config (repository file)

    def copy(self, src: Path, dst: Path) -> Path:
        """Copy file or folder `src` to `dst`; return `dst`."""
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)
        return dst


def _predictions(qa: Path, out: Path, answer) -> Path:
    """A predictions file for `qa` whose every answer is `answer(target)`."""
    rows = [prediction_row(q, answer(q["target"])) for rec in read_qa(qa) for q in questions(rec)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(map(prediction_line, rows)))
    return out


def build_world(root: Path) -> World:
    import sys

    from vlm3.calibrate.__main__ import main as calibrate
    from vlm3.index import main as index
    from vlm3.qa.build import main as qa_build
    from vlm3.resize import main as resize
    from vlm3.score import main as score
    from vlm3.synthetic.generate import generate_split
    from vlm3.synthetic.scene import SyntheticParams
    sys.path.insert(0, str(ROOT / "tests"))
    from _tiny import build_micro

    raw = root / "data" / "raw" / "synthetic"
    generate_split(raw, "test", 2, seed=3, params=SyntheticParams(views=2, sizes=((64, 48),),
                                                                 focal_range=(60.0, 90.0), withheld=0.0))
    res = root / "results"
    index(["--type", "synthetic", "--raw", str(raw), "--split", "test", "--out", str(res / "index.parquet"),
           "--pairs-out", str(res / "pairs.parquet")])
    calibrate(["--index", str(res / "index.parquet"), "--out", str(res / "calib.parquet"),
               "--providers", "metadata"])
    resized = res / "resized" / "synthetic" / "test"
    resize(["--calib", str(res / "calib.parquet"), "--pairs", str(res / "pairs.parquet"), "--out", str(resized),
            "--target-focal", "60"])
    qa = {}
    for task in ("depth", "correspondence"):
        qa[task] = res / "qa" / task / "synthetic" / "test.jsonl"
        qa_build(["--task", task, "--resized", str(resized), "--out", str(qa[task]), "--border", "2",
                  "--questions-per-image", "2", "--answer-style", "fixed", "--min-covisibility", "0.05"])
    pred = {"depth": _predictions(qa["depth"], res / "predictions" / "m" / "depth" / "synthetic_test.jsonl",
                                  lambda t: f"{t['value']:.2f} meters"),
            "correspondence": _predictions(qa["correspondence"],
                                           res / "predictions" / "m" / "correspondence" / "synthetic_test.jsonl",
                                           lambda t: "The corresponding pixel is ({}, {}).".format(*t["value"]))}
    metrics = res / "metrics"
    for task, p in pred.items():
        score(["--pred", str(p), "--out", str(metrics / "m" / task / "synthetic_test.json"), "--task", task,
               "--n-boot", "20"])
    model = build_micro(root, qa["depth"])
    return World(root=root, raw=raw, index=res / "index.parquet", pairs=res / "pairs.parquet",
                 calib=res / "calib.parquet", resized=resized, qa=qa, pred=pred, metrics=metrics, model=model,
                 config=ROOT / "config" / "config.yaml")


def dump_yaml(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(obj, sort_keys=False))
    return path
