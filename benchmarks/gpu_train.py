"""Single-GPU training throughput of Qwen3-VL-4B (random init, real shapes) on focal-1000 depth samples.

Side by side in one process, on one model instance:
  hf_*      plain Hugging Face defaults: bf16 weights, SDPA, Conv3d patch embedding, right-padded
            batches with attention_mask, the model's own `labels=` loss over full logits, fused AdamW.
  proj_*    the project configuration: padding-free packing (`vlm3.train.packing`), per-sample SDPA
            over packed rows, Linear patch embedding, LM head only on labelled positions
            (`causal_lm_loss_sum`), optional selective checkpointing.
Samples: a ~1000x750 image at focal 1000 -> Qwen grid 46-48 x 62-64 patches of 16 px (713-768
visual tokens), 10 QA turns of ~39 text tokens (~400 text tokens), ~1130 tokens per sample.

Metrics (per config, median over timed steps): tokens/s (non-padding LLM tokens), samples/s,
MFU_6N = 6 * N * tokens/s / 989e12 with N = total parameters (4.44e9), and MFU_attn adding
attention FLOPs per sample: 6*36*4096*L^2 (causal text, fwd+bwd) + 12*24*1024*P^2 (bidirectional
vision over P patches); peak memory = torch.cuda.max_memory_allocated (weights, grads, AdamW
states and activations). A max-micro-batch search doubles/extends the batch until OOM.

Usage: python benchmarks/gpu_train.py --out DIR [--steps 5] [--warmup 2] [--only name,...]
Writes DIR/gpu_train.json and prints a table.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks.optim
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's vlm3

from benchmarks.optim import build_optimizer
from vlm3.train.model_setup import (
    causal_lm_loss_sum,
    compile_blocks,
    set_checkpoint_fraction,
    use_linear_patch_embed,
)
from vlm3.train.packing import PackingCollator, use_packed_sdpa
from vlm3.train.shapes import qwen3vl_4b_config, synthetic_sample, tiny_qwen3vl_config
from vlm3.utils import rng_for

log = logging.getLogger("gpu_train")
PEAK_BF16 = 989e12
GRIDS = [(1, 46, 62), (1, 46, 64), (1, 48, 62), (1, 48, 64)]  # 713, 736, 744, 768 visual tokens


def make_samples(cfg, n: int, seed: int = 0, grids=GRIDS) -> list[dict]:
    rng = rng_for(seed, "gpu_train_pool")
    out = []
    for i in range(n):
        grid = grids[int(rng.integers(len(grids)))]
        out.append(synthetic_sample(cfg, seed, f"s{i}", grid, n_turns=10,
                                    question_tokens=int(rng.integers(24, 37)), answer_tokens=int(rng.integers(6, 13))))
    return out


def pad_collate(samples, pad_id: int) -> dict:
    """HF-style right padding to the longest sample; labels -100 on padding."""
    L = max(s["input_ids"].numel() for s in samples)
    B = len(samples)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    lab = torch.full((B, L), -100, dtype=torch.long)
    att = torch.zeros((B, L), dtype=torch.long)
    mm = torch.zeros((B, L), dtype=torch.long)
    for b, s in enumerate(samples):
        n = s["input_ids"].numel()
        ids[b, :n], lab[b, :n], att[b, :n], mm[b, :n] = s["input_ids"], s["labels"], 1, s["mm_token_type_ids"]
    return {"input_ids": ids, "labels": lab, "attention_mask": att, "mm_token_type_ids": mm,
            "pixel_values": torch.cat([s["pixel_values"] for s in samples]),
            "image_grid_thw": torch.cat([s["image_grid_thw"] for s in samples])}


def flops_attn(samples) -> float:
    f = 0.0
    for s in samples:
        L = s["input_ids"].numel()
        P = int(s["image_grid_thw"].prod(-1).sum())
        f += 6 * 36 * 4096 * L**2 + 12 * 24 * 1024 * P**2
    return f


class Bench:
    def __init__(self, args):
        self.args = args
        self.cfg = tiny_qwen3vl_config() if args.tiny else qwen3vl_4b_config("sdpa")
        self.dev = "cuda" if torch.cuda.is_available() else "cpu"
        torch.manual_seed(0)
        from transformers import Qwen3VLForConditionalGeneration

        t = time.time()
        with torch.device(self.dev):
            self.model = Qwen3VLForConditionalGeneration._from_config(self.cfg, dtype=torch.bfloat16)
        self.model.train()
        self.n_params = sum(p.numel() for p in self.model.parameters())
        log.info("model built on GPU in %.1fs, %.3e params", time.time() - t, self.n_params)
        grids = [(1, 4, 6), (1, 6, 4)] if args.tiny else GRIDS
        self.pool = make_samples(self.cfg, 128, grids=grids)
        self.packer = PackingCollator.from_config(self.cfg)
        self.conv_class = type(self.model.model.visual.patch_embed.proj)

    def configure(self, project: bool, gc_fraction: float):
        m = self.model
        text_cfg = m.model.language_model.config
        # cuDNN attention builds an execution plan per new sequence length; the project path
        # avoids it (varlen flash / flash SDPA), the HF-default path keeps torch's default choice.
        torch.backends.cuda.enable_cudnn_sdp(not project)
        if project:
            use_packed_sdpa(m)
            use_linear_patch_embed(m)
        else:
            text_cfg._attn_implementation = "sdpa"
            m.model.visual.patch_embed.proj.__class__ = self.conv_class
        if gc_fraction > 0:
            m.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            set_checkpoint_fraction(m, gc_fraction)
        else:
            m.gradient_checkpointing_disable()

    def batches(self, project: bool, micro: int, n: int):
        for k in range(n):
            idx = [(k * micro + j) % len(self.pool) for j in range(micro)]
            samples = [self.pool[i] for i in idx]
            b = self.packer(samples) if project else pad_collate(samples, self.cfg.text_config.pad_token_id)
            tokens = sum(s["input_ids"].numel() for s in samples)
            yield samples, {k2: v.to(self.dev, non_blocking=True) for k2, v in b.items()}, tokens

    def step(self, project: bool, batch) -> float:
        """One micro-batch forward/backward; an optimizer step (clip + AdamW) every `accum` calls."""
        if project:
            loss_sum, n = causal_lm_loss_sum(self.model, batch)
            loss = loss_sum / n
        else:
            loss = self.model(**batch).loss
        loss.backward()
        self.micro_count += 1
        if self.micro_count % self.accum == 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    def run(self, name: str, project: bool, micro: int, gc_fraction: float, steps: int, warmup: int,
            profile: bool = False, accum: int = 1) -> dict:
        """Time `steps` micro-batches; with accum > 1 the optimizer steps every `accum` of them
        (as with the paper's 42-67 samples per GPU), so its cost is amortised as in training."""
        self.configure(project, gc_fraction)
        self.accum, self.micro_count = accum, 0
        steps = max(steps, 2 * accum) // accum * accum if accum > 1 else steps
        self.opt = build_optimizer(self.model, lr=1e-6)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        times, toks, attn, losses = [], [], [], []
        try:
            batches = list(self.batches(project, micro, steps))
            # Warm-up passes over the very batches that are timed, so every sequence shape has been
            # seen once (kernel plans/caches warm): steady-state numbers for every config alike.
            for k in range(max(warmup, len(batches)) if warmup else 0):
                self.step(project, batches[k % len(batches)][1])
            for samples, batch, tokens in batches:
                torch.cuda.synchronize()
                t = time.perf_counter()
                losses.append(self.step(project, batch))
                torch.cuda.synchronize()
                times.append(time.perf_counter() - t)
                toks.append(tokens)
                attn.append(flops_attn(samples))
            del batches
            prof_table = self.profile(project, micro) if profile else None
        except torch.OutOfMemoryError:
            self.cleanup()
            return {"name": name, "micro_batch": micro, "oom": True}
        peak = torch.cuda.max_memory_allocated() / 2**30
        reserved = torch.cuda.max_memory_reserved() / 2**30
        self.cleanup()
        # accumulation: the mean includes the optimizer step's share; otherwise the median step
        dt = statistics.mean(times) if accum > 1 else statistics.median(times)
        tok = statistics.median(toks) / dt
        res = {
            "name": name, "project": project, "micro_batch": micro, "gc_fraction": gc_fraction, "oom": False,
            "grad_accum": accum,
            "step_s_median": dt, "step_s_all": times, "tokens_per_step": statistics.median(toks),
            "tokens_per_s": tok, "samples_per_s": micro / dt,
            "mfu_6N": 6 * self.n_params * tok / PEAK_BF16,
            "mfu_6N_attn": (6 * self.n_params * statistics.median(toks) + statistics.median(attn)) / dt / PEAK_BF16,
            "peak_alloc_gib": peak, "peak_reserved_gib": reserved, "loss_first_last": [losses[0], losses[-1]],
        }
        if prof_table:
            res["profile_top"] = prof_table
        log.info("%s", {k: v for k, v in res.items() if k not in ("step_s_all", "profile_top")})
        return res

    def profile(self, project: bool, micro: int) -> str:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
            for _, batch, _ in self.batches(project, micro, 2):
                self.step(project, batch)
            torch.cuda.synchronize()
        return prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=70)

    def cleanup(self):
        self.opt = None
        self.model.zero_grad(set_to_none=True)
        gc.collect()
        torch.cuda.empty_cache()


def bench_patch_embed(cfg, dev: str, n_images: int = 8, reps: int = 20) -> dict:
    """Forward+backward time of the vision patch embedding, stock Conv3d vs LinearPatchConv3d, on
    the patches of `n_images` focal-1000 images (46x62 patches each), bf16; also max |difference|."""
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLVisionPatchEmbed

    torch.manual_seed(0)
    pe = Qwen3VLVisionPatchEmbed(cfg.vision_config).to(dev, torch.bfloat16)
    x = torch.randn(n_images * 46 * 62, 3 * 2 * 16 * 16, device=dev, dtype=torch.bfloat16)
    out = {}
    ref = None
    for kind in ("conv3d", "linear"):
        if kind == "linear":
            use_linear_patch_embed(torch.nn.ModuleDict({"patch_embed": pe}))
        y = pe(x)
        ref = y.detach().float() if ref is None else ref
        out[f"{kind}_max_abs_diff_vs_conv3d"] = float((y.detach().float() - ref).abs().max())
        ts = []
        for r in range(reps + 3):
            torch.cuda.synchronize()
            t = time.perf_counter()
            pe(x).float().square().mean().backward()
            torch.cuda.synchronize()
            if r >= 3:
                ts.append(time.perf_counter() - t)
            pe.zero_grad(set_to_none=True)
        out[f"{kind}_fwd_bwd_ms"] = 1e3 * statistics.median(ts)
    log.info("patch embed: %s", out)
    return out


def check_packed_attention(tiny: bool) -> dict:
    """On the GPU (bf16, tiny Qwen3-VL): packed-row loss sum with the `sdpa_packed` attention
    (varlen flash when this torch has it) vs the sum of per-sample unpacked losses."""
    from transformers import Qwen3VLForConditionalGeneration

    from vlm3.train.packing import _varlen_fn

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = tiny_qwen3vl_config()
    torch.manual_seed(0)
    m = Qwen3VLForConditionalGeneration(cfg).to(dev, torch.bfloat16)
    samples = make_samples(cfg, 5, grids=[(1, 4, 6), (1, 6, 8)])
    ref = 0.0
    for smp in samples:
        b = {k: v.to(dev) for k, v in pad_collate([smp], 0).items()}
        b.pop("attention_mask")
        with torch.no_grad():
            ref += float(causal_lm_loss_sum(m, b)[0])
    use_packed_sdpa(m)
    b = {k: v.to(dev) for k, v in PackingCollator.from_config(cfg)(samples).items()}
    with torch.no_grad():
        got = float(causal_lm_loss_sum(m, b)[0])
    res = {"varlen_available": _varlen_fn() is not None, "unpacked_sum": ref, "packed_sum": got,
           "rel_diff": abs(got - ref) / abs(ref)}
    log.info("packed attention check: %s", res)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated config names to run (default: all)")
    ap.add_argument("--search", default="hf_gc:8,16,24,32;proj_gc:16,24,32,48,64",
                    help="max-micro-batch search: name:sizes;... (empty: skip)")
    ap.add_argument("--profile", default="proj_gc8", help="config to profile (empty: none)")
    ap.add_argument("--tiny", action="store_true", help="tiny model (CPU smoke test of this script)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    import transformers

    if not torch.cuda.is_available():  # CPU smoke test: make the cuda calls no-ops
        for f in ("synchronize", "empty_cache", "reset_peak_memory_stats"):
            setattr(torch.cuda, f, lambda *a, **k: None)
        torch.cuda.max_memory_allocated = torch.cuda.max_memory_reserved = lambda *a, **k: 0
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
            "cmd": " ".join(sys.argv), "peak_flops": PEAK_BF16}
    meta["packed_attention_check"] = check_packed_attention(args.tiny)
    b = Bench(args)
    meta["patch_embed"] = bench_patch_embed(b.cfg, b.dev) if not args.tiny else None
    meta["n_params"] = b.n_params
    # name: (project, micro, gc_fraction)
    configs = {
        "hf_gc8": (False, 8, 1.0), "hf_nogc4": (False, 4, 0.0), "hf_nogc2": (False, 2, 0.0),
        "proj_gc8": (True, 8, 1.0), "proj_gc16": (True, 16, 1.0), "proj_nogc4": (True, 4, 0.0),
        "proj_sel8_50": (True, 8, 0.5), "proj_sel8_25": (True, 8, 0.25), "proj_sel6_0": (True, 6, 0.0),
        # regional torch.compile (applied once, permanently: these run last)
        "proj_nogc4_compile": (True, 4, 0.0), "proj_gc16_compile": (True, 16, 1.0),
        "proj_sel8_25_compile": (True, 8, 0.25), "proj_sel8_25_compile_acc4": (True, 8, 0.25),
        "proj_nogc4_compile_acc4": (True, 4, 0.0), "proj_gc16_compile_acc4": (True, 16, 1.0),
    }
    only = [c for c in args.only.split(",") if c]
    results = []
    out_json = args.out / "gpu_train.json"

    def save():
        out_json.write_text(json.dumps({"meta": meta, "results": results}, indent=1, sort_keys=True))

    compiled = False
    for name, (project, micro, frac) in configs.items():
        if only and name not in only:
            continue
        if name.endswith("_compile") and not compiled:
            compile_blocks(b.model)
            compiled = True
        accum = int(name.rsplit("_acc", 1)[1]) if "_acc" in name else 1
        results.append(b.run(name, project, micro, frac, args.steps, args.warmup, profile=(name == args.profile),
                             accum=accum))
        save()
    for spec in [s for s in args.search.split(";") if s]:
        base, sizes = spec.split(":")
        project = base.startswith("proj")
        frac = configs[base][2] if base in configs else (1.0 if base.endswith("_gc") else 0.0)
        for m in [int(x) for x in sizes.split(",")]:
            r = b.run(f"search_{base}_mb{m}", project, m, frac, 2, 1)
            r["search"] = base
            results.append(r)
            save()
            if r["oom"]:
                break
    print(f"\n{meta['gpu']} torch {meta['torch']} transformers {meta['transformers']} N={b.n_params:.3e}")
    print("patch embed fwd+bwd:", meta["patch_embed"])
    print(f"{'config':<26}{'mb':>4}{'tok/s':>9}{'samp/s':>8}{'MFU6N':>7}{'MFU+at':>7}{'peakGiB':>9}{'step s':>8}")
    for r in results:
        if r["oom"]:
            print(f"{r['name']:<26}{r['micro_batch']:>4}  OOM")
            continue
        print(f"{r['name']:<26}{r['micro_batch']:>4}{r['tokens_per_s']:>9.0f}{r['samples_per_s']:>8.2f}"
              f"{100 * r['mfu_6N']:>6.1f}%{100 * r['mfu_6N_attn']:>6.1f}%{r['peak_alloc_gib']:>9.1f}{r['step_s_median']:>8.2f}")
    for r in results:
        if "profile_top" in r:
            (args.out / f"profile_{r['name']}.txt").write_text(r["profile_top"])
            print(f"\nprofile {r['name']}:\n" + "\n".join(r["profile_top"].splitlines()[:22]))


if __name__ == "__main__":
    main()
