"""Stage `calibrate`: index parquet -> calib parquet where every row has intrinsics + `source`.

    python -m vlm3.calibrate --index results/index/D/S.parquet --out results/calib/D/S.parquet \
        --providers metadata,exif,vanishing --cache results/calib/D/cache --seed 0 [--fallback-fov 60]

Providers are tried in the given order for each image and the first that returns intrinsics
wins; its name goes into `source`. `--fallback-fov F` appends the `prior` provider (a horizontal
FOV of F degrees, source `prior`). A row no provider can calibrate is an error naming the image,
and nothing is written.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from vlm3.calibrate.base import Calibrator, get_calibrator
from vlm3.calibrate.cache import _MISS, CalibCache, file_sha256
from vlm3.datasets import validate_index
from vlm3.io.image import read_image
from vlm3.utils import atomic_path

log = logging.getLogger("vlm3.calibrate")


def build_providers(names: list[str], seed: int = 0, fallback_fov: float | None = None,
                    exif_convention: str = "width") -> list[Calibrator]:
    opts = {"vanishing": {"seed": seed}, "exif": {"convention": exif_convention}}
    if fallback_fov is not None:
        if not 0 < fallback_fov < 180:
            raise ValueError(f"--fallback-fov: must be in (0, 180) degrees, got {fallback_fov:g}")
        opts["prior"] = {"fov_deg": fallback_fov}
    provs = [get_calibrator(n, **opts.get(n, {})) for n in names]
    if fallback_fov is not None and "prior" not in names:
        provs.append(get_calibrator("prior", fov_deg=fallback_fov))
    if not provs:
        raise ValueError("--providers: no provider given")
    return provs


def calibrate_index(df: pd.DataFrame, providers: list[Calibrator], cache: CalibCache | None = None,
                    where: str = "index") -> pd.DataFrame:
    """Return a copy of `df` with fx, fy, cx, cy filled and a `source` column."""
    cache = cache or CalibCache(None)
    out = df.copy()
    fx, fy, cx, cy, src = [], [], [], [], []
    for row in tqdm(df.to_dict("records"), desc="calibrate", unit="img", mininterval=2.0):
        path = str(row["image_path"])
        image, digest, got, name = None, None, None, None
        for prov in providers:
            res = _MISS
            if prov.cacheable:
                if not Path(path).is_file():
                    raise ValueError(f"{where}: image {row['image_id']!r}: file not found: {path}")
                digest = digest or file_sha256(path)
                res = cache.get(prov.cache_key, path, digest)
            if res is _MISS:
                if prov.needs_image and image is None:
                    image = read_image(path)
                    if image.shape[:2] != (int(row["height"]), int(row["width"])):
                        raise ValueError(f"{where}: image {row['image_id']!r} ({path}) is "
                                         f"{image.shape[1]}x{image.shape[0]} but the index says "
                                         f"{row['width']}x{row['height']}")
                res = prov.estimate(image, row, path)
                if prov.cacheable:
                    cache.put(prov.cache_key, path, digest, res)
            if res is not None:
                got, name = res, prov.name
                break
        if got is None:
            raise ValueError(f"{where}: no calibration provider ({', '.join(p.name for p in providers)}) "
                             f"could calibrate image {row['image_id']!r} ({path}); add a provider or "
                             f"--fallback-fov")
        for col, value in zip((fx, fy, cx, cy, src), (got.fx, got.fy, got.cx, got.cy, name)):
            col.append(value)
    out["fx"] = np.array(fx, dtype=np.float64)
    out["fy"] = np.array(fy, dtype=np.float64)
    out["cx"] = np.array(cx, dtype=np.float64)
    out["cy"] = np.array(cy, dtype=np.float64)
    out["source"] = pd.Series(src, index=out.index, dtype=object)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vlm3.calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", required=True, help="index parquet (results/index/D/S.parquet)")
    p.add_argument("--out", required=True, help="output parquet (results/calib/D/S.parquet)")
    p.add_argument("--providers", default="metadata",
                   help="comma-separated, tried in order: metadata, exif, vanishing, geocalib, prior")
    p.add_argument("--cache", default=None, help="per-image cache folder (omit to disable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fallback-fov", type=float, default=None,
                   help="append a prior of this horizontal FOV in degrees (source 'prior')")
    p.add_argument("--exif-convention", choices=["width", "diagonal"], default="width",
                   help="35 mm-equivalent focal convention (see vlm3.calibrate.exif)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not Path(a.index).is_file():
        raise ValueError(f"--index {a.index}: file not found")
    df = validate_index(pd.read_parquet(a.index), a.index)
    names = [n.strip() for n in a.providers.split(",") if n.strip()]
    providers = build_providers(names, seed=a.seed, fallback_fov=a.fallback_fov,
                                exif_convention=a.exif_convention)
    cache = CalibCache(a.cache)
    out = calibrate_index(df, providers, cache, where=a.index)
    with atomic_path(a.out) as tmp:
        out.to_parquet(tmp, index=False)
    counts = out["source"].value_counts().sort_index().to_dict()
    log.info("%d images -> %s; sources %s; cache hits %d misses %d", len(out), a.out, counts,
             cache.hits, cache.misses)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.calibrate")
