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
- `preprocess_cached`: the same output geometry with the undistort+resize map of the camera
  computed once and cached (one `cv2.remap` with fixed-point maps per image, depth by a cached
  nearest-pixel index, no nearest-valid hole filling); the image is bilinearly resampled in one pass instead of remap + area
  resize, so pixels differ slightly from unify_focal (reported: mean |diff|).
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
from vlm3.geometry.focal import unified_to_source
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


class CachedCamera:
    """Output-pixel -> source-pixel map of one camera, computed once (the optimisation)."""

    def __init__(self, K, dist, w, h, target):
        self.plan = plan_unify_focal(K, w, h, target, dist)
        p = self.plan
        u, v = np.meshgrid(np.arange(p.width_new, dtype=np.float64), np.arange(p.height_new, dtype=np.float64))
        src = unified_to_source(np.stack([u.ravel(), v.ravel()], 1), p)
        mx = src[:, 0].reshape(p.height_new, p.width_new).astype(np.float32)
        my = src[:, 1].reshape(p.height_new, p.width_new).astype(np.float32)
        self.m1, self.m2 = cv2.convertMaps(mx, my, cv2.CV_16SC2)  # fixed point: faster remap
        ix, iy = np.floor(mx + 0.5).astype(np.int64), np.floor(my + 0.5).astype(np.int64)
        inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
        # outside pixels point at index w*h: a 0 appended to the flattened depth
        self.flat = np.where(inside, iy * w + ix, w * h).astype(np.intp)
        self.shape = (p.height_new, p.width_new)

    def __call__(self, img, depth):
        new_img = cv2.remap(img, self.m1, self.m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        d = np.append(depth.reshape(-1), np.float32(0))[self.flat]
        return new_img, d.reshape(self.shape)


def run_cached(files, cam: CachedCamera):
    rng = np.random.default_rng(0)
    out = []
    for jp, dp in files:
        img = read_image(jp)
        depth = read_depth(dp, "npy", shape=(H, W))
        new_img, new_depth = cam(img, depth)
        out.append((new_img, sample_qa(new_depth, rng)))
    return out


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
        run_decode(files[:2]); run_preprocess(files[:1])  # warm-up (imports, allocator)
        t_cam0 = time.perf_counter()
        cam = CachedCamera(K, DIST, W, H, TARGET)
        t_cam = time.perf_counter() - t_cam0
        run_cached(files[:1], cam)
        rows = {}
        *rows["decode"], _ = timed(lambda: run_decode(files), a.n, a.repeat)
        *rows["preprocess (unify_focal)"], ref = timed(lambda: run_preprocess(files), a.n, a.repeat)
        *rows["preprocess_cached"], opt = timed(lambda: run_cached(files, cam), a.n, a.repeat)
    p = cam.plan
    diff = float(np.mean([np.abs(r[0].astype(np.int16) - o[0].astype(np.int16)).mean() for r, o in zip(ref, opt)]))
    base_cpu, base_wall = rows["decode"]
    print(f"### Preprocessing ({datetime.date.today().isoformat()})")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores visible, {platform.processor() or 'cpu'}; "
          f"OpenCV {cv2.__version__} with {cv2.getNumThreads()} threads; numpy {np.__version__}")
    print(f"- command: `python benchmarks/preprocess.py --n {a.n} --repeat {a.repeat} --threads {a.threads}`")
    print(f"- input: {a.n} JPEGs {W}x{H} (mean {jpeg_kb:.0f} KiB) + float32 depth .npy; camera fx=1266, "
          f"opencv k1=-0.12 k2=0.03 -> {p.width_new}x{p.height_new} at f=1000; cached map built once in {t_cam*1e3:.0f} ms")
    print("\n| variant | CPU ms / image | x decode (CPU) | wall ms / image | x decode (wall) |\n|---|---|---|---|---|")
    for k, (c, w) in rows.items():
        print(f"| {k} | {c * 1e3:.1f} | {c / base_cpu:.2f} | {w * 1e3:.1f} | {w / base_wall:.2f} |")
    print(f"\ncached vs unify_focal images: mean |diff| {diff:.2f} grey levels")


if __name__ == "__main__":
    main()
