"""GPU profile summaries shared by the throughput benchmarks (`train_throughput.py --profile`,
`eval_throughput.py --profile`): GPU busy % over the profiled wall time, the share of kernel time
per category (GEMM, attention, element-wise, optimizer, copies, communication), the top kernels, and
torch.profiler's key averages (which include the `record_function` ranges a benchmark names, such
as eval_throughput's phases)."""

from __future__ import annotations

CATEGORIES = (  # first match wins, on the lower-cased kernel name
    ("communication", ("nccl",)),
    ("attention", ("flash", "fmha", "attention", "attn", "varlen", "sdpa")),
    ("optimizer", ("multi_tensor", "adam", "foreach")),
    ("gemm", ("gemm", "xmma", "cutlass", "nvjet", "cublas", "wgmma", "matmul", "sm90_", "sm80_", "ampere_")),
    ("copy/memset", ("memcpy", "memset")),
)


def kernel_category(name: str) -> str:
    low = name.lower()
    for cat, keys in CATEGORIES:
        if any(k in low for k in keys):
            return cat
    return "element-wise/other"


def profile_summary(events, wall_s: float) -> str:
    """GPU busy % over the profiled wall time (union of kernel intervals) and the share of kernel
    time per category; `events` = (name, start_us, duration_us) of GPU kernels."""
    lines = []
    if not events:
        return f"profiled wall time {wall_s:.3f} s: no GPU kernels recorded (CPU run)\n"
    spans = sorted((s, s + d) for _, s, d in events)
    busy, cur_s, cur_e = 0.0, *spans[0]
    for s, e in spans[1:]:
        if s > cur_e:
            busy += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    busy += cur_e - cur_s
    total = sum(d for _, _, d in events)
    by: dict[str, float] = {}
    for n, _, d in events:
        by[kernel_category(n)] = by.get(kernel_category(n), 0.0) + d
    lines.append(f"profiled wall time {wall_s:.3f} s, GPU busy {busy / 1e6:.3f} s = "
                 f"{100 * busy / 1e6 / wall_s:.1f} % (union of kernel intervals); kernel time {total / 1e6:.3f} s")
    for cat, d in sorted(by.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {cat:<20} {d / 1e6:8.3f} s  {100 * d / total:5.1f} % of kernel time")
    names: dict[str, float] = {}
    for n, _, d in events:
        names[n] = names.get(n, 0.0) + d
    lines.append("top kernels:")
    for n, d in sorted(names.items(), key=lambda kv: -kv[1])[:25]:
        lines.append(f"  {100 * d / total:5.1f} %  {kernel_category(n):<18} {n[:110]}")
    return "\n".join(lines) + "\n"


def kernel_events(events) -> list[tuple[str, float, float]]:
    """(name, start_us, duration_us) of the GPU kernels among torch.profiler's events. The
    `record_function` ranges a benchmark names (eval_throughput's `phase:*`, the optimizer's
    `Optimizer.step#...`) also come back as CUDA events, as user annotations spanning the kernels
    they enclose: counted as kernels they inflated the busy share and the kernel time (the
    2026-12-07 eval profile put more than half of its "kernel time" in its own phases)."""
    from torch.autograd import DeviceType

    return [(e.name, e.time_range.start, e.time_range.elapsed_us()) for e in events
            if e.device_type == DeviceType.CUDA and not getattr(e, "is_user_annotation", False)]


def profile_text(prof, wall_s: float, rows: int = 30) -> str:
    """`profile_summary` of a finished `torch.profiler.profile` plus its key averages table."""
    ev = kernel_events(prof.events())
    return (profile_summary(ev, wall_s) + "\nkey averages:\n"
            + prof.key_averages().table(sort_by="self_device_time_total" if ev else "self_cpu_time_total",
                                        row_limit=rows, max_name_column_width=60))
