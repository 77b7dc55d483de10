"""Per-image calibration cache: one JSON file per (provider settings, image path, image bytes).

The key is sha256 of the provider's `cache_key`, the image path as written in the index and
the sha256 of the file's bytes, so an edited image or changed provider settings never hit a
stale entry. Negative results (provider returned None) are cached too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from vlm3.calibrate.base import Intrinsics
from vlm3.utils import atomic_path

_MISS = object()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class CalibCache:
    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder) if folder else None
        self.hits = 0
        self.misses = 0

    def _file(self, provider_key: str, image_path: str, digest: str) -> Path:
        k = hashlib.sha256("\x00".join([provider_key, image_path, digest]).encode()).hexdigest()
        return self.folder / k[:2] / f"{k}.json"

    def get(self, provider_key: str, image_path: str, digest: str):
        """Cached Intrinsics, None (cached failure), or the sentinel `_MISS`."""
        if self.folder is None:
            return _MISS
        f = self._file(provider_key, image_path, digest)
        if not f.is_file():
            self.misses += 1
            return _MISS
        try:
            rec = json.loads(f.read_text())
        except json.JSONDecodeError:
            self.misses += 1
            return _MISS  # a damaged entry is recomputed and overwritten
        if rec.get("provider") != provider_key or rec.get("image_path") != image_path or rec.get("sha256") != digest:
            self.misses += 1
            return _MISS
        self.hits += 1
        r = rec["result"]
        return None if r is None else Intrinsics(**r)

    def put(self, provider_key: str, image_path: str, digest: str, result: Intrinsics | None) -> None:
        if self.folder is None:
            return
        rec = {"provider": provider_key, "image_path": image_path, "sha256": digest,
               "result": None if result is None else {k: getattr(result, k) for k in
                                                      ("fx", "fy", "cx", "cy", "confidence")}}
        with atomic_path(self._file(provider_key, image_path, digest), clean=False) as tmp:
            tmp.write_text(json.dumps(rec, sort_keys=True))
