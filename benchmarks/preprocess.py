"""Preprocessing cost per image vs a bare JPEG decode of the same 1600x900 (nuScenes-sized) files.

    python benchmarks/preprocess.py [--n 12] [--repeat 3] [--threads 1] [--seed 0] [--noise 12,3]

Creates, for each --noise level, --n random-textured 1600x900 JPEGs (smooth colour blobs + Gaussian
pixel noise of that sigma, quality 90: sigma 12 gives ~550 KiB files, sigma 3 ~250 KiB; a JPEG's
decode cost grows with its compressed size while the rest of the stage does not, so the ratio
depends on it: photos of real scenes at this size are usually well under 550 KiB) and, for each
image, two depth files in a temporary folder: a float32 `.npy` map (metres, 5 % invalid,
scattered: the worst case for the hole search) and a nuScenes LIDAR_TOP-like `.pcd.bin` sweep
(32 beams x 1085 azimuths, float32 x y z intensity ring, ground plane + obstacles). Then times, in
one run, on the same JPEGs:
- `decode`: `cv2.imread(IMREAD_COLOR)`, the floor any pipeline pays (BGR; the stage's
  `read_image` decodes straight to RGB, which libjpeg-turbo does at the same cost);
- `dense`: what `vlm3.resize.process_row` does per image with dense depth, minus writing files:
  `read_image`, `read_depth(..., clean=False)` (npy), `unify_focal` (undistort an OpenCV-model
  camera fx = fy = 1266, k1 = -0.12, k2 = 0.03, resize to focal 1000; depth nearest-valid), then
  the depth QA stage's pixel draw (`vlm3.qa.depth.sample_pixels`, 10 pixels, border 10) and
  `normalize_point`; `dense, cache off`: the same with `unify_focal(..., cache=False)`;
- `nuScenes`: the realistic case, as the stage does it for nuScenes rows: `read_image`,
  `read_depth(..., "nuscenes_lidar:<3x4>")` (sweep -> camera frame, 1 m < z <= 80 m),
  `unify_focal` of a pinhole CAM_FRONT-like camera (fx = fy = 1266.417, no distortion: prefilter
  + one bilinear resize), `sparse_depth_map` re-projection with the new K, then the same QA draw.
Timing is paired: in each of the --repeat rounds, every image goes through every variant back to
back, and each variant's time on an image is divided by the decode time of the SAME image in the
SAME round, so the machine's speed drifts (this 2-core shared machine's decode time moves by 1.5x
between minutes) cancel in the ratio. Reported: median (and quartiles) of those per-image ratios,
and the median CPU (process) and wall ms per image. Outputs are not kept during timing; a separate
pass checks cached == uncached bytes. Also prints a per-step CPU profile of both cases (first noise
level). --threads 1 (default) is how the pipeline runs the stage (rules/resize.smk passes
--workers 2 and each worker process calls cv2.setNumThreads(1)); with --threads 0 (OpenCV's
default, 2 threads here) OpenCV's thread hand-offs add CPU time. Prints a markdown block to paste
into benchmarks/RESULTS.md.
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

from vlm3.datasets.readers import lidar_param
from vlm3.geometry import focal as F
from vlm3.geometry import make_K, normalize_point, plan_unify_focal, sparse_depth_map, unify_focal
from vlm3.io.depth import read_depth
from vlm3.io.image import read_image
from vlm3.qa.depth import sample_pixels
from vlm3.utils import rng_for

W, H = 1600, 900
K = make_K(1266.0, 1266.0, 799.5, 449.5)
DIST = ("opencv", [-0.12, 0.03, 0.0, 0.0, 0.0])
K_NUS = make_K(1266.417, 1266.417, 816.267, 491.507)  # nuScenes CAM_FRONT intrinsics
TARGET = 1000.0
# lidar (x right, y forward, z up; 1.84 m above the road) -> camera (x right, y down, z forward)
LIDAR_TO_CAM = np.array([[1, 0, 0, 0.0], [0, 0, -1, -0.3], [0, 1, 0, -0.7], [0, 0, 0, 1.0]])
LIDAR_FMT = "nuscenes_lidar:" + lidar_param(LIDAR_TO_CAM)


def lidar_sweep(rng: np.random.Generator) -> np.ndarray:
    """(32 * 1085, 5) float32 x y z intensity ring: an HDL-32E-like sweep over a flat road with
    obstacles (one distance per 2-degree sector), ~34.7 k points as a nuScenes keyframe."""
    el = np.radians(np.linspace(-30.67, 10.67, 32))[:, None]
    az = np.radians(np.arange(1085) * 360.0 / 1085)[None, :]
    wall = np.repeat(rng.uniform(4, 70, 180), 1085 // 180 + 1)[: 1085][None, :]
    ground = np.where(el < 0, 1.84 / np.sin(-np.minimum(el, -1e-3)), np.inf)
    r = np.minimum(np.minimum(ground, wall / np.cos(el)), 100.0) + rng.normal(0, 0.02, (32, 1085))
    x, y, z = r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)
    ring = np.repeat(np.arange(32.0)[:, None], 1085, 1)
    return np.stack([x, y, z, rng.uniform(0, 100, r.shape), ring], -1).reshape(-1, 5).astype(np.float32)


def make_inputs(folder: Path, n: int, seed: int, noise: float = 12.0) -> list[tuple[Path, Path, Path]]:
    """n (jpeg, depth .npy, lidar .pcd.bin) triples; `noise` = sigma of the JPEGs' pixel noise
    (12: ~550 KiB per file, 3: ~250 KiB); the depth files do not depend on it."""
    files = []
    for i in range(n):
        rng = rng_for(seed, "preprocess-bench", i)
        # smooth colour blobs + fine noise (the noise sets the compressed size)
        low = rng.uniform(0, 255, (H // 40, W // 40, 3)).astype(np.float32)
        img = cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC)
        img += noise * rng.normal(0, 1, (H, W, 3)).astype(np.float32)
        img = np.clip(img, 0, 255).astype(np.uint8)
        jp = folder / f"img{i:03d}_noise{noise:g}.jpg"
        cv2.imwrite(str(jp), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        depth = cv2.resize(rng.uniform(1, 40, (H // 50, W // 50)).astype(np.float32), (W, H))
        depth[rng.random((H, W)) < 0.05] = 0
        dp = folder / f"depth{i:03d}_noise{noise:g}.npy"
        np.save(dp, depth.astype(np.float32))
        lp = folder / f"lidar{i:03d}_noise{noise:g}.pcd.bin"
        lidar_sweep(rng).tofile(lp)
        files.append((jp, dp, lp))
    return files


def qa(depth: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int, float]]:
    """The depth QA stage's draw: 10 valid pixels >= 10 px from the border, normalised coords."""
    h, w = depth.shape
    return [(*normalize_point(u, v, w, h, scale=2000), float(depth[v, u]))
            for u, v in sample_pixels(depth, 10, 10, rng).tolist()]


def dense_one(jp, dp, rng, cache=True):
    img = read_image(jp)
    depth = read_depth(dp, "npy", shape=(H, W), clean=False)
    new_img, K_new, new_depth = unify_focal(img, K, TARGET, DIST, depth, cache=cache)
    return new_img, new_depth, qa(new_depth, rng)


def nuscenes_one(jp, lp, rng):
    img = read_image(jp)
    points = read_depth(lp, LIDAR_FMT)
    new_img, K_new, _ = unify_focal(img, K_NUS, TARGET, None, None)
    new_depth = sparse_depth_map(points, K_new, new_img.shape[1], new_img.shape[0], kind="z")
    return new_img, new_depth, qa(new_depth, rng)


def variants():
    """Per-image callables (jpeg, depth, lidar) -> None; the decode reference first. The QA draws
    share one generator, as the stage's images do (its state only changes which pixels)."""
    rng = np.random.default_rng(0)
    return {
        "decode (cv2.imread, the reference)": lambda jp, dp, lp: cv2.imread(str(jp), cv2.IMREAD_COLOR),
        "dense: stage path (per-camera cache)": lambda jp, dp, lp: dense_one(jp, dp, rng),
        "dense: stage path, cache off": lambda jp, dp, lp: dense_one(jp, dp, rng, cache=False),
        "nuScenes: stage path (pinhole + lidar sweep)": lambda jp, dp, lp: nuscenes_one(jp, lp, rng),
    }


def time_paired(fns: dict, files, repeat: int) -> dict:
    """{name: dict(cpu_ms, wall_ms, ratio, q1, q3)}: every image through every variant back to
    back in each round; ratio = the variant's CPU time on an image / the decode's CPU time on the
    same image in the same round (median and quartiles over images x rounds); ms = medians.

    CPU time (all threads of this process) is the primary figure: on a shared machine wall time
    also contains waiting for other people's jobs."""
    cpu = {k: [] for k in fns}
    wall = {k: [] for k in fns}
    for _ in range(repeat):
        for it in files:
            for k, fn in fns.items():
                c0, w0 = time.process_time(), time.perf_counter()
                fn(*it)  # the result is dropped at once, as the stage drops it after writing
                cpu[k].append(time.process_time() - c0)
                wall[k].append(time.perf_counter() - w0)
    base = np.array(next(iter(cpu.values())))
    out = {}
    for k in fns:
        r = np.array(cpu[k]) / base
        out[k] = {"cpu_ms": 1e3 * statistics.median(cpu[k]), "wall_ms": 1e3 * statistics.median(wall[k]),
                  "ratio": float(np.median(r)), "q1": float(np.quantile(r, 0.25)),
                  "q3": float(np.quantile(r, 0.75))}
    return out


def same_bytes(files) -> bool:
    """Cached and uncached dense outputs (image, depth, QA draw) are identical."""
    for jp, dp, _ in files:
        a = dense_one(jp, dp, np.random.default_rng(1))
        b = dense_one(jp, dp, np.random.default_rng(1), cache=False)
        if a[0].tobytes() != b[0].tobytes() or a[1].tobytes() != b[1].tobytes() or a[2] != b[2]:
            return False
    return True


def profile_steps(files, repeat):
    """Median CPU ms per image of each step of both cases (cached path, one step at a time)."""
    key = F._camera_key(K, W, H, TARGET, DIST)
    t = F._tables(key, cache=True)  # the camera has been seen: tables with the candidate order
    plan = F._plan_cached(key)
    pn = plan_unify_focal(K_NUS, W, H, TARGET)
    imgs = [read_image(jp) for jp, _, _ in files]
    deps = [read_depth(dp, "npy", shape=(H, W), clean=False) for _, dp, _ in files]
    pts = [read_depth(lp, LIDAR_FMT) for _, _, lp in files]
    pre = [F._prefilter(i, plan.s0x, plan.s0y) for i in imgs]
    nd = [F._sample_depth(d, t) for d in deps]
    sd = [sparse_depth_map(p, pn.K_new, pn.width_new, pn.height_new) for p in pts]
    rng = np.random.default_rng(0)
    steps = {
        "JPEG decode to RGB (`read_image`)": lambda i: read_image(files[i][0]),
        "dense: depth `.npy` load (`read_depth`, clean=False)": lambda i: read_depth(
            files[i][1], "npy", shape=(H, W), clean=False),
        "dense: antialiasing prefilter (sepFilter2D 3x3)": lambda i: F._prefilter(imgs[i], plan.s0x, plan.s0y),
        "dense: image remap (fixed-point bilinear, undistort + resize fused)": lambda i: cv2.remap(
            pre[i], t.m1, t.m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        "dense: depth nearest gather + invalid test + hole search": lambda i: F._sample_depth(deps[i], t),
        "dense: QA draw (`sample_pixels`)": lambda i: qa(nd[i], rng),
        "nuScenes: lidar sweep load + to camera (`read_depth`)": lambda i: read_depth(files[i][2], LIDAR_FMT),
        "nuScenes: prefilter + bilinear resize (`unify_focal`, image only)": lambda i: unify_focal(imgs[i], K_NUS, TARGET),
        "nuScenes: `sparse_depth_map` with the new K": lambda i: sparse_depth_map(pts[i], pn.K_new, pn.width_new, pn.height_new),
        "nuScenes: QA draw (`sample_pixels`)": lambda i: qa(sd[i], rng),
    }
    res = {}
    for name, fn in steps.items():
        v = []
        for _ in range(repeat):
            c0 = time.process_time()
            for i in range(len(files)):
                fn(i)
            v.append((time.process_time() - c0) / len(files) * 1e3)
        res[name] = statistics.median(v)
    n_pts = np.mean([len(p) for p in pts])
    n_px = np.mean([(d > 0).sum() for d in sd])
    return res, n_pts, n_px


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="cv2.setNumThreads; 1 = as the resize stage's workers run (default), 0 = OpenCV default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", default="12,3",
                    help="comma-separated JPEG noise sigmas, one image set each (12: ~550 KiB, 3: ~250 KiB)")
    a = ap.parse_args(argv)
    noises = [float(x) for x in a.noise.split(",")]
    if a.threads:
        cv2.setNumThreads(a.threads)
    load0 = os.getloadavg()[0]
    sets = []
    with tempfile.TemporaryDirectory() as tmp:
        t_cam0 = time.perf_counter()
        warm = Path(tmp) / "warm-up"  # own files: the timed sets never reuse them
        warm.mkdir()
        warm_files = make_inputs(warm, 2, a.seed + 1)
        for f in variants().values():  # the cameras' plans and maps, then (2nd image) the dense
            for it in warm_files:  # camera's hole-search candidate order are cached
                f(*it)
        t_cam = time.perf_counter() - t_cam0
        for noise in noises:
            files = make_inputs(Path(tmp), a.n, a.seed, noise)
            kib = np.mean([f.stat().st_size for f, _, _ in files]) / 1024
            sets.append((noise, kib, time_paired(variants(), files, a.repeat), same_bytes(files)))
            if len(sets) == 1:
                prof, n_pts, n_px = profile_steps(files, a.repeat)
    load1 = os.getloadavg()[0]
    p, pn = plan_unify_focal(K, W, H, TARGET, DIST), plan_unify_focal(K_NUS, W, H, TARGET)
    print(f"### Preprocessing ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores visible; OpenCV {cv2.__version__} with "
          f"{cv2.getNumThreads()} threads; numpy {np.__version__}; load average {load0:.1f} -> {load1:.1f}")
    print(f"- command: `python benchmarks/preprocess.py --n {a.n} --repeat {a.repeat} --threads {a.threads} "
          f"--noise {a.noise}`")
    print(f"- input: {a.n} JPEGs {W}x{H} per noise level; dense: float32 .npy (5 % holes), opencv "
          f"k1=-0.12 k2=0.03 fx=1266 -> {p.width_new}x{p.height_new}; nuScenes: pinhole fx=1266.417 -> "
          f"{pn.width_new}x{pn.height_new}, {n_pts:.0f} lidar points in front of the camera, {n_px:.0f} depth "
          f"pixels; warm-up (2 images per variant, builds the cameras' caches): {t_cam*1e3:.0f} ms wall")
    print("\n| JPEG noise (mean size) | variant | CPU ms / image | x decode (CPU, median [quartiles] of "
          "per-image ratios) | wall ms / image |\n|---|---|---|---|---|")
    for noise, kib, rows, _ in sets:
        for k, r in rows.items():
            print(f"| {noise:g} ({kib:.0f} KiB) | {k} | {r['cpu_ms']:.1f} | {r['ratio']:.2f} "
                  f"[{r['q1']:.2f}, {r['q3']:.2f}] | {r['wall_ms']:.1f} |")
    print(f"\ncached and uncached dense outputs byte-identical: {all(x[3] for x in sets)}")
    print(f"\n| step (cached path, noise {noises[0]:g}) | CPU ms / image |\n|---|---|")
    for k, v in prof.items():
        print(f"| {k} | {v:.2f} |")


if __name__ == "__main__":
    main()
