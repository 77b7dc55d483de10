"""The depth chain on REAL data: DepthLM's 40 curated iBims-1 images (../shared/data, never committed).

index (depthlm_jsonl) -> calibrate (metadata) -> resize (focal 1000) -> qa (all 100 labels per image)
-> a constant predictor (training median) -> score. Checks the labels survive the chain exactly and the
score equals delta1 computed by hand from the raw file. Skipped when ../shared/data is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SLICE = ROOT.parent / "shared" / "data" / "ibims1-depthlm"

pytestmark = pytest.mark.skipif(not (SLICE / "ibims1_val.jsonl").is_file(),
                                reason=f"{SLICE} absent (real DepthLM slice is optional)")


def _run(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", *args], cwd=cwd, check=True, capture_output=True, text=True,
                   env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})


def test_depth_chain_on_real_ibims_slice(tmp_path):
    raw = [json.loads(ln) for ln in (SLICE / "ibims1_val.jsonl").read_text().splitlines() if ln.strip()]
    _run("vlm3.index", "--type", "depthlm_jsonl", "--raw", str(SLICE), "--split", "val",
         "--out", "index.parquet", "--pairs-out", "pairs.parquet", cwd=tmp_path)
    _run("vlm3.calibrate", "--index", "index.parquet", "--out", "calib.parquet", "--providers", "metadata",
         cwd=tmp_path)
    _run("vlm3.resize", "--calib", "calib.parquet", "--out", "resized", "--target-focal", "1000", cwd=tmp_path)
    _run("vlm3.qa.build", "--task", "depth", "--resized", "resized", "--out", "qa.jsonl", "--seed", "0",
         "--questions-per-image", "100", "--border", "0", cwd=tmp_path)
    _run("vlm3.baselines", "--kind", "median", "--task", "depth", "--qa", "qa.jsonl", "--train-qa", "qa.jsonl",
         "--out", "pred.jsonl", cwd=tmp_path)
    _run("vlm3.score", "--pred", "pred.jsonl", "--out", "m.json", "--task", "depth", cwd=tmp_path)

    records = [json.loads(ln) for ln in (tmp_path / "qa.jsonl").read_text().splitlines()]
    assert len(records) == len(raw) == 40
    got = np.sort([t["value"] for r in records for t in r["meta"]["targets"]])
    want = np.sort([d for r in raw for d in r["depth"]])
    assert got.shape == want.shape == (4000,)
    # resized depth is stored as float32 metres: the labels come back to float32 precision
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=0, atol=0)

    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n"] == 4000 and metrics["n_unparsed"] == 0
    gt = want.astype(np.float32).astype(np.float64)
    pred = float(f"{np.median(gt):.2f}")  # the baseline answers "X.XX meters"
    assert metrics["metrics"]["delta1"] == pytest.approx(np.mean(np.maximum(pred / gt, gt / pred) < 1.25), abs=1e-12)
    assert metrics["metrics"]["abs_rel"] == pytest.approx(np.mean(np.abs(pred - gt) / gt), rel=1e-9)
