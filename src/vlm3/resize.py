"""Stage `resize`: undistort and rescale every image so fx = fy = target focal (VLM3 ingredient 1).

    python -m vlm3.resize --calib results/calib/D/S.parquet --pairs results/index/D/S_pairs.parquet \
        --out results/resized/D/S --target-focal 1000 --workers 2

Per image (geometry in `vlm3.geometry.focal`): read RGB and depth, `unify_focal` (undistorts when
dist_model != none; fixes fx != fy), and write into the output folder
- `images/{image_id}.png` (RGB),
- `depth/{image_id}.npy` (float32 metres, 0 invalid, the same `depth_kind` as the input). Dense
  depth follows the image by nearest-valid sampling; sparse depth (`points_npy`, camera-frame
  points) is re-projected with the new K (`sparse_depth_map`), never resampled;
- `masks/{image_id}.png` for object masks (instance-id or binary maps): nearest-neighbour
  resampling through the same pixel mapping, values and dtype kept (a second distinct mask of the
  same image becomes `masks/{image_id}_1.png`, ...);
- `index.parquet`: the index schema with paths into this folder, fx = fy = target, the new
  principal point and size, dist_model `none`, `source` kept, every other column kept, a new
  `scale` column = target / original fx, and each object's `box2d` moved with the same mapping
  (corners, plus 16 border samples per edge when undistorting), clipped to [0, W-1] x [0, H-1]
  (box2d values are pixel-centre coordinates, as `int(xs.min())` ... in the synthetic data).
- `pairs.parquet`: byte copy of --pairs (after checking its image ids exist).
`--target-focal none` keeps each camera's own focal (the focal-unification ablation): the target of
a row is its own fx, so the image is only undistorted (no rescaling, `scale` = 1); with fx != fy
the vertical axis is resampled so fy = fx (square pixels: the width and fx are kept).
The folder is built under a temporary name beside --out and renamed at the end, so a failure
leaves nothing behind. Output bytes do not depend on --workers (results are gathered in index
order; PNG and .npy encoding are deterministic). Rows of one camera (same K, size, distortion) are
processed consecutively so `unify_focal`'s per-camera cache of plans and maps is reused.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing as mp
import shutil
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from vlm3.datasets import PAIR_COLUMNS, validate_index
from vlm3.geometry import make_K, plan_unify_focal, source_to_unified, sparse_depth_map, unify_focal
from vlm3.geometry.focal import unified_to_source
from vlm3.io.depth import is_sparse, read_depth
from vlm3.io.image import encode_png, read_image
from vlm3.staging import replace_dir, stage_dir

log = logging.getLogger("vlm3.resize")
_EDGE_SAMPLES = 16


def _safe_rel(image_id: str) -> str:
    """image_id as a relative file stem; refuse ids that would escape the folder."""
    p = PurePosixPath(str(image_id))
    if not str(image_id) or p.is_absolute() or any(part in ("", ".", "..") for part in p.parts) or "\\" in str(image_id):
        raise ValueError(f"image_id {image_id!r} cannot be used as a file name")
    return str(p)


def _dist(row: dict):
    model = row.get("dist_model") or "none"
    params = row.get("dist_params")
    params = [] if params is None else [float(x) for x in params]
    return None if model == "none" else (model, params)


def _move_box(box, plan, w_new: int, h_new: int) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    if plan.dist is None:
        pts = np.array([[x1, y1], [x2, y2]])
    else:  # the border of a box is curved after undistortion: sample it
        t = np.linspace(0.0, 1.0, _EDGE_SAMPLES)
        xs, ys = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
        pts = np.concatenate([np.stack([xs, np.full_like(xs, y1)], 1), np.stack([xs, np.full_like(xs, y2)], 1),
                              np.stack([np.full_like(ys, x1), ys], 1), np.stack([np.full_like(ys, x2), ys], 1)])
    q = source_to_unified(pts, plan)
    q = q[np.isfinite(q).all(axis=1)]
    if len(q) == 0:
        raise ValueError(f"box {list(box)} cannot be mapped through the undistortion")
    lo, hi = q.min(axis=0), q.max(axis=0)
    lo = np.clip(lo, 0, [w_new - 1, h_new - 1])
    hi = np.clip(hi, 0, [w_new - 1, h_new - 1])
    return [round(float(v), 3) for v in (lo[0], lo[1], hi[0], hi[1])]


def _resample_nearest(arr: np.ndarray, plan) -> np.ndarray:
    """Nearest-neighbour resampling of a label map through the unify_focal pixel mapping."""
    if plan.dist is None:
        fx = (np.arange(plan.width_new) + 0.5) / plan.sx - 0.5
        fy = (np.arange(plan.height_new) + 0.5) / plan.sy - 0.5
        ix = np.clip(np.floor(fx + 0.5).astype(np.int64), 0, arr.shape[1] - 1)
        iy = np.clip(np.floor(fy + 0.5).astype(np.int64), 0, arr.shape[0] - 1)
        return arr[iy[:, None], ix[None, :]]
    u, v = np.meshgrid(np.arange(plan.width_new, dtype=np.float64), np.arange(plan.height_new, dtype=np.float64))
    src = unified_to_source(np.stack([u.ravel(), v.ravel()], 1), plan)
    with np.errstate(invalid="ignore"):
        ix = np.floor(src[:, 0] + 0.5)
        iy = np.floor(src[:, 1] + 0.5)
    inside = np.isfinite(ix) & np.isfinite(iy) & (ix >= 0) & (ix < arr.shape[1]) & (iy >= 0) & (iy < arr.shape[0])
    out = np.zeros(plan.height_new * plan.width_new, arr.dtype)
    out[inside] = arr[iy[inside].astype(np.int64), ix[inside].astype(np.int64)]
    return out.reshape(plan.height_new, plan.width_new)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_bytes(data)
    except OSError as e:
        if e.filename is None:  # write(2) errors (a full disk) carry no file name
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def _npy_bytes(a: np.ndarray) -> bytes:
    import io
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def process_row(row: dict, target: float | None, tmp: Path, out: Path) -> dict:
    """Resize one image (+ depth, masks) into `tmp`; return its new index row (paths under `out`).
    target None: the row's own fx (undistort only, see the module doc)."""
    if target is None:
        target = float(row["fx"])
    iid = str(row["image_id"])
    where = f"image {iid!r}"
    stem = _safe_rel(iid)
    W, H = int(row["width"]), int(row["height"])
    K = make_K(row["fx"], row["fy"], row["cx"], row["cy"])
    dist = _dist(row)
    img = read_image(row["image_path"])
    if img.shape[:2] != (H, W):
        raise ValueError(f"{where}: {row['image_path']} is {img.shape[1]}x{img.shape[0]} but the index says {W}x{H}")
    dense, points = None, None
    fmt = row.get("depth_format")
    if row.get("depth_path") is not None and not pd.isna(row.get("depth_path")):
        if fmt is None or pd.isna(fmt):
            raise ValueError(f"{where}: depth_path given without depth_format")
        if row.get("depth_kind") not in ("z", "ray"):
            raise ValueError(f"{where}: depth_kind must be 'z' or 'ray', got {row.get('depth_kind')!r}")
        if is_sparse(fmt):
            points = read_depth(row["depth_path"], fmt)
        else:
            # uncleaned: unify_focal tests validity on the pixels it gathers (0 out for invalid)
            dense = read_depth(row["depth_path"], fmt, shape=(H, W), clean=False)
    try:
        plan = plan_unify_focal(K, W, H, target, dist)
        new_img, K_new, new_depth = unify_focal(img, K, target, dist, dense)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    h_new, w_new = new_img.shape[:2]
    if points is not None:
        new_depth = sparse_depth_map(points, K_new, w_new, h_new, kind=row["depth_kind"])
    res = dict(row)
    img_rel = Path("images") / f"{stem}.png"
    _write(tmp / img_rel, encode_png(new_img))
    res["image_path"] = str(out / img_rel)
    if new_depth is not None:
        d_rel = Path("depth") / f"{stem}.npy"
        _write(tmp / d_rel, _npy_bytes(new_depth))
        res["depth_path"], res["depth_format"] = str(out / d_rel), "npy"
    else:
        res["depth_path"] = res["depth_format"] = None
    res.update(width=w_new, height=h_new, fx=float(K_new[0, 0]), fy=float(K_new[1, 1]),
               cx=float(K_new[0, 2]), cy=float(K_new[1, 2]), dist_model="none", dist_params=[],
               scale=target / float(row["fx"]))
    objects = json.loads(row["objects"]) if row.get("objects") else []
    masks: dict[str, str] = {}
    for o in objects:
        if o.get("box2d") is not None:
            o["box2d"] = _move_box(o["box2d"], plan, w_new, h_new)
        mp_ = o.get("mask_path")
        if mp_:
            if mp_ not in masks:
                m = cv2.imread(str(mp_), cv2.IMREAD_UNCHANGED)
                if m is None:
                    raise ValueError(f"{where}: mask {mp_} is missing or unreadable")
                if m.shape[:2] != (H, W):
                    raise ValueError(f"{where}: mask {mp_} is {m.shape[1]}x{m.shape[0]}, image is {W}x{H}")
                rel = Path("masks") / (f"{stem}.png" if not masks else f"{stem}_{len(masks)}.png")
                ok, buf = cv2.imencode(".png", _resample_nearest(m, plan), [cv2.IMWRITE_PNG_COMPRESSION, 3])
                if not ok:
                    raise ValueError(f"{where}: could not encode mask {mp_}")
                _write(tmp / rel, buf.tobytes())
                masks[mp_] = str(out / rel)
            o["mask_path"] = masks[mp_]
    res["objects"] = json.dumps(objects, sort_keys=True)
    return res


def _camera_sort_key(row: dict) -> tuple:
    """Rows with equal intrinsics, size and distortion share unify_focal's cached maps."""
    params = row.get("dist_params")
    return (float(row["fx"]), float(row["fy"]), float(row["cx"]), float(row["cy"]), int(row["width"]),
            int(row["height"]), str(row.get("dist_model") or "none"),
            tuple(float(x) for x in (params if params is not None else [])))


def _job(args):
    return process_row(*args)


def _init_worker():
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe


def resize_index(df: pd.DataFrame, out: Path, tmp: Path, target: float | None, workers: int = 1) -> pd.DataFrame:
    rows = df.to_dict("records")
    # rows of one camera are processed together (consecutively, in the same worker chunk), so
    # unify_focal's per-camera cache of plans and maps is hit; results go back to index order
    order = sorted(range(len(rows)), key=lambda i: (_camera_sort_key(rows[i]), i))
    jobs = [(rows[i], target, tmp, out) for i in order]
    if workers > 1 and len(rows) > 1:
        ctx = mp.get_context("spawn")  # no fork of a parent holding threads/locks
        chunk = max(1, min(16, len(jobs) // (4 * workers)))
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            done = list(tqdm(pool.imap(_job, jobs, chunksize=chunk), total=len(jobs), desc="resize",
                             unit="img", mininterval=2.0))
    else:
        done = [process_row(*j) for j in tqdm(jobs, desc="resize", unit="img", mininterval=2.0)]
    res = [None] * len(rows)
    for i, r in zip(order, done):
        res[i] = r
    new = pd.DataFrame(res, columns=list(df.columns) + (["scale"] if "scale" not in df.columns else []))
    new["width"] = new["width"].astype("int32")
    new["height"] = new["height"].astype("int32")
    for c in ("fx", "fy", "cx", "cy", "scale", "depth_min", "depth_max"):
        new[c] = new[c].astype("float64")
    return new


@contextlib.contextmanager
def _staging_dir(out: Path):
    """A temporary folder beside `out`, renamed to `out` when the block succeeds."""
    tmp = stage_dir(out)  # cleans what a killed run left (vlm3.staging)
    try:
        yield tmp
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# The largest resized image the stage makes (pixels): 2^28 is 16384 x 16384, 0.8 GB as RGB uint8. A
# target focal that asks for more is a typo (the config schema caps target_focal at 20000 px).
MAX_PIXELS = 1 << 28


def check_sizes(df: pd.DataFrame, target: float | None, where: str) -> None:
    """ValueError naming the image when the resized size (W * target / fx, H * target / fy, before
    undistortion's small change) would exceed MAX_PIXELS."""
    if target is None:
        return
    w = df["width"].to_numpy(float) * target / df["fx"].to_numpy(float)
    h = df["height"].to_numpy(float) * target / df["fy"].to_numpy(float)
    big = np.flatnonzero(w * h > MAX_PIXELS)
    if len(big):
        i = big[0]
        raise ValueError(f"{where}: image {df['image_id'].iloc[i]!r} would be {w[i]:.0f}x{h[i]:.0f} px at "
                         f"--target-focal {target:g} (fx {df['fx'].iloc[i]:g}): more than {MAX_PIXELS} pixels")


def _target(text: str) -> float | None:
    """--target-focal: a number of px, or `none` (keep each camera's own focal)."""
    return None if text.strip().lower() == "none" else float(text)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vlm3.resize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calib", required=True, help="calibrated index (results/calib/D/S.parquet)")
    p.add_argument("--pairs", default=None, help="pairs parquet to copy as pairs.parquet")
    p.add_argument("--out", required=True, help="output folder (results/resized/D/S)")
    p.add_argument("--target-focal", type=_target, default=1000.0,
                   help="fx = fy after resizing, px; `none` keeps each camera's own fx (undistort only)")
    p.add_argument("--workers", type=int, default=1, help="processes (output does not depend on it)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not Path(a.calib).is_file():
        raise ValueError(f"--calib {a.calib}: file not found")
    if a.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {a.workers}")
    if a.target_focal is not None and (not np.isfinite(a.target_focal) or a.target_focal <= 0):
        raise ValueError(f"--target-focal must be > 0 or none, got {a.target_focal}")
    df = validate_index(pd.read_parquet(a.calib), a.calib)
    if "source" not in df.columns:
        raise ValueError(f"--calib {a.calib}: no 'source' column (run python -m vlm3.calibrate first)")
    bad = df[~np.isfinite(df[["fx", "fy", "cx", "cy"]].to_numpy(dtype=float)).all(axis=1)]
    if len(bad):
        raise ValueError(f"--calib {a.calib}: image {bad['image_id'].iloc[0]!r} has no intrinsics")
    check_sizes(df, a.target_focal, f"--calib {a.calib}")
    pairs_ids = None
    if a.pairs:
        if not Path(a.pairs).is_file():
            raise ValueError(f"--pairs {a.pairs}: file not found")
        pairs = pd.read_parquet(a.pairs)
        missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
        if missing:
            raise ValueError(f"--pairs {a.pairs}: lacks columns {missing}")
        unknown = (set(pairs["image_id_1"]) | set(pairs["image_id_2"])) - set(df["image_id"])
        if unknown:
            raise ValueError(f"--pairs {a.pairs}: names images not in {a.calib}: {sorted(unknown)[:3]}")
        pairs_ids = len(pairs)
    out = Path(a.out)
    with _staging_dir(out) as tmp:
        new = resize_index(df, out, tmp, a.target_focal, a.workers)
        new.to_parquet(tmp / "index.parquet", index=False)
        if a.pairs:
            shutil.copyfile(a.pairs, tmp / "pairs.parquet")
    log.info("%d images -> %s (target focal %s)%s", len(new), out,
             "native" if a.target_focal is None else f"{a.target_focal:g} px",
             f", {pairs_ids} pairs" if pairs_ids is not None else "")


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.resize")
