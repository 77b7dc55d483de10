"""A one-dataset registry file ("toy") for the download tests."""

from __future__ import annotations

from pathlib import Path

import yaml


def toy_registry(tmp_path: Path, files: list[dict], **extra) -> Path:
    """Write reg.yaml with dataset `toy` holding `files` (an unpinned file gets the registry's
    required note) and any further entry keys; return its path."""
    files = [{**f, "note": "pin at first download"} if f.get("sha256") is None else f for f in files]
    entry = {"title": "t", "homepage": "https://example.org", "licence": "CC0-1.0", "terms": "none",
             "access": "public", "role": {"eval": ["depth"], "train": []}, "loader": "x", "files": files}
    entry.update(extra)
    p = tmp_path / "reg.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "datasets": {"toy": entry}}))
    return p
