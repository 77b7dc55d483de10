"""benchmarks/eval_throughput.py end to end at tiny shapes on CPU: the three rows, the sweep, the
phase profile, and identical answers of the product and plain paths (float32)."""

from __future__ import annotations

import importlib.util
import json

from _tiny import ROOT, ground_plane


def test_eval_throughput_tiny(tmp_path):
    data = tmp_path / "data"
    ground_plane().write_dataset(data, "depth", 3, seed=0, n_q=2, focal_range=(60.0, 160.0))
    spec = importlib.util.spec_from_file_location("eval_throughput", ROOT / "benchmarks" / "eval_throughput.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "r.json"
    mod.main(["--tiny", "--data", str(data), "--out", str(out), "--records", "3", "--seq-records", "1",
              "--plain-records", "2", "--plain-batches", "1,4", "--product-batches", "3,6",
              "--profile", str(tmp_path / "profile.txt")])
    res = json.loads(out.read_text())
    assert [r["name"] for r in res["rows"]] == ["sequential", "batched_plain", "product"]
    assert [(r["questions"], r["batch"]) for r in res["rows"]][0] == (2, 1)
    assert res["rows"][1]["batch"] in (1, 4) and res["rows"][2]["batch"] in (3, 6)
    assert [(r["name"], r["batch"], r["questions"]) for r in res["sweep"]] == [
        ("batched_plain", 1, 4), ("batched_plain", 4, 4), ("product", 3, 6), ("product", 6, 6)]
    # no GPU: the product row is eager (no CUDA graph) and the eager row is skipped, saying why
    assert res["rows"][2]["cuda_graph"] is False and list(res["skipped"]) == ["product_eager"] and res["failed"] == []
    ph = res["phases"]["product"]
    assert list(res["phases"]) == ["product"] and ph["batch"] == res["rows"][2]["batch"]
    assert {"prompts", "prep_wait", "prefix_prefill", "cache_fill", "suffix_tokenise", "suffix_prefill",
            "decode", "text_decode"} == set(ph["main"])
    assert {"images_load", "images_process", "prefix_encode_rope"} == set(ph["workers_cpu_s"])
    assert ph["total_s"] > 0 and ph["other_s"] >= 0 and all(v >= 0 for v in ph["main"].values())
    assert all(r["questions_per_s"] > 0 and r["peak_gib"] is None for r in res["rows"])
    assert res["agreement"]["questions"] == 4 and res["agreement"]["rate"] == 1.0
    assert res["new_tokens"] == {"min": 8, "max": 8} and res["card"] == "cpu" and res["records"] == 3
    assert res["questions_per_record"] == 2.0
    assert {"python", "torch", "transformers"} <= set(res["versions"])
    assert res["cmd"].startswith("python benchmarks/eval_throughput.py --tiny --data ")
    prof = (tmp_path / "profile.txt").read_text()  # CPU: no kernels; the phases are named ranges
    assert res["profile"] == str(tmp_path / "profile.txt")
    assert prof.startswith(f"product, batch {res['rows'][2]['batch']}, 6 questions (")
    assert "no GPU kernels recorded (CPU run)" in prof and "phase:prefix_prefill" in prof and "phase:decode" in prof
    assert res["speedup_product_vs_sequential"] == round(res["rows"][2]["questions_per_s"]
                                                         / res["rows"][0]["questions_per_s"], 1)


def test_make_data_questions_per_image(tmp_path):
    """`gpu_scaling.make_data` (the benchmarks' product chain) writes the asked number of depth questions
    per record: eval_throughput's --questions-per-image (an audit asks ~100 pixels per image)."""
    from vlm3.predict import questions
    from vlm3.records import read_qa

    spec = importlib.util.spec_from_file_location("gpu_scaling", ROOT / "benchmarks" / "gpu_scaling.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.make_data(tmp_path, 2, 1, "160x120", 160, questions_per_image=25)
    recs = read_qa(tmp_path / "data" / "depth.jsonl")
    assert len(recs) == 2 and len(questions(recs)) == 50
    assert sorted({q["rec"] for q in questions(recs)}) == [0, 1]
