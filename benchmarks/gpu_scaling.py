"""Multi-GPU scaling of fine-tuning: Qwen3-VL-4B (real shapes, random init) on focal-1000 depth QA,
run through the same launcher as the SLURM train rule, at 1, 2, ... GPUs of one node.

    python benchmarks/gpu_scaling.py data  --out W          # CPU: product chain -> W/data (QA + JPEGs)
    python benchmarks/gpu_scaling.py model --out W          # GPU: W/model (random init, bf16 safetensors)
    python benchmarks/gpu_scaling.py run   --work W --gpus 2 [--global-batch 16 --micro-batch 4 ...]
    python benchmarks/gpu_scaling.py table RESULT.json ...  # tokens/s per GPU, efficiency, memory
    python benchmarks/gpu_scaling.py fromlog RUN.log --gpus G [--skip 3]   # timing from the Trainer's log

`data`: the embedded default's own stages at paper scale: `vlm3.synthetic.generate` renders scenes
at 1000x750 with fx = fy = 1000 (so focal unification is the identity), `vlm3.index`,
`vlm3.calibrate` (metadata), `vlm3.resize --target-focal 1000`, `vlm3.qa.build --task depth`
(10 questions per image, the paper's format). The resized PNGs are re-encoded as JPEG (quality 95)
so the folder fits the device's carry limit; pixel values do not change the cost of a step.
Each image becomes a 992x736 Qwen grid (46x62 patches of 16 px, 713 visual tokens), ~1100 tokens
per sample.

`model`: `Qwen3VLForConditionalGeneration` with `vlm3.train.shapes.qwen3vl_4b_config` (4.44e9
parameters, vocab 151936), random init in bf16 on the GPU, saved with a tokenizer trained on the QA
text by `vlm3.model.build.train_tokenizer` (single-digit numbers, as Qwen's tokenizer) and the
Qwen3-VL image processor settings (patch 16, merge 2, mean/std 0.5). The special-token ids of the
config are set to the tokenizer's.

`run`: `python -m vlm3.train.launch --gpus-per-node G -- python -m vlm3.train ...` exactly as
rules/train.smk writes it (accelerate launch, src/vlm3/train/accelerate/fsdp_single_node.yaml: FSDP2 full
shard, bf16 mixed precision with fp32 master weights and AdamW states), with the paper recipe's
switches (`--packing --gradient-checkpointing --bf16`) and a fixed global batch, so every GPU count
trains on the same samples per step. Timing comes from the run's own `throughput.csv`
(`vlm3.train.throughput`): the first `--skip` steps are warm-up; tokens/s is total tokens / total
seconds of the timed steps; per GPU = that / G. Also recorded: every step's time, `start_s` (launch
to the first step: start-up, loading and sharding the model) and peak memory per GPU (max over
ranks). The launch is killed once the last step is logged (end-of-run checkpoint and final save are
not part of the measurement).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's vlm3, also in the launched processes (PYTHONPATH)
PEAK_BF16 = 989e12  # H100 SXM dense bf16


def sh(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def make_data(out: Path, n_scenes: int, workers: int, size: str = "1000x750", focal: int = 1000,
              questions_per_image: int = 10) -> None:
    """The product chain at focal `focal` -> out/data/{depth.jsonl, images/*.jpg}, `questions_per_image`
    depth questions per record."""
    from PIL import Image

    tmp = out / "chain"
    py = sys.executable
    sh([py, "-m", "vlm3.synthetic.generate", "--out", str(tmp / "raw"), "--split", "train",
        "--n-scenes", str(n_scenes), "--views", "1", "--sizes", size, "--focal-range", f"{focal},{focal}",
        "--withheld", "0", "--pp-jitter", "0.0", "--seed", "0", "--workers", str(workers)])
    sh([py, "-m", "vlm3.index", "--type", "synthetic", "--raw", str(tmp / "raw"), "--split", "train",
        "--out", str(tmp / "index.parquet"), "--pairs-out", str(tmp / "pairs.parquet")])
    sh([py, "-m", "vlm3.calibrate", "--index", str(tmp / "index.parquet"), "--out", str(tmp / "calib.parquet"),
        "--providers", "metadata", "--cache", str(tmp / "cache")])
    sh([py, "-m", "vlm3.resize", "--calib", str(tmp / "calib.parquet"), "--pairs", str(tmp / "pairs.parquet"),
        "--out", str(tmp / "resized"), "--target-focal", str(focal), "--workers", str(workers)])
    sh([py, "-m", "vlm3.qa.build", "--task", "depth", "--resized", str(tmp / "resized"),
        "--out", str(tmp / "depth.jsonl"), "--seed", "0", "--questions-per-image", str(questions_per_image)])
    data = out / "data"
    (data / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for line in (tmp / "depth.jsonl").read_text().splitlines():
        rec = json.loads(line)
        new = []
        for p in rec["images"]:
            jpg = Path("images") / (Path(p).stem + ".jpg")
            Image.open(p).convert("RGB").save(data / jpg, quality=95)
            new.append(str(jpg))
        rec["images"] = new
        lines.append(json.dumps(rec))
    (data / "depth.jsonl").write_text("\n".join(lines) + "\n")
    shutil.rmtree(tmp)
    size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    print(f"{len(lines)} records, {size / 2**20:.1f} MiB in {data}")


def model_config(qa: Path, tiny: bool = False):
    """(tokenizer, processor, Qwen3VLConfig) for the benchmarks: a tokenizer trained on the QA text
    of `qa`, the paper-scale processor, and Qwen3-VL-4B shapes (or tiny ones for CPU smoke tests)."""
    from vlm3.model.build import build_processor, qa_texts, special_token_ids, train_tokenizer
    from vlm3.train.shapes import qwen3vl_4b_config, tiny_qwen3vl_config

    tok = train_tokenizer(qa_texts([qa]), 512)
    proc = build_processor({"vision": {"patch_size": 16, "temporal_patch_size": 2, "spatial_merge_size": 2},
                            "image": {"min_pixels": 65536, "max_pixels": 16777216,
                                      "image_mean": [0.5] * 3, "image_std": [0.5] * 3}}, tok)
    if tiny:  # CPU smoke test of this script: the same pipeline on a tiny model
        cfg = tiny_qwen3vl_config("sdpa", vocab_size=len(tok))
        cfg.vision_config.patch_size = 16
    else:
        cfg = qwen3vl_4b_config("sdpa")
    for name, i in special_token_ids(tok).items():
        setattr(cfg, name, i)
    cfg.eos_token_id, cfg.pad_token_id, cfg.bos_token_id = tok.eos_token_id, tok.pad_token_id, None
    cfg.text_config.pad_token_id = tok.pad_token_id
    return tok, proc, cfg


def make_model(out: Path, tiny: bool = False) -> None:
    import torch
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration

    tok, proc, cfg = model_config(out / "data" / "depth.jsonl", tiny)
    torch.manual_seed(0)
    t = time.time()
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = Qwen3VLForConditionalGeneration._from_config(cfg, dtype=torch.bfloat16)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    n = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out / "model")
    proc.save_pretrained(out / "model")
    print(f"model: {n:.4e} parameters, built and saved in {time.time() - t:.1f} s -> {out / 'model'}")


def run(args) -> dict:
    work = Path(args.work).resolve()
    tag = args.tag or f"g{args.gpus}"
    out = work / "runs" / tag
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    steps = args.skip + args.steps
    cmd = [sys.executable, "-m", "vlm3.train.launch", *(["--cpu"] if args.cpu else []),
           "--gpus-per-node", str(args.gpus), "--main-port",
           str(29500 + args.gpus), "--", "python", "-m", "vlm3.train", "--model", str(work / "model"),
           "--data", str(work / "data" / "depth.jsonl"), "--image-root", str(work / "data"), "--out", str(out),
           "--max-steps", str(steps), "--global-batch", str(args.global_batch), "--batch-size",
           str(args.micro_batch), "--lr", "1e-6", "--save-steps", "1000000", "--logging-steps", "1",
           "--packing", "--gradient-checkpointing", "--bf16", *args.extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TOKENIZERS_PARALLELISM": "false",
           "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
           "NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
    log = work / "runs" / f"{tag}.log"
    tp = out / "throughput.csv"
    t0 = time.time()
    print("+", " ".join(cmd), flush=True)
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        # Training throughput is what is measured: once the last step's row is in throughput.csv the
        # launch is killed (SIGKILL to its process group; SIGTERM would make the trainer checkpoint)
        # instead of waiting for the end-of-run checkpoint and the full-state-dict save.
        while p.poll() is None:
            if tp.exists() and len(tp.read_text().splitlines()) > steps:
                os.killpg(p.pid, 9)
                p.wait()
                # torch's elastic agent may start the ranks in sessions of their own
                subprocess.run(["pkill", "-9", "-f", "m vlm3[.]train "], check=False)
                break
            time.sleep(1)
    done = tp.exists() and len(tp.read_text().splitlines()) > steps
    status = "ok" if done else ("OOM" if "OutOfMemoryError" in log.read_text() else "failed")
    if not done:
        print(log.read_text()[-3000:])
    wall = time.time() - t0
    res = {"tag": tag, "gpus": args.gpus, "status": status, "wall_s": round(wall, 1), "cmd": cmd,
           "global_batch": args.global_batch, "micro_batch": args.micro_batch, "extra": args.extra}
    if status == "ok":
        rows = list(csv.DictReader(open(tp)))
        timed = rows[args.skip:]
        sec = sum(float(r["seconds"]) for r in timed)
        tok = sum(int(r["tokens"]) for r in timed)
        smp = sum(int(r["samples"]) for r in timed)
        res.update(steps_timed=len(timed), seconds=round(sec, 3), tokens=tok,
                   tokens_per_s=round(tok / sec, 1), tokens_per_s_per_gpu=round(tok / sec / args.gpus, 1),
                   samples_per_s=round(smp / sec, 3), step_s=[float(r["seconds"]) for r in rows],
                   peak_mem_gib=max(float(r["peak_mem_gib"] or 0) for r in rows),
                   start_s=round(wall - sum(float(r["seconds"]) for r in rows), 1))
        accum = args.global_batch // args.gpus // args.micro_batch
        res["batch"] = {"samples_per_step": args.global_batch, "world_size": args.gpus,
                        "micro_batch": args.micro_batch, "grad_accum": accum}
    res["meta"] = meta()
    (work / "runs" / f"{tag}.json").write_text(json.dumps(res, indent=1) + "\n")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)  # the 4B final model (17.8 GB fp32) is not needed
    print(json.dumps({k: v for k, v in res.items() if k not in ("cmd", "meta", "step_s")}))
    return res


def from_log(path: Path, gpus: int, skip: int) -> dict:
    """Timed-step throughput from the Trainer's per-step log lines (cumulative `train_runtime` and
    `num_input_tokens_seen`), for runs whose throughput.csv was not kept (a run that failed later,
    in its final save). Same definition as `run`: steps after the first `skip`."""
    import ast

    seen: dict[float, dict] = {}
    for m in re.findall(r"\{'loss'[^}]*\}", path.read_text()):
        rec = ast.literal_eval(m)
        seen[float(rec["epoch"])] = rec  # tqdm repeats each line; the epoch orders the steps
    rows = [seen[k] for k in sorted(seen)]
    t = [0.0] + [float(r["train_runtime"]) for r in rows]
    n = [0] + [int(r["num_input_tokens_seen"]) for r in rows]
    sec, tok = t[-1] - t[skip], n[-1] - n[skip]
    return {"tag": path.stem, "gpus": gpus, "source": str(path), "steps": len(rows), "steps_timed": len(rows) - skip,
            "seconds": round(sec, 3), "tokens": tok, "tokens_per_s": round(tok / sec, 1),
            "tokens_per_s_per_gpu": round(tok / sec / gpus, 1),
            "step_s": [round(t[i + 1] - t[i], 2) for i in range(len(rows))]}


def meta() -> dict:
    m = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "python": platform.python_version()}
    try:
        import accelerate
        import torch
        import transformers

        m.update(torch=torch.__version__, transformers=transformers.__version__, accelerate=accelerate.__version__,
                 cards=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
    except ImportError:
        pass
    return m


def table(paths: list[str]) -> None:
    rows = [json.loads(Path(p).read_text()) for p in paths]
    base = {}
    for r in rows:
        if r["status"] == "ok" and r["gpus"] == 1:
            base[tuple(r["extra"])] = r["tokens_per_s_per_gpu"]
    print("| run | GPUs | batch (global = G x micro x accum) | tokens/s | tokens/s/GPU | efficiency | MFU_6N | peak GiB/GPU |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["status"] != "ok":
            print(f"| {r['tag']} | {r['gpus']} | {r['global_batch']} (micro {r['micro_batch']}) | {r['status']} | | | | |")
            continue
        b = r["batch"]
        one = base.get(tuple(r["extra"]))
        eff = f"{100 * r['tokens_per_s_per_gpu'] / one:.1f} %" if one else ""
        mfu = 6 * 4.438e9 * r["tokens_per_s_per_gpu"] / PEAK_BF16
        print(f"| {r['tag']} | {r['gpus']} | {b['samples_per_step']} = {b['world_size']} x {b['micro_batch']} x "
              f"{b['grad_accum']} | {r['tokens_per_s']:.0f} | {r['tokens_per_s_per_gpu']:.0f} | {eff} | "
              f"{100 * mfu:.1f} % | {r['peak_mem_gib']:.1f} |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("--out", required=True)
    d.add_argument("--n-scenes", type=int, default=48)
    d.add_argument("--workers", type=int, default=2)
    m = sub.add_parser("model")
    m.add_argument("--out", required=True)
    m.add_argument("--tiny", action="store_true", help="tiny shapes, for a CPU smoke test of this script")
    r = sub.add_parser("run")
    r.add_argument("--work", required=True)
    r.add_argument("--gpus", type=int, required=True)
    r.add_argument("--global-batch", type=int, default=16)
    r.add_argument("--micro-batch", type=int, default=4)
    r.add_argument("--skip", type=int, default=3, help="warm-up steps left out of the timing")
    r.add_argument("--steps", type=int, default=8, help="timed steps")
    r.add_argument("--tag")
    r.add_argument("--cpu", action="store_true", help="CPU processes (gloo), for a smoke test")
    r.add_argument("--keep", action="store_true", help="keep the run folder (final model)")
    r.add_argument("extra", nargs="*", help="after --: more vlm3.train flags, e.g. --compile")
    f = sub.add_parser("fromlog")
    f.add_argument("log")
    f.add_argument("--gpus", type=int, required=True)
    f.add_argument("--skip", type=int, default=3)
    t = sub.add_parser("table")
    t.add_argument("results", nargs="+")
    a = ap.parse_args(argv)
    if a.cmd == "data":
        make_data(Path(a.out), a.n_scenes, a.workers)
    elif a.cmd == "model":
        make_model(Path(a.out), a.tiny)
    elif a.cmd == "run":
        run(a)
    elif a.cmd == "fromlog":
        print(json.dumps(from_log(Path(a.log), a.gpus, a.skip)))
    else:
        table(a.results)


if __name__ == "__main__":
    main()
