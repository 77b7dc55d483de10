"""Generate one split of the synthetic 3D benchmark into a raw folder (layout: docs/synthetic.md).

    python -m vlm3.synthetic.generate --out data/raw/synthetic --split train --n-scenes 200 \
        --views 3 --seed 0 --difficulty easy --sizes 320x240,256x192 --focal-range 300,1500 \
        --withheld 0.25 --workers 2 [--params config.yaml]

Scene i of split s is drawn from `rng_for(seed, "synthetic", s, i)` alone, so splits never share
a scene, adding scenes never changes earlier ones, and `--workers` never changes the output. The
split folder is built in a temporary folder beside it and renamed into place when complete.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import multiprocessing as mp
import os
import shutil
from dataclasses import asdict, fields
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vlm3.geometry.covisibility import covisibility
from vlm3.staging import replace_dir, stage_dir
from vlm3.synthetic.raycast import render
from vlm3.synthetic.scene import (
    COMPASS_ABOUT,
    COMPASS_STYLE,
    Camera,
    Scene,
    SyntheticParams,
    sample_cameras,
    sample_scene,
    with_compass,
)
from vlm3.utils import load_mapping, rng_for

log = logging.getLogger("vlm3.synthetic.generate")

FORMAT = "vlm3-synthetic/1"
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1]  # fast; files are rewritten by the resize stage
# Keys accepted by --params besides the SyntheticParams fields.
RUN_KEYS = {"n_scenes", "seed"}


def scene_id(split: str, i: int) -> str:
    return f"{split}_{i:05d}"


def is_withheld(k: int, fraction: float, offset: float) -> bool:
    """Image number k (0-based, over the split) has its intrinsics withheld.

    Stratified rule: exactly floor(n * fraction + offset) of the first n images are withheld for
    every n (within one of n * fraction), so the fraction holds for any number of scenes.
    """
    return math.floor((k + 1) * fraction + offset) > math.floor(k * fraction + offset)


def _write_png(path: Path, img: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", img, PNG_PARAMS)
    if not ok:
        raise RuntimeError(f"PNG encoding failed for {path}")
    path.write_bytes(buf.tobytes())


def _floats(a) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def _objects_in_view(scene: Scene, cam: Camera, r, mask_rel: str) -> list[dict]:
    """Index-contract object records for objects visible (>= 1 pixel) in this view."""
    w2c = np.linalg.inv(cam.c2w)
    out = []
    for k, obj in enumerate(scene.objects, start=1):
        ys, xs = np.nonzero(r.instance == k)
        if xs.size == 0:
            continue
        corners = obj.corners_world() @ w2c[:3, :3].T + w2c[:3, 3]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = cam.fx * corners[:, 0] / corners[:, 2] + cam.cx
            v = cam.fy * corners[:, 1] / corners[:, 2] + cam.cy
        truncated = bool((corners[:, 2] <= 0).any() or (u < -0.5).any() or (u >= cam.width - 0.5).any()
                         or (v < -0.5).any() or (v >= cam.height - 0.5).any())
        hit = int(r.hit_px[k - 1])
        out.append({
            "instance_id": k, "name": obj.name, "color": obj.color, "category": obj.category,
            "box2d": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())],
            "center": _floats(w2c[:3, :3] @ np.asarray(obj.center) + w2c[:3, 3]),
            "center_world": _floats(obj.center), "size": _floats(obj.size), "yaw": float(obj.yaw),
            "rotation": _floats(w2c[:3, :3] @ obj.R_obj_to_world),
            "visible_px": int(xs.size), "hit_px": hit,
            "occlusion": float(1.0 - xs.size / hit) if hit else 0.0,
            "truncated": truncated, "mask_path": mask_rel,
        })
    return out


def render_scene(job: tuple) -> dict:
    """Sample, render and write scene `i`; return its meta.json records. Runs in a worker."""
    i, split, seed, params, folder, withheld_offset = job
    sid = scene_id(split, i)
    rng = rng_for(seed, "synthetic", split, i)
    scene = sample_scene(rng, sid, params)
    cams = sample_cameras(rng, scene, params)
    scene = with_compass(scene, cams, params)
    sdir = Path(folder) / "scenes" / sid
    sdir.mkdir(parents=True, exist_ok=True)
    images, renders = [], []
    for v, cam in enumerate(cams):
        r = render(scene, cam)
        renders.append(r)
        rel = f"scenes/{sid}"
        _write_png(sdir / f"{v}.png", r.rgb[:, :, ::-1])
        _write_png(sdir / f"{v}_mask.png", r.instance)
        np.save(sdir / f"{v}_depth.npy", r.depth)
        valid = r.depth[r.depth > 0]
        k = i * params.views + v
        intr = {"fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy}
        withheld = is_withheld(k, params.withheld, withheld_offset)
        images.append({
            "image_id": f"{sid}_v{v}", "scene_id": sid, "view": v,
            "image": f"{rel}/{v}.png", "depth": f"{rel}/{v}_depth.npy", "mask": f"{rel}/{v}_mask.png",
            "width": cam.width, "height": cam.height,
            "intrinsics": None if withheld else intr, "withheld": withheld,
            "_truth": intr,
            "cam_to_world": _floats(cam.c2w), "depth_kind": "z",
            "depth_min": float(valid.min()) if valid.size else 0.0,
            "depth_max": float(valid.max()) if valid.size else 0.0,
            "objects": _objects_in_view(scene, cam, r, f"{rel}/{v}_mask.png"),
        })
    pairs = []
    for a in range(len(cams)):
        for b in range(a + 1, len(cams)):
            ca, cb, ra, rb = cams[a], cams[b], renders[a], renders[b]
            pairs.append({
                "pair_id": f"{sid}_v{a}-v{b}", "image_id_1": f"{sid}_v{a}", "image_id_2": f"{sid}_v{b}",
                "covisibility": covisibility(ra.depth, ca.K, ca.c2w, rb.depth, cb.K, cb.c2w, params.cov_tol),
                "covisibility_21": covisibility(rb.depth, cb.K, cb.c2w, ra.depth, ca.K, ca.c2w, params.cov_tol),
            })
    room = scene.room
    record = {
        "scene_id": sid, "difficulty": params.difficulty,
        "room": {"half_x": room.half_x, "half_y": room.half_y, "height": room.height},
        "light_dir": _floats(scene.light_dir), "target": _floats(scene.target),
        "objects": [{"instance_id": k, "name": o.name, "color": o.color, "category": o.category,
                     "center_world": _floats(o.center), "size": _floats(o.size), "yaw": float(o.yaw)}
                    for k, o in enumerate(scene.objects, start=1)],
    }
    return {"scene": record, "images": images, "pairs": pairs}


def _dump_json(obj, path: Path) -> None:
    # Written inside the temporary split folder, which is renamed into place as a whole.
    path.write_text(json.dumps(obj, sort_keys=True, indent=1) + "\n")


def generate_split(out: str | os.PathLike, split: str, n_scenes: int, seed: int = 0,
                   params: SyntheticParams | None = None, workers: int = 1) -> Path:
    """Render `n_scenes` scenes into `out/split/` (replacing it atomically); return that folder."""
    params = params or SyntheticParams()
    if not split or "/" in split or split.startswith("."):
        raise ValueError(f"--split: bad split name {split!r}")
    if n_scenes < 1:
        raise ValueError(f"--n-scenes must be >= 1, got {n_scenes}")
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    final = out / split
    tmp = stage_dir(final)  # cleans what a killed run left; normal permissions (vlm3.staging)
    try:
        offset = float(rng_for(seed, "synthetic", split, "withheld").uniform())
        jobs = [(i, split, int(seed), params, str(tmp), offset) for i in range(n_scenes)]
        desc = f"synthetic {split}"
        if workers == 1:
            results = [render_scene(j) for j in tqdm(jobs, desc=desc, unit="scene")]
        else:
            with mp.get_context("fork").Pool(workers) as pool:
                results = list(tqdm(pool.imap(render_scene, jobs), total=len(jobs), desc=desc, unit="scene"))
        images = [im for r in results for im in r["images"]]
        truth = {im["image_id"]: im["_truth"] for im in images if im["withheld"]}
        for im in images:
            del im["_truth"]
        meta = {"format": FORMAT, "split": split, "seed": int(seed), "n_scenes": n_scenes,
                "params": asdict(params), "scenes": [r["scene"] for r in results], "images": images}
        _dump_json(meta, tmp / "meta.json")
        _dump_json([p for r in results for p in r["pairs"]], tmp / "pairs.json")
        _dump_json(truth, tmp / "intrinsics_withheld.json")
        replace_dir(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)
        raise
    log.info("%s: %d scenes, %d images (%d withheld) -> %s", split, n_scenes, len(images), len(truth), final)
    return final


def parse_sizes(value, where: str = "--sizes") -> tuple[tuple[int, int], ...]:
    """'320x240,256x192' or ['320x240', [256, 192]] -> ((320, 240), (256, 192))."""
    items = value.split(",") if isinstance(value, str) else list(value)
    sizes = []
    for it in items:
        try:
            w, h = (it.lower().split("x") if isinstance(it, str) else it)
            sizes.append((int(w), int(h)))
        except (ValueError, TypeError, AttributeError):
            raise ValueError(f"{where}: bad image size {it!r}; expected WIDTHxHEIGHT like 320x240") from None
    return tuple(sizes)


def parse_pair(value, where: str) -> tuple[float, float]:
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        lo, hi = (float(x) for x in items)
    except (ValueError, TypeError):
        raise ValueError(f"{where}: expected two numbers LO,HI, got {value!r}") from None
    return lo, hi


def build_params(overrides: dict, where: str) -> tuple[SyntheticParams, dict]:
    """SyntheticParams from a dict of overrides (+ the run keys n_scenes, seed)."""
    names = {f.name for f in fields(SyntheticParams)}
    unknown = set(overrides) - names - RUN_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown synthetic parameter(s) {sorted(unknown)}; "
                         f"known: {sorted(names | RUN_KEYS)}")
    kw = {k: v for k, v in overrides.items() if k in names}
    if "sizes" in kw:
        kw["sizes"] = parse_sizes(kw["sizes"], f"{where}: sizes")
    if "focal_range" in kw:
        kw["focal_range"] = parse_pair(kw["focal_range"], f"{where}: focal_range")
    if kw.get("fov_range") is not None:
        kw["fov_range"] = parse_pair(kw["fov_range"], f"{where}: fov_range")
    try:
        params = SyntheticParams(**kw)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
    return params, {k: v for k, v in overrides.items() if k in RUN_KEYS}


def load_params_file(path: str | os.PathLike) -> dict:
    return load_mapping(path, "--params")  # YAML is a superset of JSON


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="raw dataset folder (the split goes in OUT/SPLIT)")
    p.add_argument("--split", required=True, help="split name, e.g. train or test")
    p.add_argument("--params", help="YAML/JSON mapping of generator parameters (flags override it)")
    p.add_argument("--n-scenes", type=int, help="number of scenes (default 200)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--views", type=int, help="views per scene (default 3)")
    p.add_argument("--difficulty", choices=["easy", "hard"], help="default easy")
    p.add_argument("--sizes", help="image sizes WxH, comma-separated (default 640x480,512x384,320x240,256x192)")
    p.add_argument("--focal-range", help="focal length range LO,HI in px (default 300,1500)")
    p.add_argument("--fov-range", help="horizontal field of view range LO,HI in degrees; when given, "
                   "the focal length is drawn through it (scales with width) instead of --focal-range")
    p.add_argument("--withheld", type=float, help="fraction of images with intrinsics withheld (default 0.25)")
    p.add_argument("--pp-jitter", type=float, help="principal point jitter, fraction of size (default 0.03)")
    p.add_argument("--camera-height", type=float, help="camera height of 'easy' scenes, m (default 1.6)")
    p.add_argument("--cov-tol", type=float, help="covisibility relative depth tolerance (default 0.02)")
    p.add_argument("--spread-deg", type=float, help="views' azimuths within +- this of the scene's "
                   "(default: the difficulty's, easy 40, hard 60)")
    p.add_argument("--same-distance", action="store_true", default=None,
                   help="all views of a scene at one distance from the target (an orbit)")
    p.add_argument("--pivot-fraction", type=float, help="with --same-distance: views turn about a point this "
                   "fraction of the way to the target (1: orbit the target; small: pan on a short arm)")
    p.add_argument("--compass-deg", type=float, help="walls tinted by a hue wheel turning once per this many "
                   "degrees of azimuth about the look-at point (a visual compass; default: neutral walls)")
    p.add_argument("--compass-about", choices=COMPASS_ABOUT, help="target (default): the walls turn hue about "
                   "the look-at point; eye: floor, walls and ceiling about the first view's eye")
    p.add_argument("--compass-style", choices=COMPASS_STYLE, help="wheel (default): the hue turns once per "
                   "--compass-deg; ramp: blue to red, linear in azimuth over --compass-deg, centred on the first view")
    p.add_argument("--shared-camera", action="store_true", default=None,
                   help="all views of a scene taken by one camera (size, focal, principal point drawn once)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    over = load_params_file(a.params) if a.params else {}
    where = f"--params {a.params}" if a.params else "arguments"
    for key in ("n_scenes", "seed", "views", "difficulty", "sizes", "focal_range", "fov_range", "withheld",
                "pp_jitter", "camera_height", "cov_tol", "spread_deg", "same_distance", "pivot_fraction",
                "compass_deg", "compass_about", "compass_style", "shared_camera"):
        if getattr(a, key) is not None:
            over[key] = getattr(a, key)
    params, run = build_params(over, where)
    generate_split(a.out, a.split, int(run.get("n_scenes", 200)), int(run.get("seed", 0)), params, a.workers)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.synthetic.generate")
