"""Stage `index`: raw dataset folder -> results/index/{dataset}/{split}.parquet (+ _pairs).

    python -m vlm3.index --raw data/raw/nuscenes --split mini --out results/index/nuscenes/mini.parquet \
        --pairs-out results/index/nuscenes/mini_pairs.parquet \
        --registry config/datasets.yaml --dataset nuscenes [--option version=v1.0-trainval ...]

The loader type comes from `--type` or from the registry entry `--dataset` (`loader`); both given
must agree. The registry's `depth_range` narrows every depth row's [depth_min, depth_max] (QA makes
depth outside it invalid). Loader keyword options: the registry entry's `loader_options`, then each
`--option KEY=VALUE` (repeatable, later wins; VALUE parsed as JSON, else as YAML: `10` -> int,
`1e-05` -> float, `null` -> None, `v1.0-mini` -> str, `[a, b]` -> list).

Parquet files are written with an explicit Arrow schema for the contract columns
(docs/CONTRACTS.md), so an index whose `dist_params` are all empty or whose `depth_path`s are all
null still reads back as list<float64> / string, never list<null> / null.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from vlm3.datasets import INDEX_COLUMNS, PAIR_COLUMNS, get_loader, load_index
from vlm3.utils import atomic_path

log = logging.getLogger("vlm3.index")

_F64_LIST = pa.list_(pa.float64())
INDEX_SCHEMA = pa.schema([
    ("image_id", pa.string()), ("scene_id", pa.string()), ("image_path", pa.string()),
    ("width", pa.int32()), ("height", pa.int32()),
    ("fx", pa.float64()), ("fy", pa.float64()), ("cx", pa.float64()), ("cy", pa.float64()),
    ("dist_model", pa.string()), ("dist_params", _F64_LIST),
    ("depth_path", pa.string()), ("depth_format", pa.string()), ("depth_kind", pa.string()),
    ("depth_min", pa.float64()), ("depth_max", pa.float64()),
    ("cam_to_world", _F64_LIST), ("objects", pa.string()),
])
PAIR_SCHEMA = pa.schema([("pair_id", pa.string()), ("image_id_1", pa.string()),
                         ("image_id_2", pa.string()), ("covisibility", pa.float64())])
assert INDEX_SCHEMA.names == INDEX_COLUMNS and PAIR_SCHEMA.names == PAIR_COLUMNS
PAIR_DTYPES = {"pair_id": "str", "image_id_1": "str", "image_id_2": "str", "covisibility": "float64"}


def _untyped(t: pa.DataType) -> pa.DataType:
    """Concrete type for an inferred all-null type: null -> string, list<null> -> list<float64>."""
    if pa.types.is_null(t):
        return pa.string()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        v = t.value_type
        return pa.list_(pa.float64() if pa.types.is_null(v) else _untyped(v))
    return t


def arrow_table(df: pd.DataFrame, contract: pa.Schema, where: str) -> pa.Table:
    """DataFrame -> Arrow table: contract columns get their fixed types (cast, ValueError naming the
    column when a value does not fit); extra columns keep their inferred type, except that an
    all-null inference becomes string (or list<float64> for lists of nulls)."""
    fields = []
    for c in df.columns:
        if c in contract.names:
            fields.append(contract.field(c))
        else:
            inferred = pa.array(df[c], from_pandas=True).type
            fields.append(pa.field(c, _untyped(inferred)))
    columns = []
    for f in fields:
        try:
            columns.append(pa.array(df[f.name], type=f.type, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
            raise ValueError(f"{where}: column {f.name!r} does not convert to {f.type} ({e})") from None
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def parse_option(spec: str) -> tuple[str, object]:
    """"KEY=VALUE" -> (KEY, VALUE parsed as JSON, else as YAML); ValueError naming --option when
    malformed. JSON first: PyYAML (YAML 1.1) reads `1e-05` as a string, JSON as the float the
    workflow's json.dumps wrote (rules/common.smk index_flags); YAML covers `v1.0-mini`, `[a, b]`."""
    key, sep, value = spec.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--option {spec!r}: expected KEY=VALUE")
    if not key.isidentifier():
        raise ValueError(f"--option {spec!r}: {key!r} is not a valid option name")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        pass
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as e:
        raise ValueError(f"--option {spec!r}: value is not valid YAML ({e})") from None


def resolve_loader(dtype: str | None, registry: str | None, dataset: str | None,
                   options: list[str] | None = None) -> tuple[str, dict]:
    """(loader type, keyword options) from --type / --registry + --dataset / --option."""
    if (registry is None) != (dataset is None):
        raise ValueError("--registry and --dataset go together")
    opts: dict = {}
    if registry is not None:
        from vlm3.download import get_entry, load_registry

        entry = get_entry(load_registry(registry), dataset, where=f"registry {registry}")
        loader = entry.get("loader")
        if loader is None:
            raise ValueError(f"registry {registry}: dataset {dataset!r} has no loader (loader: null)")
        if dtype is not None and dtype != loader:
            raise ValueError(f"--type {dtype!r} disagrees with registry {registry}: "
                             f"dataset {dataset!r} uses loader {loader!r}")
        dtype = loader
        opts.update(entry.get("loader_options") or {})
    if dtype is None:
        raise ValueError("give --type or --registry with --dataset")
    for spec in options or []:
        k, v = parse_option(spec)
        opts[k] = v
    fn = get_loader(dtype)
    params = inspect.signature(fn).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        accepted = [n for n, p in list(params.items())[2:]
                    if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
        unknown = sorted(set(opts) - set(accepted))
        if unknown:
            raise ValueError(f"loader {dtype!r} has no option(s) {unknown}; "
                             f"its options: {', '.join(accepted) or 'none'}")
    return dtype, opts


def registry_depth_range(registry: str | None, dataset: str | None) -> tuple[float, float] | None:
    """The registry entry's `depth_range` [min, max] metres, or None (no registry, or none given)."""
    if registry is None or dataset is None:
        return None
    from vlm3.download import get_entry, load_registry

    rng = get_entry(load_registry(registry), dataset, where=f"registry {registry}").get("depth_range")
    return None if rng is None else (float(rng[0]), float(rng[1]))


def apply_depth_range(images: pd.DataFrame, rng: tuple[float, float] | None, where: str) -> pd.DataFrame:
    """Narrow each depth row's [depth_min, depth_max] to the registry range (a NaN bound takes it).

    The QA stage turns depth outside the row's range into invalid pixels, so the registry range
    (nuScenes [1, 80], ...) is enforced even when a loader option widens the loader's own."""
    if rng is None or images.empty:
        return images
    lo, hi = rng
    has = images["depth_path"].notna().to_numpy()
    dmin = images["depth_min"].to_numpy(dtype=np.float64)
    dmax = images["depth_max"].to_numpy(dtype=np.float64)
    new_min = np.where(has, np.fmax(dmin, lo), dmin)
    new_max = np.where(has, np.fmin(dmax, hi), dmax)
    bad = np.flatnonzero(has & ~(new_min <= new_max))
    if bad.size:
        r = images.iloc[bad[0]]
        raise ValueError(f"{where}: image {r['image_id']!r}: depth range [{r['depth_min']}, {r['depth_max']}] "
                         f"does not meet the registry's depth_range [{lo}, {hi}]")
    changed = int(np.count_nonzero(has & ((new_min != dmin) | (new_max != dmax))))
    if changed:
        log.info("%s: %d rows' depth range narrowed to the registry's depth_range [%g, %g]", where, changed, lo, hi)
    out = images.copy()
    out["depth_min"], out["depth_max"] = new_min, new_max
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vlm3.index", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--type", help="dataset type (a registered loader); default: the registry's loader")
    p.add_argument("--registry", help="dataset registry YAML (config/datasets.yaml); needs --dataset")
    p.add_argument("--dataset", help="registry entry: its loader and loader_options are used")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="loader keyword option (repeatable; overrides the registry's; value: JSON, else YAML)")
    p.add_argument("--raw", required=True, help="raw dataset folder")
    p.add_argument("--split", required=True)
    p.add_argument("--out", required=True, help="output parquet")
    p.add_argument("--pairs-out", required=True,
                   help="output pairs parquet (written with zero rows for datasets without pairs)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    dtype, opts = resolve_loader(a.type, a.registry, a.dataset, a.option)
    log.info("loader %s, options %s", dtype, opts)
    images, pairs = load_index(dtype, a.raw, a.split, **opts)
    if pairs is None:
        pairs = pd.DataFrame({c: pd.Series(dtype=t) for c, t in PAIR_DTYPES.items()})
    where = f"{dtype} index of {a.raw} ({a.split})"
    images = apply_depth_range(images, registry_depth_range(a.registry, a.dataset), where)
    # Both tables are converted before either file is written: a bad column leaves no output.
    img_table = arrow_table(images.reset_index(drop=True), INDEX_SCHEMA, where)
    pair_table = arrow_table(pairs.reset_index(drop=True), PAIR_SCHEMA, where + " pairs")
    with atomic_path(a.out) as tmp:
        pq.write_table(img_table, tmp)
    log.info("%s: %d images -> %s", dtype, len(images), a.out)
    with atomic_path(a.pairs_out) as tmp:
        pq.write_table(pair_table, tmp)
    log.info("%d pairs -> %s", len(pairs), a.pairs_out)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.index")
