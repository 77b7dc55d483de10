"""Preprocessing cost per image vs a bare JPEG decode, 1600x900 (nuScenes-sized) images.

    python benchmarks/preprocess.py [--n 12] [--repeat 3] [--threads 0] [--seed 0]

Creates --n random-textured 1600x900 JPEGs (quality 90) and float32 depth maps (.npy, metres,
5 % invalid) in a temporary folder, then times, in one run and on the same files:
- `decode`: cv2.imread of the JPEG (the floor any pipeline pays);
- `preprocess`: the resize stage's per-image work: `vlm3.io.image.read_image` (decode + RGB),
  `vlm3.io.depth.read_depth` (npy), `vlm3.geometry.unify_focal` (undistort an OpenCV-model camera
  fx = fy = 1266, k1 = -0.12, k2 = 0.03, then resize to focal 1000, depth resampled
  nearest-valid), and a QA-like draw of 10 valid depth pixels with their normalised
  coordinates (`vlm3.geometry.normalize_point`);
- `preprocess, cache off`: the same with `unify_focal(..., cache=False)` (plan, remap maps and
  depth tables rebuilt for every image, as before the per-camera cache); outputs must be
  byte-identical to the cached path (checked and printed);
- a per-step CPU profile of the cached path (decode, depth read, prefilter, remap, depth
  sampling, QA sampling) that shows where the floor is.
Each variant: median over --repeat passes of the mean CPU (process) and wall seconds per image. --threads 0 keeps
OpenCV's default thread count. Prints a markdown block to paste into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from vlm3.geometry import make_K, normalize_point, plan_unify_focal, unify_focal
from vlm3.io.depth import read_depth
from vlm3.io.image import read_image
from vlm3.utils import rng_for

W, H = 1600, 900
K = make_K(1266.0, 1266.0, 799.5, 449.5)
DIST = ("opencv", [-0.12, 0.03, 0.0, 0.0, 0.0])
TARGET = 1000.0


def make_inputs(folder: Path, n: int, seed: int) -> list[tuple[Path, Path]]:
    files = []
    for i in range(n):
        rng = rng_for(seed, "preprocess-bench", i)
        # smooth colour blobs + fine noise: a photo-like JPEG size (~0.5-1 MB)
        low = rng.uniform(0, 255, (H // 40, W // 40, 3)).astype(np.float32)
        img = cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC)
        img += rng.normal(0, 12, (H, W, 3)).astype(np.float32)
        img = np.clip(img, 0, 255).astype(np.uint8)
        jp = folder / f"img{i:03d}.jpg"
        cv2.imwrite(str(jp), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        depth = cv2.resize(rng.uniform(1, 40, (H // 50, W // 50)).astype(np.float32), (W, H))
        depth[rng.random((H, W)) < 0.05] = 0
        dp = folder / f"depth{i:03d}.npy"
        np.save(dp, depth.astype(np.float32))
        files.append((jp, dp))
    return files


def sample_qa(depth: np.ndarray, rng: np.random.Generator, k: int = 10) -> list[tuple[int, int, float]]:
    """k distinct valid pixels (normalised x, y in [0, 2000), depth), like the depth QA stage.

    Rejection sampling (draw random pixels, keep valid ones) instead of listing every valid pixel
    with np.nonzero: 10 draws need microseconds, a full scan of a 1 Mpx map milliseconds.
    """
    h, w = depth.shape
    flat = depth.reshape(-1)
    picked: list[int] = []
    while len(picked) < k:
        cand = rng.integers(0, flat.size, size=4 * k)
        for c in cand[flat[cand] > 0]:
            if c not in picked:
                picked.append(int(c))
            if len(picked) == k:
                break
    return [(*normalize_point(c % w, c // w, w, h), float(flat[c])) for c in picked]


def run_decode(files):
    for jp, _ in files:
        if cv2.imread(str(jp), cv2.IMREAD_COLOR) is None:
            raise RuntimeError(jp)


def run_preprocess(files):
    rng = np.random.default_rng(0)
    out = []
    for jp, dp in files:
        img = read_image(jp)
        depth = read_depth(dp, "npy", shape=(H, W))
        new_img, K_new, new_depth = unify_focal(img, K, TARGET, DIST, depth)
        out.append((new_img, sample_qa(new_depth, rng)))
    return out


def run_uncached(files):
    """The same work with unify_focal's per-camera cache off (plan + maps rebuilt per image)."""
    rng = np.random.default_rng(0)
    out = []
    for jp, dp in files:
        img = read_image(jp)
        depth = read_depth(dp, "npy", shape=(H, W))
        new_img, K_new, new_depth = unify_focal(img, K, TARGET, DIST, depth, cache=False)
        out.append((new_img, sample_qa(new_depth, rng)))
    return out


def profile_steps(files, repeat):
    """Median CPU ms per image of each step of the cached product path (one image at a time)."""
    from vlm3.geometry import focal as F

    key = F._camera_key(K, W, H, TARGET, DIST)
    t = F._tables(key, cache=True)  # the camera has been seen: tables with the candidate order
    plan = F._plan_cached(key)
    steps = {
        "JPEG decode to RGB (read_image)": lambda jp, dp: read_image(jp),
        "depth .npy load + clean (read_depth)": lambda jp, dp: read_depth(dp, "npy", shape=(H, W)),
    }
    imgs = [read_image(jp) for jp, _ in files]
    deps = [read_depth(dp, "npy", shape=(H, W)) for _, dp in files]
    pre = [F._prefilter(i, plan.s0x, plan.s0y) for i in imgs]
    res = {}
    for name, fn in steps.items():
        res[name] = _cpu_ms(lambda: [fn(jp, dp) for jp, dp in files], len(files), repeat)
    res["antialiasing prefilter (sepFilter2D 3x3)"] = _cpu_ms(
        lambda: [F._prefilter(i, plan.s0x, plan.s0y) for i in imgs], len(files), repeat)
    res["image remap (fixed-point bilinear, cached maps)"] = _cpu_ms(
        lambda: [cv2.remap(i, t.m1, t.m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for i in pre],
        len(files), repeat)
    res["depth: nearest gather + hole search (cached tables)"] = _cpu_ms(
        lambda: [F._sample_depth(d, t) for d in deps], len(files), repeat)
    nd = [F._sample_depth(d, t) for d in deps]
    rng = np.random.default_rng(0)
    res["QA sampling of 10 pixels"] = _cpu_ms(lambda: [sample_qa(d, rng) for d in nd], len(files), repeat)
    return res


def _cpu_ms(fn, n, repeat):
    v = []
    for _ in range(repeat):
        c0 = time.process_time()
        fn()
        v.append((time.process_time() - c0) / n * 1e3)
    return statistics.median(v)


def timed(fn, n_images, repeat):
    """(median CPU s / image, median wall s / image, result) over `repeat` passes.

    CPU time (all threads of this process) is the primary figure: the benchmark machine is
    shared, so wall time also contains waiting for other people's jobs.
    """
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        res = fn()
        cpu.append((time.process_time() - c0) / n_images)
        wall.append((time.perf_counter() - w0) / n_images)
    return statistics.median(cpu), statistics.median(wall), res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="cv2.setNumThreads (0 = OpenCV default)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.threads:
        cv2.setNumThreads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_inputs(Path(tmp), a.n, a.seed)
        jpeg_kb = np.mean([f.stat().st_size for f, _ in files]) / 1024
        run_decode(files[:2])
        t_cam0 = time.perf_counter()
        run_preprocess(files[:2])  # warm-up: the camera's plan and maps, then (2nd image) its
        t_cam = time.perf_counter() - t_cam0  # hole-search candidate order are cached
        rows = {}
        *rows["decode"], _ = timed(lambda: run_decode(files), a.n, a.repeat)
        *rows["preprocess (unify_focal, per-camera cache)"], ref = timed(lambda: run_preprocess(files), a.n, a.repeat)
        *rows["preprocess, cache off (cache=False)"], unc = timed(lambda: run_uncached(files), a.n, a.repeat)
        prof = profile_steps(files, a.repeat)
    p = plan_unify_focal(K, W, H, TARGET, DIST)
    same = all(r[0].tobytes() == u[0].tobytes() for r, u in zip(ref, unc))
    base_cpu, base_wall = rows["decode"]
    print(f"### Preprocessing ({datetime.date.today().isoformat()})")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores visible, {platform.processor() or 'cpu'}; "
          f"OpenCV {cv2.__version__} with {cv2.getNumThreads()} threads; numpy {np.__version__}")
    print(f"- command: `python benchmarks/preprocess.py --n {a.n} --repeat {a.repeat} --threads {a.threads}`")
    print(f"- input: {a.n} JPEGs {W}x{H} (mean {jpeg_kb:.0f} KiB) + float32 depth .npy; camera fx=1266, "
          f"opencv k1=-0.12 k2=0.03 -> {p.width_new}x{p.height_new} at f=1000; first two images incl. building "
          f"the camera's cache: {t_cam*1e3:.0f} ms wall")
    print("\n| variant | CPU ms / image | x decode (CPU) | wall ms / image | x decode (wall) |\n|---|---|---|---|---|")
    for k, (c, w) in rows.items():
        print(f"| {k} | {c * 1e3:.1f} | {c / base_cpu:.2f} | {w * 1e3:.1f} | {w / base_wall:.2f} |")
    print(f"\ncached and uncached outputs byte-identical: {same}")
    print("\n| step of the cached path | CPU ms / image |\n|---|---|")
    for k, v in prof.items():
        print(f"| {k} | {v:.2f} |")
    print(f"| sum of steps | {sum(prof.values()):.2f} |")


if __name__ == "__main__":
    main()
