"""A self-made ground-plane depth QA set for model/trainer development (numpy only).

Until the project's synthetic generator and QA builder are used, this renders the simplest scene
whose depth the picture determines: a textured ground plane seen from a camera at a known height
(1.5 m) with a small random pitch, a sky above the horizon, and a few random vertical boxes
(distractors). Depth questions are asked only on visible ground pixels, in the project's QA record
format (docs/CONTRACTS.md) and the paper's depth prompt; answers are camera-z metres written
fixed-width ("03.52 meters") by default.

    python benchmarks/ground_plane_qa.py --out results/bench_gp --n-train 2000 --n-test 100 --seed 0

Conventions: OpenCV camera (Y down), focal f px, principal point at the image centre, pitch > 0
tilts the camera down. Ground plane y_world = +H (H below the camera centre).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from vlm3.utils import rng_for

QUESTION = ("How far is the pixel at ({x}, {y}) from the camera? "
            "Both x and y are normalized to between [0, 2000).")


def render(rng: np.random.Generator, width: int, height: int, focal: float, cam_height: float = 1.6,
           pitch_deg: tuple[float, float] = (2.0, 14.0)):
    """One image (HxWx3 uint8) and its z-depth (HxW float32, 0 = sky)."""
    pitch = np.deg2rad(rng.uniform(*pitch_deg))
    u, v = np.meshgrid(np.arange(width) + 0.0, np.arange(height) + 0.0)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    # Camera ray (x, y, 1) rotated by the pitch into a level frame (Y down, Z forward).
    xr, yr = (u - cx) / focal, (v - cy) / focal
    c, s = np.cos(pitch), np.sin(pitch)
    y_lvl = c * yr + s          # level-frame Y component of the ray
    z_lvl = -s * yr + c         # level-frame Z component
    t = np.where(y_lvl > 1e-6, cam_height / np.maximum(y_lvl, 1e-6), np.inf)  # ray scale to ground
    ground = np.isfinite(t) & (t * np.sqrt(xr**2 + yr**2 + 1) < 60.0)
    depth = np.where(ground, t, 0.0).astype(np.float32)  # camera z = t (ray has z=1 in camera frame)
    # Ground texture: checkerboard in world metres, random colour, shading by distance.
    with np.errstate(invalid="ignore"):
        gx, gz = t * xr, t * z_lvl
    tile = rng.uniform(0.5, 1.5)
    checker = ((np.floor(np.where(ground, gx, 0) / tile) + np.floor(np.where(ground, gz, 0) / tile)) % 2)
    base = rng.uniform(60, 200, size=3)
    img = np.empty((height, width, 3))
    for ch in range(3):
        g = base[ch] * (0.75 + 0.25 * checker)
        sky = 150 + 80 * (v / height) + rng.uniform(-20, 20)
        img[..., ch] = np.where(ground, g, sky)
    # A few upright boxes standing on the ground (occluders): nearer boxes drawn last.
    for _ in range(int(rng.integers(0, 3))):
        bz, bx = rng.uniform(3, 15), rng.uniform(-4, 4)
        bw, bh = rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.5)
        corners = []
        for yy in (cam_height, cam_height - bh):
            yc = c * yy - s * bz
            zc = s * yy + c * bz
            corners.append((focal * yc / zc + cy, zc))
        v_bot, z_bot = corners[0]
        v_top, _ = corners[1]
        u0, u1 = focal * (bx - bw / 2) / z_bot + cx, focal * (bx + bw / 2) / z_bot + cx
        m = (u >= u0) & (u <= u1) & (v >= v_top) & (v <= v_bot) & ((depth == 0) | (depth > z_bot))
        col = rng.uniform(30, 230, size=3)
        for ch in range(3):
            img[..., ch] = np.where(m, col[ch], img[..., ch])
        depth = np.where(m, 0.0, depth).astype(np.float32)  # questions stay on the ground
    img += rng.normal(0, 4, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), depth


def write_dataset(out: str | Path, split: str, n: int, seed: int, width: int = 128, height: int = 96,
                  focal: float = 100.0, n_q: int = 10, fixed_width: bool = True,
                  focal_range: tuple[float, float] | None = None, pitch_deg: tuple[float, float] = (2.0, 14.0)
                  ) -> Path:
    """Render `n` images and write `{out}/{split}.jsonl`; returns its path.

    With `focal_range`, each image emulates focal unification as the embedded default does it:
    an original camera of `width`x`height` px and focal drawn from `focal_range` resized so its
    focal becomes `focal` (size int(W*s) x int(H*s), s = focal / f_orig).
    """
    out = Path(out)
    (out / split).mkdir(parents=True, exist_ok=True)
    path = out / f"{split}.jsonl"
    with path.open("w") as f:
        for i in range(n):
            rng = rng_for(seed, "ground_plane", split, i)
            w, h = width, height
            if focal_range is not None:
                sc = focal / rng.uniform(*focal_range)
                w, h = max(int(width * sc), 16), max(int(height * sc), 12)
            img, depth = render(rng, w, h, focal, pitch_deg=pitch_deg)
            img_path = out / split / f"{i:05d}.png"
            Image.fromarray(img).save(img_path)
            vs, us = np.nonzero((depth > 0) & (depth < 40))
            pick = rng.choice(len(vs), size=min(n_q, len(vs)), replace=False)
            messages, targets = [], []
            for k, j in enumerate(pick):
                x, y, d = int(us[j]), int(vs[j]), float(depth[vs[j], us[j]])
                xn, yn = min(round(x / w * 2000), 1999), min(round(y / h * 2000), 1999)
                q = [{"type": "text", "text": QUESTION.format(x=xn, y=yn)}]
                if k == 0:
                    q = [{"type": "image"}] + q
                ans = f"{d:05.2f} meters" if fixed_width else f"{d:.2f} meters"
                messages += [{"role": "user", "content": q},
                             {"role": "assistant", "content": [{"type": "text", "text": ans}]}]
                targets.append({"kind": "depth", "value": round(d, 2), "pixel": [x, y]})
            rec = {"id": f"ground_plane/{split}/{i:05d}", "task": "depth", "dataset": "ground_plane",
                   "split": split, "images": [str(img_path)], "messages": messages,
                   "meta": {"targets": targets}}
            f.write(json.dumps(rec, sort_keys=True) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plain", action="store_true", help="plain answers (3.52) instead of fixed width (03.52)")
    ap.add_argument("--unified", action="store_true",
                    help="emulate the embedded default: 320x240 cameras, focal 300-1500 px unified to 128 px, "
                         "pitch 10-28 deg (an 'easy' camera looking at a target 3-6 m away)")
    a = ap.parse_args()
    kw = dict(width=320, height=240, focal=128.0, focal_range=(300.0, 1500.0), pitch_deg=(10.0, 28.0)) \
        if a.unified else {}
    write_dataset(a.out, "train", a.n_train, a.seed, fixed_width=not a.plain, **kw)
    write_dataset(a.out, "test", a.n_test, a.seed, fixed_width=not a.plain, **kw)


if __name__ == "__main__":
    main()
