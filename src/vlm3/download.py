"""Stage `data`: fetch one registry dataset into data/raw/{dataset}/, verified by SHA-256.

    python -m vlm3.download --dataset NAME --registry config/datasets.yaml --out data/raw/NAME

For every file of the registry entry (config/datasets.yaml, schema vlm3/schemas/datasets.schema.json):
- `urls` given: download to `<out>/<name>.part`, resuming with an HTTP Range request when a
  `.part` already exists. A body shorter than its Content-Length (or the registry's `size`) is a
  dropped connection: the `.part` is kept and resumed, a few times while it makes progress, and
  kept for the next run when it does not. The finished file is checked (the registry's `size`
  where given; an HTML page for a binary file is a login or error page, tried at the next mirror)
  and moved to `<out>/<name>` only when its SHA-256 matches the pinned one. A mismatch deletes the
  partial file and raises ValueError naming the file and both hashes. A file the registry leaves
  unpinned (`sha256: null`) is pinned at its first download, once it is complete (Content-Length
  or `size` confirmed it) and, for archives, extracted: its hash goes into the lock file (`--lock`,
  default `<registry>.lock.yaml`, i.e. config/datasets.lock.yaml; `vlm3.pins`), and later runs
  verify against it.
- `manual: true` (gated sets, click-through licences): nothing is fetched; the tool names where to
  get the archive and the path to put it at, then verifies the file the user placed there.
- `extract: zip|tar|7z`: after verification the archive is unpacked into a temporary folder
  inside `<out>` and its top-level entries are moved into place (`os.replace`, atomic per entry);
  a marker `.<name>.extracted` records completion so re-runs skip it.
When every file is in place, `<out>/.verified` (JSON: file -> sha256) is written; Snakemake's
`data` rule depends on that marker.

Credentials never appear in logs: `{ENV_VAR}` placeholders in a URL are filled from the
environment, HTTP basic auth comes from the entry's env variables or ~/.netrc, and every URL is
logged through `redact()` (userinfo and query values removed, and every filled placeholder value
wherever it sits, path and host included); the module's logger scrubs those values from every
line, and error texts go through `scrub()`. Credential headers go only to the origin (scheme,
host, port) of the URL they were made for: a redirect elsewhere drops them.

Written on urllib (stdlib) rather than requests so the tool has no dependency beyond Python.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import http.client
import json
import logging
import netrc
import os
import re
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from vlm3 import pins
from vlm3.staging import stage_dir
from vlm3.utils import atomic_path, load_mapping

log = logging.getLogger("vlm3.download")

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "datasets.schema.json"  # package data
CHUNK = 1 << 20
_PLACEHOLDER = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
RETRIES = 5  # resumes of a dropped download while each one makes progress
_TEXT_SUFFIXES = {".html", ".htm", ".txt", ".json", ".jsonl", ".xml", ".csv", ".md", ".yaml", ".yml"}
_CREDENTIAL_HEADERS = ("Authorization", "Proxy-authorization", "Cookie")  # Request.capitalize()d
_SECRETS: set[str] = set()  # every credential value this process filled in or sent


# ----------------------------------------------------------------------------- secrets
def remember_secret(value: str) -> None:
    """Register a credential value (and its URL-quoted form) for `scrub()`."""
    if value:
        _SECRETS.update({value, urllib.parse.quote(value, safe="")})


def scrub(text: str) -> str:
    """`text` with every registered credential value replaced by '***' (longest first)."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class _ScrubFilter(logging.Filter):
    """Scrubs credential values from every record of the download logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = scrub(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


log.addFilter(_ScrubFilter())


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
    return scrub(urllib.parse.urlunsplit((p.scheme, netloc, p.path, query, "")))


def fill_url(url: str, env: dict | None = None) -> str:
    """Replace `{ENV_VAR}` placeholders (tokens) with environment values."""
    env = os.environ if env is None else env

    def sub(m: re.Match) -> str:
        if m.group(1) not in env:
            raise ValueError(f"URL {redact(url)} needs environment variable {m.group(1)} (a credential)")
        remember_secret(env[m.group(1)])
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
    remember_secret(pw)
    remember_secret(token)
    return {"Authorization": f"Basic {token}"}


def _port(p: urllib.parse.SplitResult) -> int | None:
    return p.port or {"http": 80, "https": 443}.get(p.scheme)


def _keeps_credentials(old: str, new: str) -> bool:
    """Whether a redirect from `old` to `new` may carry credentials: same origin, or http -> https
    on the same host with default ports."""
    a, b = urllib.parse.urlsplit(old), urllib.parse.urlsplit(new)
    if a.hostname != b.hostname:
        return False
    if a.scheme == b.scheme:
        return _port(a) == _port(b)
    return (a.scheme, b.scheme) == ("http", "https") and (_port(a), _port(b)) == (80, 443)


class _OriginRedirect(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib, dropping credential headers when the origin changes."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and not _keeps_credentials(req.full_url, new.full_url):
            for name in _CREDENTIAL_HEADERS:
                new.remove_header(name)
            log.info("redirect to another origin (%s): credentials not sent", redact(new.full_url))
        return new


_OPENER = urllib.request.build_opener(_OriginRedirect)


# ----------------------------------------------------------------------------- download
@dataclasses.dataclass
class _Got:
    have: int  # bytes in the .part
    total: int | None  # bytes the server announced for the whole file
    state: str  # "done" (read to its declared end), "short" (closed early), "unknown" (no length)
    received: int  # bytes of this attempt


def _open(url: str, name: str, headers: dict, timeout: float, have: int):
    """The response for `url` from byte `have` on; None when the .part already holds every byte."""
    req = urllib.request.Request(url, headers=dict(headers))
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        return _OPENER.open(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the .part is already complete
            return None
        raise RuntimeError(f"{name}: HTTP {e.code} from {redact(url)}") from None
    except urllib.error.URLError as e:
        raise RuntimeError(f"{name}: cannot reach {redact(url)}: {scrub(str(e.reason))}") from None
    except (http.client.HTTPException, OSError, ValueError) as e:
        raise RuntimeError(f"{name}: cannot fetch {redact(url)}: {scrub(str(e)) or type(e).__name__}") from None


def _receive(resp, part: Path, have: int) -> _Got:
    """Append the body of `resp` to `part` (restarting when the server ignored Range)."""
    with resp:
        if have and resp.status != 206:
            log.info("%s: server ignored the Range request, restarting", part.name)
            have = 0
        length = resp.headers.get("Content-Length")
        total = int(length) + have if length is not None else None
        chunked = "chunked" in (resp.headers.get("Transfer-Encoding") or "").lower()
        received, broke = 0, False
        with open(part, "ab" if have else "wb") as f, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=part.name, disable=None
        ) as bar:
            try:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    f.write(block)
                    received += len(block)
                    bar.update(len(block))
            except (http.client.HTTPException, OSError):  # reset, timeout, bad chunk: a short read
                broke = True
    have += received
    if broke or (total is not None and have < total):
        state = "short"
    else:
        state = "done" if total is not None or chunked else "unknown"
    return _Got(have, total, state, received)


def _short(name: str, got: _Got, expect: int | None, url: str) -> str:
    of = f" of {expect}" if expect is not None else ""
    return f"{name}: connection closed after {got.have}{of} bytes from {redact(url)}"


def _download(url: str, part: Path, headers: dict, timeout: float, size: int | None,
              retries: int) -> _Got:
    """Fetch into `part`, resuming a short body while it makes progress (at most `retries` times)."""
    name = part.name[: -len(".part")]
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        resp = _open(url, name, headers, timeout, have)
        got = _Got(have, None, "unknown", 0) if resp is None else _receive(resp, part, have)
        expect = got.total if got.total is not None else size
        if got.state == "unknown" and expect is not None:
            got.state = "short" if got.have < expect else "done"
        if got.state != "short":
            return got
        kept = f"; the partial file {part} is kept for the next run"
        if got.received == 0:
            raise RuntimeError(_short(name, got, expect, url) + ", no progress on resume" + kept)
        if attempt == retries:
            raise RuntimeError(_short(name, got, expect, url) + f", still short after {retries} resumes" + kept)
        of = f" of {expect}" if expect is not None else ""
        log.info("%s: connection closed after %d%s bytes; resuming", name, got.have, of)
    raise AssertionError("unreachable")


def is_binary_name(name: str) -> bool:
    return Path(name).suffix.lower() not in _TEXT_SUFFIXES


def looks_html(path: Path) -> bool:
    """Whether the file starts like an HTML document (a login or error page)."""
    with open(path, "rb") as f:
        head = f.read(1024).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html"))


def fetch(url: str, dest: Path, sha256: str | None, headers: dict | None = None,
          timeout: float = 60.0, source: str = "the registry", size: int | None = None,
          retries: int = RETRIES) -> str:
    """Download `url` to `dest` through `dest.part` (resumed with Range); return the sha256.

    A dropped connection keeps the `.part` (RuntimeError after `retries` resumes or none with
    progress). An HTML page for a binary file is a RuntimeError (the next mirror is tried); a body
    whose length differs from `size`, or that does not match `sha256` (pinned by `source`, named
    in the message), is a ValueError and deletes the partial file. An unpinned file without any
    length to check it against is a ValueError that keeps the `.part`.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    got = _download(url, part, headers or {}, timeout, size, retries)
    removed = "; the partial file was removed"
    if is_binary_name(dest.name) and looks_html(part):
        part.unlink()
        raise RuntimeError(f"{dest.name}: {redact(url)} sent an HTML page (a login or error page?) "
                           f"instead of the file{removed}")
    if size is not None and got.have != size:
        part.unlink()
        raise ValueError(f"{dest.name}: {got.have} bytes from {redact(url)}, but the registry gives size "
                         f"{size}{removed}")
    if got.state == "unknown" and size is None and not sha256:
        raise ValueError(f"{dest.name}: {redact(url)} sent no Content-Length and the registry gives neither "
                         "size nor sha256, so the download cannot be checked for completeness; add `size` "
                         f"or `sha256` to the registry entry (the partial file {part} is kept)")
    digest = sha256_file(part)
    if sha256 and digest != sha256.lower():
        part.unlink()
        raise ValueError(f"{dest.name}: sha256 mismatch: expected {sha256.lower()} ({source}), got {digest} "
                         f"(downloaded from {redact(url)}; the partial file was removed)")
    os.replace(part, dest)
    return digest


def verify_placed(path: Path, sha256: str | None, source: str = "the registry", size: int | None = None) -> str:
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise ValueError(f"{path}: {actual} bytes, but the registry gives size {size}; the file at this path "
                         "is incomplete or not the registry's (delete it to fetch it again)")
    if is_binary_name(path.name) and looks_html(path):
        raise ValueError(f"{path}: an HTML page (a login or error page?), not the file; delete it and "
                         "place the real file there")
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
    tmp = stage_dir(out / archive.name)  # cleans what a killed extraction left (vlm3.staging)
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


def fetch_any(name: str, f: dict, dest: Path, sha: str | None, source: str, auth: dict | None) -> str:
    """Fetch one registry file from the first of its URLs that delivers it."""
    errors = []
    for url in f["urls"]:
        try:
            full = fill_url(url)
            return fetch(full, dest, sha, auth_header(full, auth), source=source, size=f.get("size"))
        except RuntimeError as e:  # unreachable mirror, dropped connection, login page: try the next
            errors.append(str(e))
            log.warning("%s", e)
    raise RuntimeError(f"{name}: every URL failed for {f['name']}: {'; '.join(errors)}")


def extract_checked(archive: Path, kind: str, out: Path, drop: bool) -> list[str]:
    """`extract`, failing with one line naming the archive; `drop` deletes an archive that failed
    (one fetched unpinned, so the next run fetches it again instead of trusting it)."""
    try:
        return extract(archive, kind, out)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, tarfile.TarError,
            subprocess.CalledProcessError) as e:
        then = ""
        if drop:
            archive.unlink(missing_ok=True)
            then = "; the unpinned archive was removed so the next run fetches it again"
        raise ValueError(f"{archive}: extract ({kind}) failed: {e}{then}") from None


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
        fetched = False
        if f.get("manual") or not f.get("urls"):
            if not dest.exists():
                raise ValueError(instructions(name, entry, f, out))
            hashes[f["name"]] = verify_placed(dest, sha, source, f.get("size"))
        elif dest.exists():
            hashes[f["name"]] = verify_placed(dest, sha, source, f.get("size"))
            log.info("%s: present and verified", f["name"])
        else:
            hashes[f["name"]] = fetch_any(name, f, dest, sha, source, entry.get("auth"))
            fetched = True
        if f.get("extract") and not no_extract:
            extract_checked(dest, f["extract"], out, drop=fetched and sha is None)
        if sha is None:  # pinned only once complete and, for an archive, extracted
            pins.record(lock, name, f["name"], hashes[f["name"]])
            print(f"{name}: {f['name']} sha256 {hashes[f['name']]} (pinned at first download in {lock}: "
                  "commit it)")
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
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.download")
