"""Small shared helpers: deterministic random streams, atomic file writes, reading YAML/JSON/JSONL."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import yaml

from vlm3.staging import clean_stale, stage_file


def rng_for(seed: int, *keys: object) -> np.random.Generator:
    """A numpy Generator determined by `seed` and any number of stable keys.

    Keys are turned into bytes with `str()` and hashed with SHA-256, so the stream is the same
    on every machine and Python run (unlike `hash()`, which is salted per process).
    """
    h = hashlib.sha256(str(int(seed)).encode())
    for k in keys:
        h.update(b"\x00" + str(k).encode())
    return np.random.Generator(np.random.PCG64(int.from_bytes(h.digest()[:16], "little")))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, clean: bool = True):
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    On error the temporary file is removed, so no partial output is ever left behind. `clean`:
    first remove the staging of `path` that a killed run left (`vlm3.staging.clean_stale`, a scan of
    the folder: pass False for many small files written into one folder).
    """
    path = Path(path)
    if clean:
        clean_stale(path)
    tmp = stage_file(path)  # .NAME.{host}-{pid}.XXXX.tmp, the usual file mode (vlm3.staging)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if e.filename is None:  # write(2) errors (a full disk) carry no file name: give the output's
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_text(path: str | os.PathLike, who: str | None = None) -> str:
    """The UTF-8 text of a file; ValueError "{who}:{line}: not UTF-8 text (byte 0x..)" otherwise
    (`who` defaults to the path)."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{who or path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                         f"{e.start})") from None


def _who(path: Path, arg: str | None) -> str:
    return f"{arg} {path}" if arg else str(path)


def load_mapping(path: str | os.PathLike, arg: str | None = None, fmt: str = "yaml",
                 empty_ok: bool = False) -> dict:
    """The top-level mapping of a YAML (`fmt="yaml"`) or JSON (`fmt="json"`) file.

    ValueError names `arg` (the CLI option or role, e.g. "--config") and the file: missing file,
    unparseable text, or a top level that is not a mapping. `empty_ok` reads an empty file as {}.
    """
    path = Path(path)
    who = _who(path, arg)
    if not path.is_file():
        raise ValueError(f"{who}: no such file")
    text = read_text(path, who)
    try:
        doc = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ValueError(f"{who}: not valid {fmt.upper()} ({e})") from None
    if doc is None and empty_ok:
        return {}
    if not isinstance(doc, dict):
        raise ValueError(f"{who}: expected a mapping at top level, got {type(doc).__name__}")
    return doc


def read_jsonl(path: str | os.PathLike, arg: str | None = None) -> list[tuple[int, dict]]:
    """(line number, object) of every non-blank line of a JSONL file; line numbers are 1-based,
    for the caller's own `{path}:{line}: ...` messages.

    ValueError: "{arg} {path}: no such file", "{arg} {path}:{line}: not valid JSON (...)",
    "{arg} {path}:{line}: not UTF-8 text (...)" and "{arg} {path}:{line}: not a JSON object".
    """
    path = Path(path)
    who = _who(path, arg)
    if not path.is_file():
        raise ValueError(f"{who}: no such file")
    out = []
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"{who}:{n}: not UTF-8 text (byte 0x{raw[e.start]:02x})") from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line.rstrip("\r\n"))  # columns in the message count within the line
            except json.JSONDecodeError as e:
                raise ValueError(f"{who}:{n}: not valid JSON ({e})") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{who}:{n}: not a JSON object")
            out.append((n, rec))
    return out
