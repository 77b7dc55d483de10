"""config/datasets.yaml validates against its schema and covers what the paper evaluates on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vlm3.download import load_registry

ROOT = Path(__file__).resolve().parents[2]
REG = ROOT / "config" / "datasets.yaml"


@pytest.fixture(scope="module")
def reg():
    return load_registry(REG)


def test_eval_sets_present(reg):
    ds = reg["datasets"]
    depth = {n for n, e in ds.items() if "depth" in e["role"]["eval"]}
    assert {"argoverse2", "ddad", "nuscenes", "eth3d", "scannetpp", "sunrgbd", "ibims1", "nyuv2"} <= depth
    assert "spatialrgpt-bench" in {n for n, e in ds.items() if "object" in e["role"]["eval"]}
    corr = {n for n, e in ds.items() if "correspondence" in e["role"]["eval"]}
    assert {"ufm-eth3d", "ufm-dtu", "ufm-tawb"} <= corr
    assert {"eth3d-wai", "scannetpp-wai"} <= {n for n, e in ds.items() if "pose" in e["role"]["eval"]}


def test_paper_mixture_weights(reg):
    w = {n: e["mixture"]["weight"] for n, e in reg["datasets"].items()
         if e.get("mixture", {}).get("task") == "depth"}
    assert w == {"argoverse2": 0.21, "waymo": 0.04, "nuscenes": 0.01, "scannetpp": 0.01,
                 "taskonomy": 0.51, "hm3d": 0.78, "matterport3d": 0.006, "streetview-internal": 1.0}


def test_depth_kinds_explicit(reg):
    ds = reg["datasets"]
    for n in ("nuscenes", "eth3d", "sunrgbd", "ibims1", "nyuv2", "ddad", "argoverse2", "scannetpp"):
        assert ds[n]["depth_kind"] in ("z", "ray"), n
    assert ds["nuscenes"]["depth_range"] == [1.0, 80.0]


def test_unpinned_files_carry_the_note(reg):
    for n, e in reg["datasets"].items():
        for f in e["files"]:
            if f["sha256"] is None:
                assert "pin at first download" in f["note"], (n, f["name"])


def test_schema_rejects_bad_entries(tmp_path):
    data = yaml.safe_load(REG.read_text())
    data["datasets"]["ibims1"]["files"][0]["sha256"] = "xyz"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=r"bad.yaml: at datasets/ibims1/files/0/sha256"):
        load_registry(bad)
    data = yaml.safe_load(REG.read_text())
    del data["datasets"]["eth3d"]["files"][0]["note"]
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="note"):
        load_registry(bad)
    with pytest.raises(ValueError, match=r"registry .*absent.yaml: no such file"):
        load_registry(tmp_path / "absent.yaml")


def test_loader_types_are_registered(reg):
    from vlm3.datasets import get_loader

    for e in reg["datasets"].values():
        if e["loader"]:
            get_loader(e["loader"])  # raises ValueError for an unknown type
