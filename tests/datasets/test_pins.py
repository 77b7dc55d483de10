"""Pin at first download (vlm3.pins through vlm3.download), against file:// URLs in tmp_path."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from pathlib import Path

import pytest
import yaml

from vlm3 import download as dl
from vlm3 import pins

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = bytes(range(256)) * 300
SHA = hashlib.sha256(PAYLOAD).hexdigest()
OTHER = hashlib.sha256(b"other").hexdigest()


def _setup(tmp_path: Path, sha: str | None = None, payload: bytes = PAYLOAD) -> tuple[Path, Path]:
    src = tmp_path / "pub" / "data.bin"
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(payload)
    entry = {"title": "t", "homepage": "https://example.org", "licence": "CC0-1.0", "terms": "none",
             "access": "public", "role": {"eval": ["depth"], "train": []}, "loader": "x",
             "files": [{"name": "data.bin", "urls": [src.as_uri()], "sha256": sha,
                        "note": "pin at first download"}]}
    reg = tmp_path / "reg.yaml"
    reg.write_text(yaml.safe_dump({"version": 1, "datasets": {"toy": entry, "toy2": entry}}))
    return reg, tmp_path / "reg.lock.yaml"


def test_first_download_records_then_verifies(tmp_path, capsys):
    reg, lock = _setup(tmp_path)
    out = tmp_path / "raw"
    assert dl.download_dataset("toy", reg, out) == {"data.bin": SHA}
    assert lock.read_text() == pins.HEADER + f"version: 1\ndatasets:\n  toy:\n    data.bin: {SHA}\n"
    assert f"toy: data.bin sha256 {SHA} (pinned at first download in {lock}" in capsys.readouterr().out
    before = lock.stat().st_mtime_ns
    assert dl.download_dataset("toy", reg, out) == {"data.bin": SHA}  # present: verified against the pin
    assert lock.stat().st_mtime_ns == before  # nothing to record
    (out / "data.bin").unlink()
    assert dl.download_dataset("toy", reg, out) == {"data.bin": SHA}  # downloaded again: same pin
    assert sorted(p.name for p in lock.parent.iterdir() if p.name.startswith(".reg")) == [".reg.lock.yaml.flock"]


def test_tampered_present_file_names_both_hashes(tmp_path):
    reg, lock = _setup(tmp_path)
    out = tmp_path / "raw"
    dl.download_dataset("toy", reg, out)
    text = lock.read_text()
    (out / "data.bin").write_bytes(b"other")
    with pytest.raises(ValueError) as e:
        dl.download_dataset("toy", reg, out)
    assert str(e.value) == (f"{out / 'data.bin'}: sha256 mismatch: expected {SHA} (lock file {lock}), got "
                            f"{OTHER}; the file at this path is not the pinned one (delete it to fetch it again)")
    assert lock.read_text() == text  # the pin is not moved to the tampered file
    assert not (out / ".verified").exists()  # the earlier claim is withdrawn


def test_changed_upstream_file_is_rejected_and_removed(tmp_path):
    reg, lock = _setup(tmp_path)
    dl.download_dataset("toy", reg, tmp_path / "a")
    text = lock.read_text()
    (tmp_path / "pub" / "data.bin").write_bytes(b"other")  # the publisher's file changed
    with pytest.raises(ValueError, match=f"data.bin: sha256 mismatch: expected {SHA} \\(lock file .*reg.lock.yaml\\), "
                                         f"got {OTHER} .*partial file was removed"):
        dl.download_dataset("toy", reg, tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == []
    assert lock.read_text() == text


def test_registry_pin_wins_and_must_agree(tmp_path, capsys):
    reg, lock = _setup(tmp_path, sha=SHA)
    assert dl.download_dataset("toy", reg, tmp_path / "a") == {"data.bin": SHA}
    assert not lock.exists()  # a registry pin is not copied into the lock
    assert "pinned at first download" not in capsys.readouterr().out
    pins.write_pins(lock, {"toy": {"data.bin": SHA}})
    assert dl.download_dataset("toy", reg, tmp_path / "b") == {"data.bin": SHA}  # agreeing pins
    pins.write_pins(lock, {"toy": {"data.bin": OTHER}})
    with pytest.raises(ValueError) as e:
        dl.download_dataset("toy", reg, tmp_path / "c")
    assert str(e.value) == (f"data.bin: registry {reg} pins sha256 {SHA} but lock file {lock} recorded {OTHER} "
                            "for toy; one of them is wrong (fix the registry or remove the lock entry)")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == []  # checked before fetching


def test_cli_lock_option_and_bad_lock(tmp_path):
    reg, _ = _setup(tmp_path)
    lock = tmp_path / "elsewhere" / "pins.yaml"
    dl.main(["--dataset", "toy", "--registry", str(reg), "--out", str(tmp_path / "raw"), "--lock", str(lock)])
    assert pins.read_pins(lock) == {"toy": {"data.bin": SHA}}
    assert not (tmp_path / "reg.lock.yaml").exists()
    assert json.loads((tmp_path / "raw" / ".verified").read_text())["sha256"] == {"data.bin": SHA}
    lock.write_text("version: 1\ndatasets:\n  toy:\n    data.bin: nothex\n")
    with pytest.raises(ValueError, match=f"lock file {lock}: datasets.toy.data.bin: 'nothex' is not"):
        dl.download_dataset("toy", reg, tmp_path / "raw2", lock=lock)
    lock.write_text("- a\n")
    with pytest.raises(ValueError, match=f"lock file {lock}: expected a mapping at top level, got list"):
        dl.download_dataset("toy", reg, tmp_path / "raw2", lock=lock)
    assert not (tmp_path / "raw2" / "data.bin").exists()


def test_lock_is_deterministic(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    for name, sha in [("toy", SHA), ("toy2", OTHER)]:
        pins.record(a, name, "f", sha)
    for name, sha in [("toy2", OTHER), ("toy", SHA)]:
        pins.record(b, name, "f", sha)
    assert a.read_bytes() == b.read_bytes()
    assert pins.record(a, "toy", "f", SHA) is False
    with pytest.raises(ValueError, match=f"pins toy/f to {SHA} .* this download got {OTHER}"):
        pins.record(a, "toy", "f", OTHER)


def _record_many(args: tuple[str, int]) -> None:
    lock, k = args
    for i in range(25):
        pins.record(lock, f"ds{k}", f"file{i:02d}", hashlib.sha256(f"{k}/{i}".encode()).hexdigest())


def test_concurrent_records_are_all_kept(tmp_path):
    lock = str(tmp_path / "reg.lock.yaml")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_record_many, [(lock, k) for k in range(4)])
    got = pins.read_pins(lock)
    assert got == {f"ds{k}": {f"file{i:02d}": hashlib.sha256(f"{k}/{i}".encode()).hexdigest() for i in range(25)}
                   for k in range(4)}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".reg.lock.yaml.flock", "reg.lock.yaml"]


def test_two_downloads_at_once_keep_both_pins(tmp_path):
    reg, lock = _setup(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    jobs = [ctx.Process(target=dl.download_dataset, args=(n, str(reg), str(tmp_path / n))) for n in ("toy", "toy2")]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(60)
    assert [j.exitcode for j in jobs] == [0, 0]
    assert pins.read_pins(lock) == {"toy": {"data.bin": SHA}, "toy2": {"data.bin": SHA}}


def test_committed_lock_pins_only_unpinned_registry_files():
    reg = dl.load_registry(ROOT / "config/datasets.yaml")
    lock = ROOT / "config/datasets.lock.yaml"
    assert pins.lock_path_for(ROOT / "config/datasets.yaml") == lock
    assert lock.read_text().startswith(pins.HEADER)
    for ds, files in pins.read_pins(lock).items():
        shas = {f["name"]: f["sha256"] for f in dl.get_entry(reg, ds)["files"]}
        for name in files:
            assert name in shas and shas[name] is None, (ds, name)
