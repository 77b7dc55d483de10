"""Source-level guards of the three security properties (issue 17): checked on the code itself, so a
later change that reintroduces a hole fails here even where no behavioural test reaches it.

1. No `allow_pickle` other than False anywhere in src/ (object arrays go through
   `vlm3.io.npz.load_npz`, whose unpickler admits only numpy names), and no raw pickle/torch load.
2. No credential header across hosts: URLs are opened only through `vlm3.download._OPENER`, whose
   redirect handler drops credential headers when the origin changes; nothing else builds an
   `Authorization` header or opens URLs.
3. No filled secret in any log line or error text: every URL interpolated into an f-string or
   passed to a logger goes through `redact()` / `scrub()`, and the download logger scrubs records.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest

from vlm3 import download as dl

SRC = Path(__file__).resolve().parents[1] / "src" / "vlm3"
FILES = sorted(SRC.rglob("*.py"))
URLISH = re.compile(r"(^|_)(url|urls|newurl|full_url)$")
URLISH_DOWNLOAD = re.compile(r"(^|_)(url|urls|newurl|full_url|full)$")  # download.py: `full` = filled URL
SAFE_CALLS = {"redact", "scrub"}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _text(p: Path) -> str:
    return p.read_text(encoding="utf-8")


def _rel(p: Path) -> str:
    return str(p.relative_to(SRC.parents[1]))


def test_sources_found():
    assert len(FILES) > 50 and SRC / "download.py" in FILES and SRC / "io" / "npz.py" in FILES


# ----------------------------------------------------------------------------- 1: pickle
def _allow_pickle_calls(text: str, name: str) -> list[str]:
    """Calls passing allow_pickle anything but the constant False (docstrings do not count)."""
    return [f"{name}:{n.lineno}" for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Call)
            for k in n.keywords if k.arg == "allow_pickle"
            and not (isinstance(k.value, ast.Constant) and k.value.value is False)]


def test_no_allow_pickle_but_false():
    assert [b for p in FILES for b in _allow_pickle_calls(_text(p), _rel(p))] == []
    probe = "np.load(a, allow_pickle=True)\nnp.load(b, allow_pickle=flag)\nnp.load(c, allow_pickle=False)\n"
    assert _allow_pickle_calls(probe, "probe.py") == ["probe.py:1", "probe.py:2"]


def test_no_unrestricted_unpickling():
    pat = re.compile(r"\bpickle\.loads?\(|\bpickle\.Unpickler\(|\btorch\.load\(|\bjoblib\.load\(|\bdill\.")
    bad = [f"{_rel(p)}:{i}: {ln.strip()}" for p in FILES for i, ln in enumerate(_text(p).splitlines(), 1)
           if pat.search(ln)]
    assert bad == []
    npz = _text(SRC / "io" / "npz.py")
    assert "class _NumpyOnlyUnpickler(pickle.Unpickler)" in npz and "def find_class" in npz


# ----------------------------------------------------------------------------- 2: credentials
def test_urls_opened_only_through_the_origin_checking_opener():
    pat = re.compile(r"\burlopen\(|\bbuild_opener\(|\brequests\.(get|post|Session)\b|\bhttpx\."
                     r"|\bhttp\.client\.HTTPS?Connection\(")
    hits = [(p, i, ln.strip()) for p in FILES for i, ln in enumerate(_text(p).splitlines(), 1) if pat.search(ln)]
    assert [(_rel(p), ln) for p, _, ln in hits] == [
        ("src/vlm3/download.py", "_OPENER = urllib.request.build_opener(_OriginRedirect)")]
    src = _text(SRC / "download.py")
    assert src.count("_OPENER.open(") == 1
    assert "if new is not None and not _keeps_credentials(req.full_url, new.full_url):" in src


def test_credential_headers_built_only_in_download():
    hits = [_rel(p) for p in FILES if re.search(r"[\"']Authorization[\"']", _text(p))]
    assert hits == ["src/vlm3/download.py"]
    assert set(dl._CREDENTIAL_HEADERS) == {"Authorization", "Proxy-authorization", "Cookie"}


# ----------------------------------------------------------------------------- 3: secrets in logs
def _unsafe_urls(node: ast.AST, urlish: re.Pattern = URLISH) -> list[str]:
    """Names that look like URLs used in `node` outside a redact()/scrub() call."""
    out = []

    def visit(n, safe):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in SAFE_CALLS:
            safe = True
        if isinstance(n, ast.Name) and urlish.search(n.id) and not safe:
            out.append(n.id)
        if isinstance(n, ast.Attribute) and urlish.search(n.attr) and not safe:
            out.append(n.attr)
        for c in ast.iter_child_nodes(n):
            visit(c, safe)
    visit(node, False)
    return out


def _leaks(text: str, name: str) -> list[str]:
    urlish = URLISH_DOWNLOAD if name.endswith("download.py") else URLISH
    bad = []
    for n in ast.walk(ast.parse(text)):
        if isinstance(n, ast.JoinedStr):
            for v in n.values:
                if isinstance(v, ast.FormattedValue) and (names := _unsafe_urls(v.value, urlish)):
                    bad.append(f"{name}:{n.lineno}: f-string interpolates {names}")
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in LOG_METHODS
                and isinstance(n.func.value, ast.Name) and n.func.value.id in ("log", "logger", "logging")):
            for a in n.args[1:]:
                if names := _unsafe_urls(a, urlish):
                    bad.append(f"{name}:{n.lineno}: log call passes {names}")
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print":
            for a in n.args:
                if names := _unsafe_urls(a, urlish):
                    bad.append(f"{name}:{n.lineno}: print passes {names}")
    return bad


def test_no_url_in_a_log_line_or_error_without_redaction():
    assert [b for p in FILES for b in _leaks(_text(p), _rel(p))] == []


def test_leak_check_catches_a_leak():
    code = ('import logging\nlog = logging.getLogger("x")\n'
            'def f(url, full):\n    log.warning("%s", full)\n    raise ValueError(f"bad {url}")\n'
            'def g(url):\n    print(f"ok {redact(url)}", scrub(url))\n')
    assert sorted(_leaks(code, "probe_download.py")) == ["probe_download.py:4: log call passes ['full']",
                                                         "probe_download.py:5: f-string interpolates ['url']"]


def test_fill_url_is_used_only_by_download():
    hits = [_rel(p) for p in FILES if "fill_url(" in _text(p)]
    assert hits == ["src/vlm3/download.py"]


def test_download_logger_scrubs_filled_secrets(monkeypatch, caplog):
    monkeypatch.setenv("RT_TOKEN", "zzSecret42")
    url = dl.fill_url("https://h.org/{RT_TOKEN}/f.bin")
    caplog.set_level(logging.INFO, logger="vlm3.download")
    dl.log.info("fetching %s from %s", "f.bin", url)
    dl.log.warning(f"raw {url}")  # even a careless f-string is scrubbed by the logger's filter
    assert "zzSecret42" not in caplog.text
    assert caplog.messages == ["fetching f.bin from https://h.org/***/f.bin", "raw https://h.org/***/f.bin"]
    assert any(isinstance(f, dl._ScrubFilter) for f in dl.log.filters)


@pytest.mark.parametrize("old, new, keeps", [
    ("https://a.org/x", "https://b.org/x", False), ("https://a.org/x", "https://a.org/y", True),
    ("http://a.org/x", "https://a.org/y", True), ("https://a.org/x", "http://a.org/y", False)])
def test_redirect_origin_rule(old, new, keeps):
    assert dl._keeps_credentials(old, new) is keeps
