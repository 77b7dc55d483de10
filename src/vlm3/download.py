"""Stage `data`: fetch one registry dataset into data/raw/{dataset}/, verified by SHA-256.

    python -m vlm3.download --dataset NAME --registry config/datasets.yaml --out data/raw/NAME

For every file of the registry entry (config/datasets.yaml, schema config/datasets.schema.json):
- `urls` given: download to `<out>/<name>.part`, resuming with an HTTP Range request when a
  `.part` already exists; the finished file is hashed and moved to `<out>/<name>` only when its
  SHA-256 matches the pinned one. A mismatch deletes the partial file and raises ValueError naming
  the file and both hashes. A file the registry leaves unpinned (`sha256: null`) is pinned at its
  first download: its hash goes into the lock file (`--lock`, default `<registry>.lock.yaml`, i.e.
  config/datasets.lock.yaml; `vlm3.pins`), and later runs verify against it.
- `manual: true` (gated sets, click-through licences): nothing is fetched; the tool names where to
  get the archive and the path to put it at, then verifies the file the user placed there.
- `extract: zip|tar|7z`: after verification the archive is unpacked into a temporary folder
  inside `<out>` and its top-level entries are moved into place (`os.replace`, atomic per entry);
  a marker `.<name>.extracted` records completion so re-runs skip it.
When every file is in place, `<out>/.verified` (JSON: file -> sha256) is written; Snakemake's
`data` rule depends on that marker.

Credentials never appear in logs: `{ENV_VAR}` placeholders in a URL are filled from the
environment, HTTP basic auth comes from the entry's env variables or ~/.netrc, and every URL is
logged through `redact()` (userinfo and query values removed).

Written on urllib (stdlib) rather than requests so the tool has no dependency beyond Python.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import logging
import netrc
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from vlm3 import pins
from vlm3.utils import atomic_path, load_mapping

log = logging.getLogger("vlm3.download")

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "datasets.schema.json"
CHUNK = 1 << 20
_PLACEHOLDER = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")


# ----------------------------------------------------------------------------- registry
def load_registry(path: str | os.PathLike, schema_path: str | os.PathLike | None = None) -> dict:
    """Read the dataset registry YAML and validate it against its JSON schema."""
    import jsonschema

    path = Path(path)
    reg = load_mapping(path, "registry")
    schema = json.loads(Path(schema_path or SCHEMA_PATH).read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(reg), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.path) or "(top)"
        raise ValueError(f"registry {path}: at {where}: {e.message}")
    return reg


def get_entry(reg: dict, name: str, where: str = "registry") -> dict:
    if name not in reg["datasets"]:
        raise ValueError(f"{where}: unknown dataset {name!r}; known: {', '.join(sorted(reg['datasets']))}")
    return reg["datasets"][name]


# ----------------------------------------------------------------------------- helpers
def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def redact(url: str) -> str:
    """URL safe to log: user:password@ and every query value replaced by '***'."""
    p = urllib.parse.urlsplit(url)
    netloc = p.hostname or ""
    if p.port:
        netloc += f":{p.port}"
    if p.username or p.password:
        netloc = "***@" + netloc
    query = "&".join(f"{k}=***" for k, _ in urllib.parse.parse_qsl(p.query, keep_blank_values=True))
    return urllib.parse.urlunsplit((p.scheme, netloc, p.path, query, ""))


def fill_url(url: str, env: dict | None = None) -> str:
    """Replace `{ENV_VAR}` placeholders (tokens) with environment values."""
    env = os.environ if env is None else env

    def sub(m: re.Match) -> str:
        if m.group(1) not in env:
            raise ValueError(f"URL {redact(url)} needs environment variable {m.group(1)} (a credential)")
        return urllib.parse.quote(env[m.group(1)], safe="")

    return _PLACEHOLDER.sub(sub, url)


def auth_header(url: str, auth: dict | None, env: dict | None = None) -> dict:
    """Basic-auth header from the entry's env variables, else from ~/.netrc for the host."""
    env = os.environ if env is None else env
    user = pw = None
    if auth and auth.get("user_env") in env and auth.get("password_env") in env:
        user, pw = env[auth["user_env"]], env[auth["password_env"]]
    else:
        host = urllib.parse.urlsplit(url).hostname
        with contextlib.suppress(FileNotFoundError, netrc.NetrcParseError):
            found = netrc.netrc(env.get("NETRC")).authenticators(host) if host else None
            if found:
                user, pw = found[0], found[2]
    if user is None:
        return {}
    token = base64.b64encode(f"{user}:{pw}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# ----------------------------------------------------------------------------- download
def fetch(url: str, dest: Path, sha256: str | None, headers: dict | None = None,
          timeout: float = 60.0, source: str = "the registry") -> str:
    """Download `url` to `dest` through `dest.part` (resumed with Range); return the sha256.

    Raises ValueError (and deletes the partial file) when the content does not match `sha256`
    (pinned by `source`, named in the message).
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers=dict(headers or {}))
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the .part is already complete
            resp = None
        else:
            raise RuntimeError(f"{dest.name}: HTTP {e.code} from {redact(url)}") from None
    except urllib.error.URLError as e:
        raise RuntimeError(f"{dest.name}: cannot reach {redact(url)}: {e.reason}") from None
    if resp is not None:
        with resp:
            if have and resp.status != 206:
                log.info("%s: server ignored the Range request, restarting", dest.name)
                have = 0
            total = resp.headers.get("Content-Length")
            total = int(total) + have if total is not None else None
            with open(part, "ab" if have else "wb") as f, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=None
            ) as bar:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    f.write(block)
                    bar.update(len(block))
    got = sha256_file(part)
    if sha256 and got != sha256.lower():
        part.unlink()
        raise ValueError(f"{dest.name}: sha256 mismatch: expected {sha256.lower()} ({source}), got {got} "
                         f"(downloaded from {redact(url)}; the partial file was removed)")
    os.replace(part, dest)
    return got


def verify_placed(path: Path, sha256: str | None, source: str = "the registry") -> str:
    got = sha256_file(path)
    if sha256 and got != sha256.lower():
        raise ValueError(f"{path}: sha256 mismatch: expected {sha256.lower()} ({source}), got {got}; "
                         "the file at this path is not the pinned one (delete it to fetch it again)")
    return got


# ----------------------------------------------------------------------------- extraction
def _unpack(archive: Path, kind: str, into: Path) -> None:
    if kind == "zip":
        with zipfile.ZipFile(archive) as z:
            for m in z.namelist():
                if m.startswith("/") or ".." in Path(m).parts:
                    raise ValueError(f"{archive}: unsafe member path {m!r}")
            z.extractall(into)
    elif kind == "tar":
        with tarfile.open(archive) as t:
            t.extractall(into, filter="data")  # the 'data' filter rejects absolute/.. paths and links out
    elif kind == "7z":
        # ETH3D ships .7z; neither zipfile nor tarfile reads it: use py7zr if installed, else the 7z tool.
        try:
            import py7zr
        except ImportError:
            exe = shutil.which("7z") or shutil.which("7za") or shutil.which("7zr")
            if not exe:
                raise ValueError(f"{archive}: extracting .7z needs `pip install py7zr` or the 7z tool "
                                 "(Debian: apt-get install p7zip-full)") from None
            subprocess.run([exe, "x", "-y", f"-o{into}", str(archive)], check=True,
                           stdout=subprocess.DEVNULL)
        else:
            with py7zr.SevenZipFile(archive) as z:
                z.extractall(into)
    else:
        raise ValueError(f"{archive}: unknown archive kind {kind!r}")


def extract(archive: Path, kind: str, out: Path) -> list[str]:
    """Unpack `archive` into a temp folder inside `out`, then move its top-level entries into place."""
    marker = out / f".{archive.name}.extracted"
    if marker.exists():
        return json.loads(marker.read_text())
    tmp = Path(tempfile.mkdtemp(prefix=f".{archive.name}.", suffix=".extract", dir=out))
    try:
        _unpack(archive, kind, tmp)
        names = sorted(p.name for p in tmp.iterdir())
        for n in names:
            target = out / n
            if target.is_dir() and (tmp / n).is_dir():
                # Archives of one dataset often share a top folder (ETH3D: <scene>/...): merge.
                for src in sorted((tmp / n).rglob("*")):
                    if src.is_file():
                        dst = target / src.relative_to(tmp / n)
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(src, dst)
            else:
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(tmp / n, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with atomic_path(marker) as t:
        t.write_text(json.dumps(names))
    return names


# ----------------------------------------------------------------------------- driver
def instructions(name: str, entry: dict, f: dict, out: Path) -> str:
    where = f.get("source") or entry.get("homepage", "the publisher's site")
    how = entry.get("access_note", "")
    return (f"{name}: {f['name']} is gated ({entry['access']}); it cannot be fetched automatically.\n"
            f"  Get it from: {where}\n  {how}\n  Then place it at: {out / f['name']}\n"
            f"  and re-run this command to verify it.")


def download_dataset(name: str, registry: str | os.PathLike, out: str | os.PathLike,
                     only: list[str] | None = None, no_extract: bool = False,
                     lock: str | os.PathLike | None = None) -> dict:
    """Fetch/verify/extract every file of one registry entry; return {file: sha256}.

    Unpinned files are checked against, or at their first download recorded in, `lock`
    (default: the registry's `<name>.lock.yaml`).
    """
    reg = load_registry(registry)
    entry = get_entry(reg, name, str(registry))
    lock = Path(lock) if lock else pins.lock_path_for(registry)
    locked = pins.read_pins(lock)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [f for f in entry["files"] if not only or f["name"] in only]
    if only and len(files) != len(only):
        missing = sorted(set(only) - {f["name"] for f in files})
        raise ValueError(f"--only names files not in {name}: {missing}")
    if not files:
        raise ValueError(f"registry {registry}: dataset {name!r} lists no files")
    # every pin first: a registry/lock disagreement fails before anything is fetched
    want = {f["name"]: pins.expected(name, f["name"], f.get("sha256"), locked, registry, lock) for f in files}
    if not only:  # a failed run leaves no stale claim behind
        (out / ".verified").unlink(missing_ok=True)
    hashes = {}
    for f in files:
        dest = out / f["name"]
        sha, source = want[f["name"]]
        if f.get("manual") or not f.get("urls"):
            if not dest.exists():
                raise ValueError(instructions(name, entry, f, out))
            hashes[f["name"]] = verify_placed(dest, sha, source)
        elif dest.exists():
            hashes[f["name"]] = verify_placed(dest, sha, source)
            log.info("%s: present and verified", f["name"])
        else:
            last = None
            for url in f["urls"]:
                try:
                    full = fill_url(url)
                    hashes[f["name"]] = fetch(full, dest, sha, auth_header(full, entry.get("auth")),
                                              source=source)
                    break
                except RuntimeError as e:  # unreachable mirror: try the next one
                    last = e
                    log.warning("%s", e)
            else:
                raise RuntimeError(f"{name}: every URL failed for {f['name']}: {last}")
        if sha is None:
            pins.record(lock, name, f["name"], hashes[f["name"]])
            print(f"{name}: {f['name']} sha256 {hashes[f['name']]} (pinned at first download in {lock}: "
                  "commit it)")
        if f.get("extract") and not no_extract:
            extract(dest, f["extract"], out)
    if only:  # a partial run never claims the whole dataset is verified
        return hashes
    with atomic_path(out / ".verified") as t:
        t.write_text(json.dumps({"dataset": name, "sha256": dict(sorted(hashes.items()))}, indent=1,
                                sort_keys=True) + "\n")
    return hashes


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="registry entry name")
    p.add_argument("--registry", default="config/datasets.yaml")
    p.add_argument("--out", required=True, help="raw folder, e.g. data/raw/NAME")
    p.add_argument("--only", nargs="+", help="only these file names of the entry")
    p.add_argument("--no-extract", action="store_true", help="verify archives but do not unpack")
    p.add_argument("--lock", help="lock file of first-download pins (default: beside the registry, "
                                  "config/datasets.yaml -> config/datasets.lock.yaml)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    download_dataset(a.dataset, a.registry, a.out, a.only, a.no_extract, a.lock)


if __name__ == "__main__":
    main()
