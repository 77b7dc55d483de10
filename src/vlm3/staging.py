"""Staging beside an output: temporary files and folders that become the output only when a stage
succeeds, and the cleaning of those a killed run left behind.

Every staging entry of an output `NAME` is `.NAME.{host}-{pid}.{random}.tmp` in the output's
folder, so a later run of the stage that owns `NAME` recognises its own leftovers: `clean_stale`
removes each one whose process is gone (same host, no such pid) or that was made on another host
(a workflow manager never runs two jobs for one output at once). Entries of the layout used before
this module (`.NAME.{random}.tmp`, `.NAME.tmp-{random}`, `.NAME.old-{n}`) are removed too.
Staging folders get the normal umask permissions, not mkdtemp's 0700.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname().split(".")[0]) or "host"


def _prefix(name: str) -> str:
    return f".{name}.{_host()}-{os.getpid()}."


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: os.umask can only be read by setting it, and setting it while another thread
# (prediction's image-loading pool) creates a file would give that file mode 0666/0777.
_UMASK = _read_umask()


def stage_dir(out: str | os.PathLike) -> Path:
    """A new staging folder for the output `out` (file or folder), beside it, mode 0777 & ~umask;
    stale staging of `out` is cleaned first."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(out.name), suffix=".tmp", dir=out.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    return tmp


def stage_file(out: str | os.PathLike) -> Path:
    """A new empty staging file for the output file `out`, beside it, mode 0666 & ~umask (stale
    staging is not cleaned here: call `clean_stale` once per output at the stage's start)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(out.name), suffix=".tmp", dir=out.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)
    return Path(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(out: str | os.PathLike) -> list[Path]:
    """Remove the staging entries of output `out` left by runs that are gone; return them."""
    out = Path(out)
    if not out.parent.is_dir():
        return []
    name = re.escape(out.name)
    tagged = re.compile(rf"^\.{name}\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")
    legacy = re.compile(rf"^\.{name}\.([a-z0-9_]{{8}}\.tmp|tmp-[a-z0-9_]{{8}}|old-[a-z0-9_]+)$")
    removed = []
    host = _host()
    for entry in os.scandir(out.parent):
        m = tagged.match(entry.name)
        if m:
            if m["host"] == host and _alive(int(m["pid"])):
                continue
        elif not legacy.match(entry.name):
            continue
        p = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    if removed:
        log.warning("removed %d stale staging entr%s of %s left by an interrupted run: %s", len(removed),
                    "y" if len(removed) == 1 else "ies", out, ", ".join(p.name for p in removed))
    return removed


def replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished staging folder `tmp` to `out`, replacing an existing `out` (moved aside
    into staging first, so `out` is never half-written)."""
    if out.exists():
        old = stage_dir(out)
        os.replace(out, old / out.name)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)
