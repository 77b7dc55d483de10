"""The package finds its data files beside its modules (no `parents[N]` into the repository), and
pyproject.toml ships every one of them, so an installed vlm3 works outside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

import vlm3
from vlm3 import config, download
from vlm3.train import launch

PKG = Path(vlm3.__file__).resolve().parent
ROOT = PKG.parents[1]


def test_data_paths_are_inside_the_package():
    for path in (config.SCHEMA, download.SCHEMA_PATH, launch.CONFIG_DIR / "fsdp_single_node.yaml",
                 launch.CONFIG_DIR / "fsdp_hybrid.yaml"):
        assert path.is_file(), path
        assert path.resolve().is_relative_to(PKG), path


def test_pyproject_ships_every_data_file():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["vlm3"]
    data = {p.relative_to(PKG) for p in PKG.rglob("*")
            if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts}
    assert data, "no data files found"
    unshipped = {str(p) for p in data if not any(p.match(g) for g in globs)}
    assert not unshipped, unshipped


def test_no_module_reaches_outside_the_package():
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in PKG.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if "parents[" in line]
    assert hits == []
