"""benchmarks/shared_prefix_step.py on the micro model: every form trains the same answers, so the
untrained model's mean answer loss is the same in all four rows, and the shared-prefix row is the
shortest (each record's images and prefix once)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _tiny import ROOT, build_tiny


def test_forms_give_the_same_loss_and_shared_prefix_is_shortest(tmp_path):
    qa = build_tiny(tmp_path, 3, n_q=3)
    out = tmp_path / "r.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks/shared_prefix_step.py"), "--model", str(tmp_path / "init"),
                    "--qa", str(qa), "--records", "3", "--threads", "1", "--warmup", "1", "--steps", "1",
                    "--out", str(out)], check=True, cwd=ROOT)
    doc = json.loads(out.read_text())
    rows = {r["form"]: r for r in doc["rows"]}
    assert list(rows) == ["multi_turn", "single_turn", "shared_prefix", "shared_prefix_masked_block"]
    assert rows["single_turn"]["samples"] == 9 and rows["shared_prefix"]["samples"] == 3
    assert rows["shared_prefix"]["tokens"] == rows["shared_prefix_masked_block"]["tokens"]
    assert rows["shared_prefix"]["tokens"] < min(rows["single_turn"]["tokens"], rows["multi_turn"]["tokens"])
    loss = rows["single_turn"]["loss"]
    for form in ("shared_prefix", "shared_prefix_masked_block"):
        assert rows[form]["loss"] == pytest.approx(loss, rel=1e-5), form
    assert set(doc) == {"date", "card", "versions", "cmd", "rows"} and doc["card"].startswith("CPU")
