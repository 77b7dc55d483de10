"""Issue 17 defect 10: staging a killed run left behind is cleaned by the stage's next run, and
output folders get the umask's permissions, not mkdtemp's 0700."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vlm3.staging import clean_stale, stage_dir, stage_file
from vlm3.synthetic.generate import generate_split
from vlm3.synthetic.scene import SyntheticParams

TINY = dict(views=2, sizes=((32, 24),), focal_range=(35.0, 90.0), withheld=0.0)


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stage_dir_and_file_modes(tmp_path, umask022):
    d = stage_dir(tmp_path / "out")
    f = stage_file(tmp_path / "x.json")
    assert d.stat().st_mode & 0o777 == 0o755 and f.stat().st_mode & 0o777 == 0o644
    assert d.name.startswith(".out.") and d.name.endswith(".tmp") and str(os.getpid()) in d.name


def test_clean_stale_keeps_live_and_foreign(tmp_path):
    live = stage_dir(tmp_path / "test")
    dead = tmp_path / f".test.{live.name.split('.')[2].rsplit('-', 1)[0]}-{_dead_pid()}.abcd1234.tmp"
    dead.mkdir()
    (dead / "a.png").write_bytes(b"x")
    other_host = tmp_path / ".test.otherhost-1.abcd1234.tmp"
    other_host.write_bytes(b"x")
    legacy = [tmp_path / ".test.k2j_x9q1.tmp", tmp_path / ".test.tmp-k2j_x9q1", tmp_path / ".test.old-4242"]
    for p in legacy:
        p.mkdir()
    keep = [tmp_path / ".test2.k2j_x9q1.tmp", tmp_path / "test", tmp_path / ".train.tmp-k2j_x9q1"]
    for p in keep:
        p.mkdir()
    removed = clean_stale(tmp_path / "test")
    assert sorted(removed) == sorted([dead, other_host, *legacy])
    assert live.is_dir() and all(p.exists() for p in keep)


def test_generate_cleans_stale_split_staging_and_uses_umask(tmp_path, umask022):
    """The issue's case: data/raw/.train.tmp-* (old layout) and a killed run's tagged staging."""
    (tmp_path / ".train.tmp-k2j_x9q1").mkdir()
    (tmp_path / ".train.tmp-k2j_x9q1" / "scene_0000_0.png").write_bytes(b"x")
    (tmp_path / f".train.host-{_dead_pid()}.abcd1234.tmp").mkdir()
    out = generate_split(tmp_path, "train", 1, seed=1, params=SyntheticParams(**TINY))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]
    assert out.stat().st_mode & 0o777 == 0o755
    generate_split(tmp_path, "train", 1, seed=2, params=SyntheticParams(**TINY))  # replace in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]


def test_resize_cleans_stale_staging_and_uses_umask(tmp_path, umask022):
    """The issue's case: results/resized/{d}/.test.*.tmp left by a SIGKILL."""
    import pandas as pd

    from vlm3.index import main as index_main
    from vlm3.resize import main as resize_main

    generate_split(tmp_path / "raw", "test", 1, seed=1, params=SyntheticParams(**TINY))
    index_main(["--type", "synthetic", "--raw", str(tmp_path / "raw"), "--split", "test",
                "--out", str(tmp_path / "index.parquet"), "--pairs-out", str(tmp_path / "pairs.parquet")])
    df = pd.read_parquet(tmp_path / "index.parquet")
    df["source"] = "metadata"
    df.to_parquet(tmp_path / "calib.parquet", index=False)
    res = tmp_path / "resized"
    res.mkdir()
    (res / ".test.k2j_x9q1.tmp").mkdir()
    (res / ".test.k2j_x9q1.tmp" / "a.png").write_bytes(b"x" * 100)
    resize_main(["--calib", str(tmp_path / "calib.parquet"), "--out", str(res / "test"), "--target-focal", "40"])
    assert sorted(p.name for p in res.iterdir()) == ["test"]
    assert (res / "test").stat().st_mode & 0o777 == 0o755
