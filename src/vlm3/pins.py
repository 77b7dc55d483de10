"""Pin at first download: the lock file of sha256 sums the publishers do not give.

`config/datasets.lock.yaml` (beside the registry: `<registry>.lock.yaml`) maps dataset -> file ->
sha256. The download stage records a file's hash there the first time it fetches or verifies a
file whose registry entry has `sha256: null`; every later download or re-verification must match
that pin. A sha256 in the registry wins, and a registry pin that disagrees with the lock is an
error (one of the two is wrong). The lock is committed, like dvc.lock.

Writes are atomic (temporary file + os.replace) and deterministic (sorted keys, fixed header).
Concurrency: one lock file for all datasets (one place to review and commit) whose
read-modify-write is serialised with fcntl.flock, so two download jobs at once (Snakemake runs the
data rule of several datasets in parallel) both keep their records. The flock is taken on a
sidecar `.<lock>.flock` rather than on the lock itself: os.replace gives the lock a new inode at
every write, and a lock held on the old inode would exclude no one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

import yaml

from vlm3.utils import atomic_path, load_mapping

HEADER = """\
# Written by the download stage (python -m vlm3.download); commit it, like dvc.lock.
# sha256 of every registry file whose publisher gives none, recorded at its first download
# ("pin at first download"); later downloads must match. A sha256 in the registry wins and must
# agree with a pin here. dataset -> file -> sha256.
"""
_SHA = re.compile(r"[0-9a-f]{64}")


def lock_path_for(registry: str | os.PathLike) -> Path:
    """The lock beside a registry: config/datasets.yaml -> config/datasets.lock.yaml."""
    return Path(registry).with_suffix(".lock.yaml")


def read_pins(lock: str | os.PathLike) -> dict[str, dict[str, str]]:
    """dataset -> file -> sha256 of a lock file ({} when it does not exist yet)."""
    lock = Path(lock)
    if not lock.exists():
        return {}
    doc = load_mapping(lock, "lock file", empty_ok=True)
    if doc.get("version", 1) != 1:
        raise ValueError(f"lock file {lock}: unknown version {doc['version']!r} (this tool writes 1)")
    pins = doc.get("datasets") or {}
    if not isinstance(pins, dict):
        raise ValueError(f"lock file {lock}: `datasets` must map dataset -> file -> sha256")
    for ds, files in pins.items():
        if not isinstance(files, dict):
            raise ValueError(f"lock file {lock}: datasets.{ds} must map file -> sha256")
        for name, sha in files.items():
            if not isinstance(sha, str) or not _SHA.fullmatch(sha):
                raise ValueError(f"lock file {lock}: datasets.{ds}.{name}: {sha!r} is not a "
                                 "lower-case hex sha256")
    return {str(ds): {str(n): s for n, s in files.items()} for ds, files in pins.items()}


def expected(dataset: str, name: str, registry_sha: str | None, pins: dict,
             registry: str | os.PathLike, lock: str | os.PathLike) -> tuple[str | None, str]:
    """(sha256 a file must have or None, where that pin comes from)."""
    reg = registry_sha.lower() if registry_sha else None
    pin = pins.get(dataset, {}).get(name)
    if reg and pin and reg != pin:
        raise ValueError(f"{name}: registry {registry} pins sha256 {reg} but lock file {lock} recorded "
                         f"{pin} for {dataset}; one of them is wrong (fix the registry or remove the "
                         "lock entry)")
    if reg:
        return reg, f"registry {registry}"
    return pin, f"lock file {lock}"


@contextlib.contextmanager
def _exclusive(lock: Path):
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock.with_name(f".{lock.name}.flock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_pins(lock: str | os.PathLike, pins: dict) -> None:
    """Write the lock atomically with sorted keys (callers hold `_exclusive`)."""
    body = yaml.safe_dump({"datasets": pins}, sort_keys=True, default_flow_style=False)
    with atomic_path(lock) as tmp:
        tmp.write_text(f"{HEADER}version: 1\n{body}", encoding="utf-8")


def record(lock: str | os.PathLike, dataset: str, name: str, sha: str) -> bool:
    """Pin `dataset`/`name` to `sha`; True when the lock changed.

    Re-reads the lock under the flock, so a record written meanwhile by another job is kept; a
    different pin for the same file written meanwhile is an error.
    """
    lock = Path(lock)
    with _exclusive(lock):
        pins = read_pins(lock)
        old = pins.get(dataset, {}).get(name)
        if old == sha:
            return False
        if old is not None:
            raise ValueError(f"{name}: lock file {lock} pins {dataset}/{name} to {old} (recorded by "
                             f"another download meanwhile) but this download got {sha}")
        pins.setdefault(dataset, {})[name] = sha
        write_pins(lock, pins)
    return True
