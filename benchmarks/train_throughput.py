"""Training throughput of the product path against the Hugging Face default, side by side in one call.

    python benchmarks/train_throughput.py [--work /tmp/tt] [--out benchmarks/results/train_throughput.json]
        [--profile PATH] [--budget-s 540] [--rows NAME,...] [--tiny]

One command on a GPU machine (issue 14). It builds, with the project's own code:
  data   the product chain at focal 1000 (`gpu_scaling.make_data`: synthetic.generate 1000x750 at
         f = 1000 -> index -> calibrate -> resize -> qa.build --task depth; ~1100 tokens a sample,
         713 visual), the records repeated so that no row reaches the end of an epoch;
  model  Qwen3-VL-4B with the real shapes, random init, bf16 safetensors (`gpu_scaling.make_model`);
then runs the rows one after another, each in its own process group on the same GPU:
  hf_default      the hand loop of benchmarks/gpu_train.py's `hf_gc8`: plain Hugging Face defaults
                  (bf16 weights and AdamW states, SDPA, right-padded batches of 8, the model's own
                  `labels=` loss over full logits, gradient checkpointing on every layer, fused AdamW);
  product         the shipped recipe through `python -m vlm3.train.launch` (accelerate + FSDP2,
                  fp32 master weights and AdamW states, bf16 compute) - PRODUCT_FLAGS, which
                  config/paper.yaml's runs set; its last steps run under torch.profiler (--profile);
  shipped_before  config/paper.yaml's flags before issue 14 (packing, full checkpointing, bf16,
                  4 workers), micro-batch 4, through the launcher;
  product_*       variants of the product recipe, while the time budget lasts: product_next has the
                  two candidate levers together (the vision attention as one varlen call per layer,
                  `--varlen-vision`, and no resharding after forward), product_varlen_vision and
                  product_noreshard one each (ACCELERATE_OVERRIDES: a copy of the shipped accelerate
                  config with those keys), product_liger, product_mb4, product_gc one lever each,
                  product_next_liger product_next with Liger (rows with --liger need the wheel).
Launcher rows train a global batch of 16 samples (1 GPU: micro-batch x accumulation = 16), lr 1e-6;
timing from the run's own throughput.csv (`vlm3.train.throughput`) over the steps after `skip`
warm-up steps (compile, allocator); the launch is killed (SIGKILL, by process id) once its last
needed step is logged, so no checkpoint or final save is timed.

Output (`--out`): {"card", "date", "versions", "cmd", "n_params", "rows": [{"name", "tokens_per_s",
"mfu_6n", "peak_gib", "status", ...}]}, rewritten after every row so a timeout still leaves data.
MFU_6N = 6 * 4.438e9 * non-padding tokens/s / 989e12 (H100/H200 dense bf16 peak). peak_gib =
torch.cuda.max_memory_allocated (max over ranks). `--profile`: GPU busy %, shares of GEMM,
attention, element-wise, optimizer and communication kernels, and the top kernels of the product
row's profiled steps.

`--tiny`: the same chain and rows with a tiny model and 160x120 images on CPU (gloo launcher, no
FSDP), a smoke test of this script (tests/test_train_throughput_bench.py).
Internal sub-commands: `hand` (the hand loop of one row) and `profiled` (the training module with a
profiler callback, started by the launcher with `--module train_throughput`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # gpu_profile, beside this script
from gpu_profile import profile_text

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
N_PARAMS = 4.438e9  # Qwen3-VL-4B, tied embeddings counted once (vlm3.train.shapes)
PEAK_BF16 = 989e12
GLOBAL_BATCH = 16

# The recipe config/paper.yaml ships (issue 14); tests hold the two in step.
PRODUCT_FLAGS = ["--packing", "--bf16", "--compile", "--no-gradient-checkpointing", "--sparse-lm-head",
                 "--optim", "adamw_torch_fused", "--num-workers", "6", "--pin-memory"]
SHIPPED_BEFORE_FLAGS = ["--packing", "--gradient-checkpointing", "--bf16", "--num-workers", "4"]

# name: (kind, micro-batch, flags, warm-up steps, timed steps, seconds needed to start it). The first
# three rows always run; a candidate starts only with its seconds left in the budget, and a row still
# running when the budget ends is stopped there and reported from the steps it logged (>= 2).
ROWS = {
    "hf_default": ("hand", 8, [], 8, 8, 0),
    "product": ("launch", 8, PRODUCT_FLAGS, 3, 10, 0),
    "shipped_before": ("launch", 4, SHIPPED_BEFORE_FLAGS, 2, 4, 0),
    "product_next": ("launch", 8, [*PRODUCT_FLAGS, "--varlen-vision"], 3, 6, 100),
    "product_varlen_vision": ("launch", 8, [*PRODUCT_FLAGS, "--varlen-vision"], 3, 6, 100),
    "product_noreshard": ("launch", 8, PRODUCT_FLAGS, 3, 6, 100),
    "product_liger": ("launch", 8, [*PRODUCT_FLAGS, "--liger"], 3, 6, 100),
    "product_next_liger": ("launch", 8, [*PRODUCT_FLAGS, "--varlen-vision", "--liger"], 3, 6, 100),
    "product_mb4": ("launch", 4, PRODUCT_FLAGS, 3, 6, 110),
    "product_gc": ("launch", 8, [*PRODUCT_FLAGS[:3], "--gradient-checkpointing", *PRODUCT_FLAGS[4:]], 3, 6, 120),
}
# Rows run with the shipped one-node accelerate config changed by these keys of its fsdp_config
# (fsdp_reshard_after_forward false: the bf16 parameters stay gathered from forward to backward)
ACCELERATE_OVERRIDES = {"product_next": {"fsdp_reshard_after_forward": False},
                        "product_next_liger": {"fsdp_reshard_after_forward": False},
                        "product_noreshard": {"fsdp_reshard_after_forward": False}}
REQUIRED = ("hf_default", "product", "shipped_before")
PROFILED_ROW = "product"
PROFILE_STEPS = 2


def mfu(tokens_per_s: float) -> float:
    return 6 * N_PARAMS * tokens_per_s / PEAK_BF16


# ------------------------------------------------------------------------------------------ setup
def sh(cmd: list[str], env=None) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, env=env)


def build(work: Path, tiny: bool, n_scenes: int, repeat: int, workers: int) -> None:
    """work/data (product chain, records repeated `repeat` times) and work/model."""
    sys.path.insert(0, str(BENCH))
    from gpu_scaling import make_data

    if not (work / "data" / "depth.jsonl").exists():
        t = time.time()
        make_data(work, n_scenes, workers, *(("160x120", 160) if tiny else ("1000x750", 1000)))
        path = work / "data" / "depth.jsonl"
        lines = path.read_text().splitlines()
        out = [json.dumps({**rec, "id": f"{rec['id']}#r{k}"}) for k in range(repeat)
               for rec in map(json.loads, lines)]
        path.write_text("\n".join(out) + "\n")
        print(f"data: {len(out)} records ({len(lines)} images x {repeat}) in {time.time() - t:.1f} s", flush=True)
    if not (work / "model" / "config.json").exists():
        sh([sys.executable, BENCH / "gpu_scaling.py", "model", "--out", work, *(["--tiny"] if tiny else [])], env=_env())


def _env() -> dict:
    py_bin = str(Path(sys.executable).parent)
    path = [str(ROOT / "src"), str(BENCH), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path),  # carried wheels (/tmp/site) stay visible
            "PATH": py_bin + os.pathsep + os.environ.get("PATH", ""), "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
            "NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}


# ------------------------------------------------------------------------------- process handling
def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, stack = [], [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_tree(p: subprocess.Popen) -> None:
    """SIGKILL the launch and every process it started (ranks, data workers, compile workers), each
    by its id, and wait until they are gone so the next row finds the GPU free."""
    pids = [p.pid, *_descendants(p.pid)]
    try:
        os.killpg(p.pid, signal.SIGKILL)  # the launch's own session (start_new_session): its group id is its id
    except ProcessLookupError:
        pass
    for pid in reversed(pids):  # and any that left the group (ranks or workers in sessions of their own)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait()
    deadline = time.time() + 60
    while any(_alive(q) for q in pids) and time.time() < deadline:
        time.sleep(0.2)
    while time.time() < deadline and set(map(str, pids)) & set(_gpu_pids()):
        time.sleep(0.5)


def _gpu_pids() -> list[str]:
    """Process ids nvidia-smi lists on the GPU (empty without nvidia-smi or where it lists none)."""
    try:
        q = subprocess.run(["nvidia-smi", "--query-compute-apps=pid", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return q.stdout.split() if q.returncode == 0 else []


# ------------------------------------------------------------------------------------------ rows
def accelerate_config(path: Path, fsdp: dict) -> Path:
    """The shipped one-node accelerate config with `fsdp` keys of its fsdp_config replaced, written to `path`."""
    import yaml

    cfg = yaml.safe_load((ROOT / "src" / "vlm3" / "train" / "accelerate" / "fsdp_single_node.yaml").read_text())
    unknown = set(fsdp) - set(cfg["fsdp_config"])
    if unknown:
        raise ValueError(f"accelerate override: no such fsdp_config keys {sorted(unknown)}")
    cfg["fsdp_config"].update(fsdp)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def launch_row(name: str, spec, work: Path, tiny: bool, timeout: float, profile: Path | None) -> dict:
    kind, micro, flags, skip, steps, _ = spec
    if tiny:
        micro, skip, steps = min(micro, 2), 1, 2
        flags = [("1" if prev == "--num-workers" else f) for prev, f in zip([None, *flags], flags)]
    global_batch = 4 if tiny else GLOBAL_BATCH
    out = work / "runs" / name
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    need = skip + steps + (PROFILE_STEPS if profile else 0)
    train_args = ["--model", work / "model", "--data", work / "data" / "depth.jsonl", "--image-root",
                  work / "data", "--out", out, "--max-steps", need + 5, "--global-batch", global_batch,
                  "--batch-size", micro, "--lr", "1e-6", "--save-steps", 1000000, "--logging-steps", 1, *flags]
    launcher = [sys.executable, "-m", "vlm3.train.launch", *(["--cpu"] if tiny else []), "--gpus-per-node", "1"]
    if name in ACCELERATE_OVERRIDES and not tiny:
        launcher += ["--config-file", accelerate_config(work / "runs" / f"{name}.accelerate.yaml", ACCELERATE_OVERRIDES[name])]
    if profile:
        cmd = [*launcher, "--module", "train_throughput", "--", "profiled", "--profile-out", profile,
               "--profile-after", skip + steps, "--profile-steps", PROFILE_STEPS, *train_args]
    else:
        cmd = [*launcher, "--", "python", "-m", "vlm3.train", *train_args]
    cmd = [str(c) for c in cmd]
    log = work / "runs" / f"{name}.log"
    tp = out / "throughput.csv"
    t0 = time.time()
    print("+", " ".join(cmd), flush=True)

    def logged() -> int:
        return max(0, len(tp.read_text().splitlines()) - 1) if tp.exists() else 0

    with open(log, "w") as f:
        p = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        status = None
        while status is None:
            if p.poll() is not None:
                status = "ok" if logged() >= skip + steps else "failed"
            elif logged() >= need and (not profile or profile.exists()):
                status = "ok"
            elif time.time() - t0 > timeout:
                status = "timeout"
            else:
                time.sleep(0.5)
        kill_tree(p)
    text = log.read_text(errors="replace")
    if "OutOfMemoryError" in text or "CUDA out of memory" in text:
        status = "OOM" if status != "ok" else status
    rows = list(csv.DictReader(open(tp))) if tp.exists() else []
    timed = rows[skip:skip + steps]
    res = {"name": name, "kind": "launch", "status": status, "micro_batch": micro, "global_batch": global_batch,
           "grad_accum": global_batch // micro, "flags": flags,
           "accelerate_overrides": ACCELERATE_OVERRIDES.get(name, {}), "cmd": " ".join(cmd), "steps_logged": len(rows),
           "warmup_steps": skip, "wall_s": round(time.time() - t0, 1)}
    if len(timed) >= 2 or (timed and status == "ok"):
        sec = sum(float(r["seconds"]) for r in timed)
        tok = sum(int(r["tokens"]) for r in timed)
        res.update(steps_timed=len(timed), tokens=tok, seconds=round(sec, 3), tokens_per_s=round(tok / sec, 1),
                   samples_per_s=round(sum(int(r["samples"]) for r in timed) / sec, 3),
                   peak_gib=max((float(r["peak_mem_gib"]) for r in rows if r["peak_mem_gib"]), default=None),
                   step_s=[round(float(r["seconds"]), 3) for r in rows],
                   start_s=round(res["wall_s"] - sum(float(r["seconds"]) for r in rows), 1))
        res["mfu_6n"] = round(mfu(res["tokens_per_s"]), 4)
    else:
        res.update(tokens_per_s=None, mfu_6n=None, peak_gib=None)
    if status != "ok":
        res["log_tail"] = text[-3000:]
        print(text[-3000:], flush=True)
    return res


def hand_row(name: str, spec, work: Path, tiny: bool, timeout: float) -> dict:
    kind, micro, _, warm, steps, _ = spec
    if tiny:
        micro, steps = 2, 2
    res_path = work / "runs" / f"{name}.json"
    res_path.parent.mkdir(parents=True, exist_ok=True)
    res_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(BENCH / "train_throughput.py"), "hand", "--work", str(work), "--micro", str(micro),
           "--steps", str(steps), "--json", str(res_path), *(["--tiny"] if tiny else [])]
    log = work / "runs" / f"{name}.log"
    print("+", " ".join(cmd), flush=True)
    t0 = time.time()
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            p.wait(timeout=timeout)
            status = "ok" if p.returncode == 0 and res_path.exists() else "failed"
        except subprocess.TimeoutExpired:
            status = "timeout"
        kill_tree(p)
    text = log.read_text(errors="replace")
    res = {"name": name, "kind": "hand", "cmd": " ".join(cmd), "wall_s": round(time.time() - t0, 1)}
    if status == "ok":
        res.update(json.loads(res_path.read_text()))
        res["mfu_6n"] = round(mfu(res["tokens_per_s"]), 4)
    else:
        status = "OOM" if "OutOfMemoryError" in text else status
        res.update(tokens_per_s=None, mfu_6n=None, peak_gib=None, log_tail=text[-3000:])
        print(text[-3000:], flush=True)
    res["status"] = status
    return res


def hand(args) -> None:
    """`hf_gc8` of benchmarks/gpu_train.py on the product-chain data: bf16 weights and fused AdamW
    (bf16 states), stock SDPA and Conv3d patch embedding, right-padded batches of the QA collator,
    the model's own `labels=` loss, HF gradient checkpointing on every layer. One warm-up pass over
    the very batches that are then timed (every shape seen once)."""
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    from vlm3.model.processor import load_processor
    from vlm3.train.data import QACollator, QADataset

    work = Path(args.work)
    cuda = torch.cuda.is_available()
    dev = "cuda" if cuda else "cpu"
    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration.from_pretrained(work / "model", dtype=torch.bfloat16, device_map=dev)
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    coll = QACollator(load_processor(work / "model"), image_root=work / "data")
    recs = QADataset([work / "data" / "depth.jsonl"]).records
    batches = [{k: v.to(dev) for k, v in coll(recs[i * args.micro:(i + 1) * args.micro]).items()}
               for i in range(args.steps)]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6, fused=cuda)
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def step(b):
        loss = model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for b in batches:
        step(b)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for b in batches:
        sync()
        t = time.perf_counter()
        step(b)
        sync()
        times.append(time.perf_counter() - t)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["attention_mask"].numel() for b in batches)
    sec = sum(times)
    res = {"micro_batch": args.micro, "grad_accum": 1, "steps_timed": len(times), "tokens": tokens,
           "padded_tokens": padded, "seconds": round(sec, 3), "tokens_per_s": round(tokens / sec, 1),
           "samples_per_s": round(args.micro * len(times) / sec, 3), "step_s": [round(t, 3) for t in times],
           "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None}
    Path(args.json).write_text(json.dumps(res))
    print(json.dumps(res), flush=True)


# ---------------------------------------------------------------------------------------- profile
def profiled(argv: list[str]) -> None:
    """The training module (`python -m vlm3.train`) with a torch.profiler callback over
    `--profile-steps` optimizer steps after the first `--profile-after`; rank 0 writes the summary."""
    import logging

    import torch
    from transformers import TrainerCallback

    from vlm3.train.__main__ import parse_config
    from vlm3.train.trainer import train

    ap = argparse.ArgumentParser()
    ap.add_argument("--profile-out", required=True)
    ap.add_argument("--profile-after", type=int, required=True)
    ap.add_argument("--profile-steps", type=int, required=True)
    args, rest = ap.parse_known_args(argv)

    class StepProfiler(TrainerCallback):
        def __init__(self):
            self.prof, self.t0 = None, 0.0

        def on_step_begin(self, a, state, control, **kw):
            if self.prof is None and state.global_step == args.profile_after:
                from torch.profiler import ProfilerActivity, profile

                acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
                self.prof = profile(activities=acts)
                self.prof.__enter__()
                self.t0 = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            if self.prof is not None and state.global_step == args.profile_after + args.profile_steps:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                wall = time.perf_counter() - self.t0
                self.prof.__exit__(None, None, None)
                if state.is_world_process_zero:
                    text = (f"{args.profile_steps} optimizer steps after step {args.profile_after}\n"
                            + profile_text(self.prof, wall))
                    tmp = Path(args.profile_out + ".tmp")
                    tmp.write_text(text)
                    os.replace(tmp, args.profile_out)
                self.prof = None

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    train(parse_config(rest), callbacks=[StepProfiler()])


# ------------------------------------------------------------------------------------------- main
def meta(cmdline: str) -> dict:
    m = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cmd": cmdline,
         "card": "cpu", "n_params": N_PARAMS, "peak_flops": PEAK_BF16}
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=30)
        if q.returncode == 0 and q.stdout.strip():
            m["card"] = q.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    code = ("import json, platform, importlib.metadata as md, torch\n"
            "v = {'python': platform.python_version(), 'torch': torch.__version__, 'cuda': torch.version.cuda}\n"
            "for p in ('transformers', 'accelerate', 'liger-kernel'):\n"
            "    try: v[p] = md.version(p)\n"
            "    except md.PackageNotFoundError: v[p] = None\n"
            "print(json.dumps(v))")
    q = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    m["versions"] = json.loads(q.stdout) if q.returncode == 0 else {"error": q.stderr[-500:]}
    return m


def _card_gib(card: str) -> float | None:
    """GiB of an nvidia-smi 'name, memory.total, driver' line ('NVIDIA H200, 143771 MiB, 580.1')."""
    parts = [x.strip() for x in card.split(",")]
    if len(parts) >= 2 and parts[1].endswith("MiB"):
        try:
            return float(parts[1].split()[0]) / 1024
        except ValueError:
            return None
    return None


def table(doc: dict) -> str:
    rows = doc["rows"]
    base = next((r["tokens_per_s"] for r in rows if r["name"] == "hf_default" and r.get("tokens_per_s")), None)
    out = [f"{doc['card']}  {doc['date']}  {doc['versions']}",
           f"{'row':<16}{'status':>8}{'micro x acc':>12}{'tok/s':>9}{'MFU_6N':>8}{'vs hf':>7}{'peak GiB':>10}{'wall s':>8}"]
    for r in rows:
        tok = r.get("tokens_per_s")
        if "micro_batch" not in r:
            out.append(f"{r['name']:<16}  {r['status']}")
            continue
        ma = f"{r['micro_batch']} x {r['grad_accum']}"
        out.append(f"{r['name']:<16}{r['status']:>8}{ma:>12}" + (
            f"{tok:>9.0f}{100 * r['mfu_6n']:>7.1f}%{(tok / base if base else float('nan')):>6.2f}x"
            f"{(r['peak_gib'] or float('nan')):>10.1f}" if tok else f"{'':>34}") + f"{r.get('wall_s', 0):>8.0f}")
    return "\n".join(out)


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "profiled":
        return profiled(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = argv[0] if argv and argv[0] == "hand" else None
    if sub:
        ap.add_argument("cmd")
        ap.add_argument("--work", required=True)
        ap.add_argument("--micro", type=int, required=True)
        ap.add_argument("--steps", type=int, required=True)
        ap.add_argument("--json", required=True)
        ap.add_argument("--tiny", action="store_true")
        return hand(ap.parse_args(argv))
    ap.add_argument("--work", default="/tmp/train_throughput", help="data, model and run folders")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/train_throughput.json"))
    ap.add_argument("--profile", help="profile summary of the product row (default: OUT's folder/"
                                      "train_throughput_profile.txt; 'none' to skip)")
    ap.add_argument("--rows", default=",".join(ROWS), help="rows in order (default: all, while the budget lasts)")
    ap.add_argument("--budget-s", type=float, default=540, help="no row starts that would end after this "
                    "many seconds from the start (estimates in ROWS); a running row is stopped there")
    ap.add_argument("--n-scenes", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=10, help="each record this many times (no epoch ends)")
    ap.add_argument("--workers", type=int, default=8, help="processes for rendering and resizing the data")
    ap.add_argument("--tiny", action="store_true", help="tiny model on CPU: a smoke test of this script")
    ap.add_argument("--allow-small-card", action="store_true",
                    help="run on a GPU under 100 GiB too (one GPU holding the fp32 state, 71 GB, then OOMs)")
    args = ap.parse_args(argv)
    t_start = time.time()
    work, out = Path(args.work).resolve(), Path(args.out).resolve()
    names = [n for n in args.rows.split(",") if n]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        raise SystemExit(f"train_throughput: unknown rows {unknown}; known: {', '.join(ROWS)}")
    profile = None if args.profile == "none" else Path(args.profile or out.parent / "train_throughput_profile.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    doc = {**meta(" ".join([Path(sys.argv[0]).name, *argv])), "rows": []}
    gib = _card_gib(doc["card"])
    if not args.tiny and not args.allow_small_card and gib is not None and gib < 100:
        raise SystemExit(f"train_throughput: {doc['card']} has {gib:.0f} GiB; one GPU must hold the 4B model's "
                         "fp32 weights, gradients and AdamW states (71 GB) plus activations: use an H200 "
                         "(or pass --allow-small-card)")

    def save():
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, out)

    build(work, args.tiny, 4 if args.tiny else args.n_scenes, args.repeat, args.workers)
    doc["setup_s"] = round(time.time() - t_start, 1)
    save()
    liger = doc["versions"].get("liger-kernel")
    for name in names:
        spec = ROWS[name]
        used = time.time() - t_start
        left = args.budget_s - used
        if "--liger" in spec[2] and not liger:
            doc["rows"].append({"name": name, "status": "skipped: liger-kernel not installed"})
        elif not args.tiny and name not in REQUIRED and left < spec[5]:
            doc["rows"].append({"name": name, "status": f"skipped: {left:.0f} s of the budget left, "
                                                        f"~{spec[5]} s needed"})
        else:
            timeout = max(left, 60) if not args.tiny else 900
            if spec[0] == "hand":
                r = hand_row(name, spec, work, args.tiny, timeout)
            else:
                r = launch_row(name, spec, work, args.tiny, timeout, profile if name == PROFILED_ROW else None)
            doc["rows"].append(r)
        print(json.dumps({k: v for k, v in doc["rows"][-1].items() if k not in ("cmd", "log_tail", "step_s")}),
              flush=True)
        save()
    doc["total_s"] = round(time.time() - t_start, 1)
    save()
    print("\n" + table(doc))
    if profile and profile.exists():
        print("\nprofile of the product row:\n" + "\n".join(profile.read_text().splitlines()[:20]))


if __name__ == "__main__":
    main()
