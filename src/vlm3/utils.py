"""Small shared helpers: deterministic random streams and atomic file writes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np


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
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    On error the temporary file is removed, so no partial output is ever left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
