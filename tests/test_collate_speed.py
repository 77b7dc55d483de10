"""benchmarks/collate_speed.py on the micro model: it times the product collator and splits the time
into its stages."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from _tiny import build_tiny

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("collate_speed", ROOT / "benchmarks" / "collate_speed.py")
cs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cs)


def test_collate_speed_reports_each_stage(tmp_path):
    qa = build_tiny(tmp_path, 4, n_q=3)
    out = tmp_path / "r.json"
    doc = cs.main(["--model", str(tmp_path / "init"), "--qa", str(qa), "--batch", "2", "--batches", "3",
                   "--out", str(out)])
    assert json.loads(out.read_text()) == doc
    assert (doc["records_per_batch"], doc["batches"], doc["shared_prefix"], doc["packing"]) == (2, 3, True, True)
    stages = doc["stage_ms_per_batch_profiled"]
    assert set(stages) == {"load_images", "image_processor", "text_encoding", "packing", "total"}
    assert all(stages[k] > 0 for k in stages)
    # the stages run inside the collator's call: together they take no more than it
    assert sum(stages[k] for k in ("load_images", "image_processor", "text_encoding", "packing")) <= stages["total"]
    assert doc["ms_per_batch"] > 0
