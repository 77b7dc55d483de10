"""`python -m vlm3.index`: loader type and options from the registry / --option, typed parquet."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from vlm3.index import INDEX_SCHEMA, PAIR_SCHEMA, arrow_table, main, parse_option, resolve_loader

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "config" / "datasets.yaml"


def _raw(tmp: Path) -> Path:
    """DepthLM-curated fixture: two records in ibims1_val.jsonl (the registry's `jsonl` option) and a
    decoy val.jsonl (the loader's default file name) with one record."""
    raw = tmp / "raw"
    recs = [
        {"image": "rgb/corridor_01.png", "intrinsics": [100.0, 101.0, 20.0, 10.0, 40, 20],
         "pixel_coords": [[20, 10]], "depth": [2.0]},
        {"image": "rgb/kitchen_02.png", "intrinsics": [90.0, 90.0, 19.5, 9.5, 40, 20],
         "pixel_coords": [[3, 4], [5, 6]], "depth": [1.5, 3.0]},
    ]
    for r in recs:
        (raw / "rgb").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((20, 40, 3), np.uint8)).save(raw / r["image"])
    (raw / "ibims1_val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (raw / "val.jsonl").write_text(json.dumps(recs[0]) + "\n")
    return raw


def _run(tmp: Path, raw: Path, *extra: str) -> tuple[Path, Path]:
    out, pout = tmp / "idx" / "val.parquet", tmp / "idx" / "val_pairs.parquet"
    main(["--raw", str(raw), "--split", "val", "--out", str(out), "--pairs-out", str(pout), *extra])
    return out, pout


def test_registry_supplies_loader_and_options(tmp_path):
    raw = _raw(tmp_path)
    out, pout = _run(tmp_path, raw, "--registry", str(REGISTRY), "--dataset", "ibims1-depthlm")
    df = pd.read_parquet(out)
    # loader_options {jsonl: ibims1_val.jsonl, depth_kind: z}: both records, not the decoy's one
    assert list(df["image_id"]) == ["corridor_01", "kitchen_02"]
    assert list(df["depth_format"]) == ["depthlm_points:0:z", "depthlm_points:1:z"]
    assert list(df["scene_id"]) == ["corridor", "kitchen"]
    assert (df.loc[0, "fx"], df.loc[0, "fy"], df.loc[1, "cx"]) == (100.0, 101.0, 19.5)
    assert list(df["n_labels"]) == [1, 2]
    assert pq.read_table(pout).num_rows == 0


def test_option_overrides_registry_and_parses_yaml(tmp_path):
    raw = _raw(tmp_path)
    out, _ = _run(tmp_path, raw, "--registry", str(REGISTRY), "--dataset", "ibims1-depthlm",
                  "--option", "depth_kind=ray", "--option", "depth_max=12.5")
    df = pd.read_parquet(out)
    assert list(df["depth_kind"]) == ["ray", "ray"]
    assert list(df["depth_format"]) == ["depthlm_points:0:ray", "depthlm_points:1:ray"]
    assert df["depth_max"].tolist() == [12.5, 12.5]


def test_type_without_registry_uses_loader_defaults(tmp_path):
    raw = _raw(tmp_path)
    out, _ = _run(tmp_path, raw, "--type", "depthlm_jsonl")
    assert list(pd.read_parquet(out)["image_id"]) == ["corridor_01"]  # the default <split>.jsonl
    out, _ = _run(tmp_path, raw, "--type", "depthlm_jsonl", "--option", "jsonl=ibims1_val.jsonl")
    assert len(pd.read_parquet(out)) == 2


def test_all_empty_and_null_columns_are_typed(tmp_path):
    """No row has distortion, a pose or pairs: the file still carries the contract types."""
    raw = _raw(tmp_path)
    out, pout = _run(tmp_path, raw, "--registry", str(REGISTRY), "--dataset", "ibims1-depthlm")
    schema = pq.read_schema(out)
    assert schema.names[:18] == INDEX_SCHEMA.names
    for f in INDEX_SCHEMA:
        assert schema.field(f.name).type == f.type, f.name
    assert schema.field("dist_params").type == pa.list_(pa.float64())
    assert schema.field("cam_to_world").type == pa.list_(pa.float64())
    assert schema.field("n_labels").type == pa.int64()
    assert pq.read_schema(pout) == PAIR_SCHEMA
    t = pq.read_table(out)
    assert t.column("cam_to_world").null_count == 2
    assert t.column("dist_params").to_pylist() == [[], []]


def test_extra_all_null_columns_get_concrete_types():
    df = pd.DataFrame({"a": [None, None], "b": [[], []], "c": [[None], None], "d": [1.0, 2.0]})
    t = arrow_table(df, INDEX_SCHEMA, "fixture")
    assert t.schema.field("a").type == pa.string()
    assert t.schema.field("b").type == pa.list_(pa.float64())
    assert t.schema.field("c").type == pa.list_(pa.float64())
    assert t.schema.field("d").type == pa.float64()


def test_contract_column_that_does_not_fit_names_it():
    df = pd.DataFrame({"width": ["wide"]})
    with pytest.raises(ValueError, match=r"fixture: column 'width' does not convert to int32"):
        arrow_table(df, INDEX_SCHEMA, "fixture")


def test_bad_input_raises_and_writes_nothing(tmp_path):
    raw = _raw(tmp_path)
    with pytest.raises(ValueError, match=r"loader 'depthlm_jsonl' has no option\(s\) \['version'\]"):
        _run(tmp_path, raw, "--type", "depthlm_jsonl", "--option", "version=v1.0-mini")
    with pytest.raises(ValueError, match=r"--type 'nuscenes' disagrees with registry .*'depthlm_jsonl'"):
        _run(tmp_path, raw, "--type", "nuscenes", "--registry", str(REGISTRY), "--dataset", "ibims1-depthlm")
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'"):
        _run(tmp_path, raw, "--registry", str(REGISTRY), "--dataset", "nope")
    with pytest.raises(ValueError, match=r"'waymo' has no loader"):
        _run(tmp_path, raw, "--registry", str(REGISTRY), "--dataset", "waymo")
    with pytest.raises(ValueError, match=r"--registry and --dataset go together"):
        _run(tmp_path, raw, "--dataset", "ibims1-depthlm")
    with pytest.raises(ValueError, match=r"give --type or --registry"):
        _run(tmp_path, raw)
    with pytest.raises(ValueError, match=r"--option 'depth_kind': expected KEY=VALUE"):
        _run(tmp_path, raw, "--type", "depthlm_jsonl", "--option", "depth_kind")
    with pytest.raises(ValueError, match=r"depth_kind must be 'z' or 'ray'"):
        _run(tmp_path, raw, "--type", "depthlm_jsonl", "--option", "depth_kind=xyz")
    assert not (tmp_path / "idx").exists() or not any((tmp_path / "idx").iterdir())


def test_options_reach_a_registry_loader_with_kwargs_only():
    """ufm_pairs takes **opts: no signature check, options pass through untouched."""
    dtype, opts = resolve_loader(None, str(REGISTRY), "ufm-eth3d", ["min_covisibility=0.5"])
    assert dtype == "ufm_pairs" and opts == {"min_covisibility": 0.5}
    dtype, opts = resolve_loader(None, str(REGISTRY), "nuscenes", [])
    assert dtype == "nuscenes" and opts == {"version": "v1.0-mini"}
    _, opts = resolve_loader("nuscenes", str(REGISTRY), "nuscenes", ["version=v1.0-trainval"])
    assert opts == {"version": "v1.0-trainval"}


def test_parse_option_yaml_scalars():
    assert parse_option("n=10") == ("n", 10)
    assert parse_option("x=0.25") == ("x", 0.25)
    assert parse_option("lr=1e-05") == ("lr", 1e-05)  # YAML 1.1 alone would give the string '1e-05'
    assert parse_option("d=a: 1") == ("d", {"a": 1})
    assert parse_option("flag=false") == ("flag", False)
    assert parse_option("s=null") == ("s", None)
    assert parse_option("v=v1.0-mini") == ("v", "v1.0-mini")
    assert parse_option("scenes=[a, b]") == ("scenes", ["a", "b"])
    assert parse_option("eq=a=b") == ("eq", "a=b")
    with pytest.raises(ValueError, match="not a valid option name"):
        parse_option("bad key=1")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda kids: st.lists(kids, max_size=3), max_leaves=6)


@given(_JSON)
def test_option_round_trip_of_the_workflows_encoding(value):
    """rules/common.smk passes config loader options as `--option KEY=<json.dumps(value)>`."""
    assert parse_option(f"opt={json.dumps(value)}") == ("opt", value)


@given(st.lists(st.one_of(st.none(), st.lists(st.floats(allow_nan=False, width=64), max_size=4)),
                min_size=1, max_size=5))
def test_list_column_round_trip(values):
    """Any mix of null / empty / filled lists survives the parquet round trip as list<float64>."""
    import io

    df = pd.DataFrame({"cam_to_world": values})
    buf = io.BytesIO()
    pq.write_table(arrow_table(df, INDEX_SCHEMA, "prop"), buf)
    back = pq.read_table(io.BytesIO(buf.getvalue()))
    assert back.schema.field("cam_to_world").type == pa.list_(pa.float64())
    assert back.column("cam_to_world").to_pylist() == values


def test_byte_identical_rewrites(tmp_path):
    raw = _raw(tmp_path)
    out, _ = _run(tmp_path, raw, "--registry", str(REGISTRY), "--dataset", "ibims1-depthlm")
    first = out.read_bytes()
    out, _ = _run(tmp_path, raw, "--registry", str(REGISTRY), "--dataset", "ibims1-depthlm")
    assert out.read_bytes() == first
    assert not math.isnan(pd.read_parquet(out)["fx"][0])
    assert yaml.safe_load(REGISTRY.read_text())["datasets"]["ibims1-depthlm"]["loader"] == "depthlm_jsonl"


def test_index_rule_passes_registry_and_config_options(tmp_path):
    """The Snakemake index rule runs vlm3.index with the registry entry's loader + loader_options
    (jsonl: ibims1_val.jsonl) and the config's split_options (depth_kind: ray for split val)."""
    import subprocess
    import sys

    raw = _raw(tmp_path)
    wd = tmp_path / "wd"
    wd.mkdir()
    for p in ROOT.iterdir():
        if p.name not in {"results", "data", ".snakemake", ".git"}:
            (wd / p.name).symlink_to(p)
    cfg = {
        "seed": 0, "target_focal": 100,
        "datasets": {"ibims1-depthlm": {
            "type": "depthlm_jsonl", "source": "local", "raw": str(raw), "splits": ["val"],
            "registry": "config/datasets.yaml", "loader_options": {"depth_max": 2.5e-05},
            "split_options": {"val": {"depth_kind": "ray"}}}},
        "tasks": {}, "mixtures": {}, "benchmarks": {}, "base_model": {"hub": "unused/model"},
        "runs": {}, "models": {"median": {"kind": "baseline", "label": "constant"}}, "predict": {},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-c1", "--configfile",
         str(tmp_path / "cfg.yaml"), "--", "results/index/ibims1-depthlm/val.parquet"],
        cwd=wd, capture_output=True, text=True, timeout=120)
    log = wd / "results/logs/index/ibims1-depthlm_val.log"
    assert res.returncode == 0, (res.stdout + res.stderr)[-2000:] + (log.read_text() if log.exists() else "")
    df = pd.read_parquet(wd / "results/index/ibims1-depthlm/val.parquet")
    assert list(df["image_id"]) == ["corridor_01", "kitchen_02"]  # registry jsonl, not the decoy
    assert list(df["depth_format"]) == ["depthlm_points:0:ray", "depthlm_points:1:ray"]
    assert df["depth_max"].tolist() == [2.5e-05, 2.5e-05]  # json.dumps gives 2.5e-05: a float again
    assert pq.read_schema(wd / "results/index/ibims1-depthlm/val_pairs.parquet") == PAIR_SCHEMA
