"""Evaluation throughput: questions/s of `vlm3.predict` on Qwen3-VL-4B real shapes (random init,
bf16, SDPA) and focal-1000 depth records, four ways on the same records in one run.

    python benchmarks/gpu_scaling.py data --out W --n-scenes 64          # CPU: the product chain -> W/data
    python benchmarks/eval_throughput.py --data W/data --out benchmarks/results/eval_throughput.json   # GPU
    python benchmarks/eval_throughput.py --tiny --data D --out R.json     # CPU smoke test (tiny shapes)

Records: `W/data/depth.jsonl` from the product chain at paper scale (`gpu_scaling.py data`:
`synthetic.generate` 1000x750 at f = 1000 -> index -> calibrate -> resize -> `qa.build --task depth`,
10 questions per image, images as JPEG); without `--data` the chain runs here first (it needs the
workflow's CPU dependencies). Model: `vlm3.train.shapes.qwen3vl_4b_config` (4.44e9 parameters)
with a tokenizer trained on the QA text and the Qwen3-VL image processor settings (as
`gpu_scaling.py model`), built in memory in bf16 on the GPU.

Rows (each timed after a warm-up of the same mode, for the product rows on one full batch of
records, `torch.cuda.synchronize` around it):
- `sequential`: the plain path (`--plain`: every question its own full prompt through `generate`)
  at batch 1, on the first `--seq-records` records;
- `batched_plain`: the plain path at each of `--plain-batches` on the first `--plain-records`
  records; the row is the best batch size (all sizes are in `sweep`);
- `product`: the shared-prefix path (`vlm3.predict_prefix`; on CUDA its decode step is
  replayed as a CUDA graph, `vlm3.predict --cuda-graph`, opt-in) at each of
  `--product-batches` on all records; the row is the best;
- `product_eager`: the same with `cuda_graph=False` (every decode step a plain forward), at the
  same batches; GPU only (on CPU `product` is already eager: the row is skipped, `skipped` says so).
`phases` (unless `--no-phases`): the best batch of each product row run once more with a phase
timer (`predict_prefix.answer`'s `timer` hook, `torch.cuda.synchronize` at each phase boundary of
the main thread, so slightly slower than the timed row): wall seconds per phase of the main thread
(`main`: prompts, prep_wait (blocked on the CPU pool), prefix_prefill (copy to the GPU, vision
tower and prefill of each batch of PREFILL_RECORDS records), suffix_tokenise, cache_fill (static
cache built or reused, prefix KV copied per question), suffix_prefill, decode (the greedy loop),
text_decode), the seconds summed over the pool's threads (`workers_cpu_s`: images_load,
images_process, prefix_encode_rope), the total and the main-thread time outside the named phases
(`other_s`).
Random weights stop at arbitrary tokens, so every question generates exactly 8 tokens
(min_new_tokens = max_new_tokens = 8, the length of a real depth answer such as "3.52 meters").
`agreement`: share of the questions answered by both whose product text equals the batched plain
text (bf16 on the GPU; on CPU in float32 the test demands equality).

Output JSON: `rows` [{name, questions_per_s, batch, peak_gib, questions, seconds, (product rows)
cuda_graph}], `sweep`, `speedup_product_vs_sequential`, `speedup_graph_vs_eager`, `agreement` (also
`agreement_eager_vs_graph`: product vs product_eager texts), `phases`, `skipped`, `failed` (sweep
entries that ran out of memory or raised: the others still run, the traceback is printed, and the
script exits non-zero after writing the JSON when no product or batched_plain run succeeded),
`card`, `date`, `versions`, `cmd`, `records`, `questions_per_record`, `visual_tokens_per_image`.
`--profile PATH`: the best product row once more under torch.profiler (its phases as named ranges
`phase:*`): GPU busy %, kernel-time shares and key averages (`gpu_profile.profile_text`) to PATH.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shlex
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from gpu_profile import profile_text  # noqa: E402

NEW_TOKENS = 8


def _gpu_scaling():
    spec = importlib.util.spec_from_file_location("gpu_scaling", ROOT / "benchmarks" / "gpu_scaling.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_model(data: Path, tiny: bool):
    """(model, processor): Qwen3-VL-4B shapes (or tiny ones) at random init, the tokenizer trained on
    the QA text, on the GPU in bf16 (CPU: float32)."""
    import torch
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration

    tok, proc, cfg = _gpu_scaling().model_config(data / "depth.jsonl", tiny)
    cfg.text_config.use_cache = True
    cuda = torch.cuda.is_available()
    torch.manual_seed(0)
    with torch.device("cuda" if cuda else "cpu"):
        model = Qwen3VLForConditionalGeneration._from_config(cfg, dtype=torch.bfloat16 if cuda else torch.float32)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return model.eval(), proc


def timed(name, fn, n_questions: int, batch: int) -> tuple[dict, list[dict]]:
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    rows = fn()
    if cuda:
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    res = {"name": name, "questions_per_s": round(n_questions / dt, 2), "batch": batch,
           "peak_gib": None if peak is None else round(peak, 2), "questions": n_questions, "seconds": round(dt, 3)}
    print(json.dumps(res), flush=True)
    return res, rows


class PhaseTimer:
    """The `timer` hook of `predict_prefix.answer`: `timer(name)` times one phase. In the main thread
    the phase is bracketed by `torch.cuda.synchronize` (its GPU work counts in it); in the pool's
    threads the seconds are summed over threads (CPU work, no GPU)."""

    def __init__(self):
        import torch

        self.cuda = torch.cuda.is_available()
        self.main: dict[str, float] = {}
        self.workers: dict[str, float] = {}
        self.lock = threading.Lock()

    @contextmanager
    def __call__(self, name: str):
        import torch

        main = threading.current_thread() is threading.main_thread()
        if main and self.cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        try:
            with torch.profiler.record_function(f"phase:{name}"):  # a named range under --profile
                yield
        finally:
            if main and self.cuda:
                torch.cuda.synchronize()
            dt = time.perf_counter() - t
            with self.lock:
                d = self.main if main else self.workers
                d[name] = d.get(name, 0.0) + dt


def run(args) -> dict:
    import torch
    import transformers

    from vlm3.predict import predict, questions
    from vlm3.predict_prefix import image_inputs
    from vlm3.records import read_qa
    from vlm3.train.data import load_images

    data = Path(args.data)
    if not (data / "depth.jsonl").exists():
        if data.name != "data":
            raise ValueError(f"--data {data}: no depth.jsonl there; to build the records name a folder W/data")
        _gpu_scaling().make_data(data.parent, args.n_scenes, args.workers,
                                 questions_per_image=args.questions_per_image)
    records = read_qa(data / "depth.jsonl")[: args.records]
    t0 = time.time()
    model, proc = build_model(data, args.tiny)
    print(f"model built in {time.time() - t0:.1f} s", flush=True)
    cuda = torch.cuda.is_available()

    def go(recs, batch, plain, cuda_graph=False, timer=None):
        return predict(model, proc, recs, batch_size=batch, max_new_tokens=NEW_TOKENS, image_root=data,
                       plain=plain, min_new_tokens=NEW_TOKENS, cuda_graph=cuda_graph, timer=timer)

    def nq(recs):
        return len(questions(recs))

    def one_batch(b):
        """The first records holding a batch of b questions: a product warm-up at the timed batch
        size (its static cache's size, so the allocator holds such blocks)."""
        n = 1
        while n < len(records) and nq(records[:n]) < b:
            n += 1
        return records[:n]

    def attempt(name, fn, n, b, warm=None, **extra):
        """One sweep entry: its timed run (after `warm`), or its failure (OOM, or the error's
        first line: the run goes on with the other rows, the traceback is printed)."""
        try:
            if warm is not None:
                warm()
            r, rows = timed(name, fn, n, b)
        except Exception as e:
            if cuda:
                torch.cuda.empty_cache()
            status = "OOM" if isinstance(e, torch.OutOfMemoryError) else f"error: {type(e).__name__}: {e}".split("\n")[0]
            if status != "OOM":
                traceback.print_exc()
            sweep.append({"name": name, "batch": b, "status": status, **extra})
            return None
        r.update(extra)
        sweep.append(r)
        return rows

    go(records[:2], 4, True)  # warm-up: kernels, allocator, threads
    go(records[:4], max(args.product_batches), False)
    seq_recs = records[: args.seq_records]
    seq, _ = timed("sequential", lambda: go(seq_recs, 1, True), nq(seq_recs), 1)
    plain_recs = records[: args.plain_records]
    sweep, plain_rows = [], {}
    for b in args.plain_batches:
        rows = attempt("batched_plain", lambda b=b: go(plain_recs, b, True), nq(plain_recs), b)
        if rows is not None:
            plain_rows[b] = rows
    # product: the shared-prefix path with its CUDA-graphed decode on the GPU (opt-in in vlm3.predict);
    # product_eager: the same without graphs
    modes = [("product", cuda)] + ([("product_eager", False)] if cuda else [])
    prod_rows = {}
    for name, graph in modes:
        for b in args.product_batches:
            rows = attempt(name, lambda b=b, g=graph: go(records, b, False, g), nq(records), b,
                           warm=lambda b=b, g=graph: go(one_batch(b), b, False, g),
                           cuda_graph=graph)
            if rows is not None:
                prod_rows[(name, b)] = rows

    def best(name):
        ok = [r for r in sweep if r["name"] == name and "questions_per_s" in r]
        return max(ok, key=lambda r: r["questions_per_s"]) if ok else None

    def agreement(a, b):
        ref = {(r["id"], r["turn"]): r["prediction"] for r in b}
        mine = [r for r in a if (r["id"], r["turn"]) in ref]
        same = sum(r["prediction"] == ref[(r["id"], r["turn"])] for r in mine)
        return {"questions": len(mine), "identical": same, "rate": round(same / max(1, len(mine)), 4)}

    bp, pr, pe = best("batched_plain"), best("product"), best("product_eager")
    out = {"rows": [r for r in (seq, bp, pr, pe) if r is not None], "sweep": sweep,
           "failed": [r for r in sweep if "status" in r]}
    if pr is not None:
        out["speedup_product_vs_sequential"] = round(pr["questions_per_s"] / seq["questions_per_s"], 1)
    if pr is not None and bp is not None:
        out["agreement"] = {**agreement(prod_rows[("product", pr["batch"])], plain_rows[bp["batch"]]),
                            "between": f"product (batch {pr['batch']}) and batched_plain (batch {bp['batch']})"}
    if pr is not None and pe is not None:
        out["speedup_graph_vs_eager"] = round(pr["questions_per_s"] / pe["questions_per_s"], 2)
        out["agreement_eager_vs_graph"] = {
            **agreement(prod_rows[("product", pr["batch"])], prod_rows[("product_eager", pe["batch"])]),
            "between": f"product (batch {pr['batch']}) and product_eager (batch {pe['batch']})"}
    out["skipped"] = {} if cuda else {
        "product_eager": "no GPU: CUDA graphs need one, so the product row is already eager"}
    if args.phases:
        out["phases"] = {}
        for name, graph in modes:
            if best(name) is None:
                continue
            b = best(name)["batch"]
            timer = PhaseTimer()
            t = time.perf_counter()
            go(records, b, False, graph, timer)
            total = time.perf_counter() - t
            out["phases"][name] = {
                "batch": b, "total_s": round(total, 3),
                "main": {k: round(v, 3) for k, v in timer.main.items()},
                "other_s": round(total - sum(timer.main.values()), 3),
                "workers_cpu_s": {k: round(v, 3) for k, v in timer.workers.items()}}
            print(json.dumps({name: out["phases"][name]}), flush=True)
    if args.profile and best("product") is not None:  # the best product row once more under torch.profiler
        from torch.profiler import ProfilerActivity, profile

        b = best("product")["batch"]
        with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
            t = time.perf_counter()
            go(records, b, False, cuda, PhaseTimer())
            if cuda:
                torch.cuda.synchronize()
            wall = time.perf_counter() - t
        Path(args.profile).parent.mkdir(parents=True, exist_ok=True)
        Path(args.profile).write_text(f"product, batch {b}, {nq(records)} questions ({args.cmd})\n"
                                      + profile_text(prof, wall, rows=45))
        out["profile"] = str(args.profile)
    grid = image_inputs(proc, load_images(records[0]["images"], data))["image_grid_thw"][0]
    out.update({
        "new_tokens": {"min": NEW_TOKENS, "max": NEW_TOKENS},
        "records": len(records), "questions": nq(records),
        "questions_per_record": round(nq(records) / max(1, len(records)), 2),
        "visual_tokens_per_image": int(grid.prod()) // 4,
        "model": "tiny Qwen3-VL (random init)" if args.tiny else "Qwen3-VL-4B shapes (random init, bf16, sdpa)",
        "card": torch.cuda.get_device_name(0) if cuda else "cpu",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__},
        "cmd": args.cmd,
    })
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out.get(k) for k in ("rows", "speedup_product_vs_sequential", "speedup_graph_vs_eager",
                                              "agreement", "agreement_eager_vs_graph", "failed")}, indent=1))
    if pr is None or bp is None:
        raise SystemExit(f"eval_throughput: no successful {'product' if pr is None else 'batched_plain'} run "
                         f"(see 'failed' in {args.out})")
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder with depth.jsonl and its images (built if missing)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "eval_throughput.json"))
    ap.add_argument("--tiny", action="store_true", help="tiny shapes: a CPU smoke test of this script")
    ap.add_argument("--records", type=int, default=64, help="records timed by the product path")
    ap.add_argument("--seq-records", type=int, default=2)
    ap.add_argument("--plain-records", type=int, default=16)
    ap.add_argument("--plain-batches", type=lambda s: [int(x) for x in s.split(",")], default=[40, 80, 160])
    ap.add_argument("--product-batches", type=lambda s: [int(x) for x in s.split(",")], default=[160, 320])
    ap.add_argument("--phases", action=argparse.BooleanOptionalAction, default=True,
                    help="time the phases of the best product rows (one more run each)")
    ap.add_argument("--profile", help="write a torch.profiler summary of the best product row (one more run, "
                    "phases as named ranges) to this file")
    ap.add_argument("--n-scenes", type=int, default=64, help="records built when --data is missing")
    ap.add_argument("--questions-per-image", type=int, default=10,
                    help="depth questions per record when --data is built (10: the issue's probe; ~100: an audit "
                    "as in VLM3's notebook)")
    ap.add_argument("--workers", type=int, default=8)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(argv)
    args.cmd = "python benchmarks/eval_throughput.py " + shlex.join(argv)  # the arguments run, not the caller's
    return run(args)


if __name__ == "__main__":
    main()
