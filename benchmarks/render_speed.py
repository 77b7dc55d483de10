"""Synthetic benchmark rendering throughput on ONE CPU core.

    python benchmarks/render_speed.py --size 256x192 --scenes 30

Pins the process to one core (sched_setaffinity) and one thread (OMP/MKL/OpenBLAS), then times
(a) `render` alone and (b) the whole generator path (`generate_split`, workers=1: sampling,
rendering, PNG/npy writes, covisibility of every pair, meta files) per difficulty. Prints a
markdown table of images per wall-clock second and per CPU second of this process (the latter is
what one dedicated core delivers when the machine is shared); recorded in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402

from vlm3.synthetic.generate import generate_split, parse_sizes  # noqa: E402
from vlm3.synthetic.raycast import render  # noqa: E402
from vlm3.synthetic.scene import SyntheticParams, sample_cameras, sample_scene  # noqa: E402
from vlm3.utils import rng_for  # noqa: E402


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="256x192")
    p.add_argument("--scenes", type=int, default=30)
    p.add_argument("--views", type=int, default=3)
    p.add_argument("--difficulty", default="easy,hard")
    a = p.parse_args()
    logging.disable(logging.INFO)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    sizes = parse_sizes(a.size)
    print(f"machine: {cpu_model()}; python {platform.python_version()}; one core, one thread")
    print("| difficulty | size | images | render only: img/s wall (img/CPU-s) "
          "| full generator: img/s wall (img/CPU-s) |")
    print("|---|---|---|---|---|")
    for diff in a.difficulty.split(","):
        params = SyntheticParams(views=a.views, difficulty=diff, sizes=sizes)
        jobs = []
        for i in range(a.scenes):
            rng = rng_for(0, "bench", diff, i)
            scene = sample_scene(rng, f"b{i}", params)
            jobs += [(scene, cam) for cam in sample_cameras(rng, scene, params)]
        t0, c0 = time.perf_counter(), time.process_time()
        for scene, cam in jobs:
            render(scene, cam)
        r_wall = len(jobs) / (time.perf_counter() - t0)
        r_cpu = len(jobs) / (time.process_time() - c0)
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), time.process_time()
            generate_split(tmp, "bench", a.scenes, seed=0, params=params, workers=1)
            g_wall = a.scenes * a.views / (time.perf_counter() - t0)
            g_cpu = a.scenes * a.views / (time.process_time() - c0)
        print(f"| {diff} | {a.size} | {len(jobs)} | {r_wall:.1f} ({r_cpu:.1f}) | {g_wall:.1f} ({g_cpu:.1f}) |")


if __name__ == "__main__":
    main()
