"""Focal-unification throughput on ONE CPU core, for the real camera sizes of the depth benchmarks.

    python benchmarks/unify_focal_speed.py [--repeat 3] [--out benchmarks/results/unify_focal_speed.md]

Pins the process to one core and one OpenCV/BLAS thread, then times `vlm3.geometry.unify_focal`
(image uint8 RGB + dense float32 depth) for camera presets with realistic sizes, intrinsics and
distortion (coefficients are ETH3D/nuScenes/iBims-like, not any specific camera's calibration).
Prints a markdown table (CPU seconds from time.process_time of the first call, which builds the
camera's cached plan and maps, and the best of the later, cached calls, plus their wall time, which
on a shared machine includes waiting for the core) and writes it to --out.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vlm3.geometry import make_K, unify_focal  # noqa: E402
from vlm3.utils import atomic_path, rng_for  # noqa: E402

PRESETS = {
    # name: (W, H, fx, fy, cx, cy, dist, target)
    "eth3d 6048x4032 thin_prism_fisheye": (
        6048, 4032, 3411.42, 3410.02, 3041.29, 2014.07,
        ("thin_prism_fisheye", [0.21047, 0.21102, -5.4e-06, 5.2e-4, -0.158023, 0.406856, -8.5e-05, 8.6e-4]), 1000.0),
    "nuscenes 1600x900 pinhole": (1600, 900, 1266.4, 1266.4, 816.3, 491.5, None, 1000.0),
    "opencv 1920x1080 radial": (1920, 1080, 1400.0, 1400.0, 960.0, 540.0, ("opencv", [-0.2, 0.05, 0, 0, 0]), 1000.0),
    "ibims 640x480 pinhole (upscale)": (640, 480, 559.6, 558.4, 326.7, 240.2, None, 1000.0),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="calls per camera (>= 2): the first builds the cache")
    ap.add_argument("--out", default="benchmarks/results/unify_focal_speed.md")
    args = ap.parse_args()
    if args.repeat < 2:
        raise ValueError(f"--repeat must be >= 2 (the first call builds the camera cache), got {args.repeat}")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    rows = [f"| camera | input | output | CPU s, 1st image (builds the camera cache) | CPU s / image, cached (best of "
            f"{args.repeat - 1}) | wall s, cached |", "|---|---|---|---|---|---|"]
    for name, (W, H, fx, fy, cx, cy, dist, target) in PRESETS.items():
        rng = rng_for(0, "bench", name)
        img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        depth = rng.uniform(0.5, 50.0, (H, W)).astype(np.float32)
        depth[rng.random((H, W)) < 0.1] = np.inf  # ETH3D-style invalid markers
        K = make_K(fx, fy, cx, cy)
        best, wall, first = float("inf"), float("inf"), None
        for _ in range(args.repeat):
            t0, w0 = time.process_time(), time.perf_counter()
            out, _, _ = unify_focal(img, K, target, dist, depth)
            if first is None:
                first = time.process_time() - t0
                continue
            best, wall = min(best, time.process_time() - t0), min(wall, time.perf_counter() - w0)
        rows.append(f"| {name} | {W}x{H} | {out.shape[1]}x{out.shape[0]} | {first:.2f} | {best:.2f} | {wall:.2f} |")
        print(rows[-1], flush=True)
    text = "\n".join(
        [f"# unify_focal speed, one core ({platform.processor() or platform.machine()}, "
         f"opencv {cv2.__version__}, numpy {np.__version__})", "", *rows, ""]
    )
    with atomic_path(args.out) as tmp:
        Path(tmp).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
