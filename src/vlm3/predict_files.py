"""Prediction output files: resumable partial shards and their merge into the predictions file.

Each process (rank) of a prediction job appends its answered rows, a chunk at a time, flushed and
fsynced, to `{out}.rank{r}.partial`, whose first line is a header `{"partial_of": fingerprint}`
(the model, the QA file's sha256 and the generation settings that change answers). A job that
starts again reads every partial shard of `{out}` with the same fingerprint (any earlier world
size; a torn last line from a kill is dropped; shards of another fingerprint are removed with a
warning) and answers only the questions still missing. When all ranks are done, rank 0 merges the
shards into `{out}` in input order (written atomically) and removes them, so `{out}` exists only
complete: a partial file never has the final name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from vlm3.records import prediction_line
from vlm3.utils import atomic_path

log = logging.getLogger(__name__)


def fingerprint(model: str, qa: str | Path, **settings) -> dict:
    """What a partial shard must share with the job to be resumed: model, QA content, settings."""
    return {"model": str(model), "qa_sha256": hashlib.sha256(Path(qa).read_bytes()).hexdigest(), **settings}


def shard_path(out: str | Path, rank: int) -> Path:
    out = Path(out)
    return out.with_name(f"{out.name}.rank{rank}.partial")


def shards(out: str | Path) -> list[Path]:
    out = Path(out)
    return sorted(out.parent.glob(f"{out.name}.rank*.partial")) if out.parent.is_dir() else []


def _read_shard(path: Path, fp: dict) -> list[dict] | None:
    """The rows of a shard with fingerprint `fp` (a torn last line dropped), or None if it is of
    another job (other fingerprint, no header)."""
    rows, header, lines = [], False, path.read_text(encoding="utf-8").split("\n")
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines) - 1:  # the last line, without its newline: cut by a kill mid-write
                break
            raise ValueError(f"{path}:{n + 1}: not valid JSON in a prediction shard") from None
        if n == 0:
            if not isinstance(obj, dict) or obj.get("partial_of") != fp:
                return None
            header = True
            continue
        rows.append(obj)
    return rows if header else None


def resume(out: str | Path, fp: dict) -> dict[tuple, dict]:
    """{(id, turn): row} already answered by earlier runs of this job (logged when any); shards of
    another job are removed with a warning."""
    done = answered(out, fp)
    if done:
        log.info("%s: resuming, %d questions already answered", out, len(done))
    return done


def answered(out: str | Path, fp: dict) -> dict[tuple, dict]:
    """{(id, turn): row} in this job's shards of `out`; shards of another job are removed with a
    warning."""
    done: dict[tuple, dict] = {}
    for p in shards(out):
        rows = _read_shard(p, fp)
        if rows is None:
            log.warning("%s: written by another job (model, QA or settings differ); removed", p)
            p.unlink()
            continue
        for r in rows:
            done.setdefault((r["id"], r["turn"]), r)
    return done


class ShardWriter:
    """Appends rows to this rank's shard (rewritten first with its valid rows, so a torn line from a
    kill never stays in the middle of the file) and flushes them to disk chunk by chunk."""

    def __init__(self, out: str | Path, rank: int, fp: dict):
        self.path = shard_path(out, rank)
        kept = _read_shard(self.path, fp) if self.path.exists() else None
        with atomic_path(self.path) as tmp, open(tmp, "w") as f:
            f.write(json.dumps({"partial_of": fp}) + "\n")
            for r in kept or []:
                f.write(prediction_line(r))
        self.f = open(self.path, "a", encoding="utf-8")

    def write(self, rows: list[dict]) -> None:
        self.f.write("".join(map(prediction_line, rows)))
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


def merge(out: str | Path, keys: list[tuple], fp: dict) -> int:
    """Write `out` with one row per key, in that order, from the job's shards, then remove them.
    ValueError (nothing written) when a key has no row."""
    done = answered(out, fp)
    missing = [k for k in keys if k not in done]
    if missing:
        raise ValueError(f"{out}: {len(missing)} questions have no answer in the shards "
                         f"(first: id={missing[0][0]!r} turn={missing[0][1]!r}); rerun to complete them")
    with atomic_path(out) as tmp, open(tmp, "w") as f:
        for k in keys:
            f.write(prediction_line(done[k]))
    for p in shards(out):
        p.unlink()
    return len(keys)
