"""vlm3.download under faults and attacks (issue 17, items 5-8), against local HTTP servers.

Item 7: credentials go only to the origin they belong to, across redirects.
Item 8: every filled `{ENV_VAR}` placeholder is redacted in logs and error texts, wherever it sits.
Item 5: a body shorter than its Content-Length keeps the `.part` and is resumed with Range.
Item 6: the registry `size` is checked, HTML pages are rejected for binary files, and a first
download is pinned only after its extraction succeeded.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import zipfile

import pytest
from _toy_registry import toy_registry

from vlm3 import download as dl
from vlm3 import pins

PAYLOAD = bytes(range(256)) * 4000  # 1 024 000 bytes
SHA = hashlib.sha256(PAYLOAD).hexdigest()
HALF = len(PAYLOAD) // 2
LOGIN = b"<!DOCTYPE html>\n<html><body><form>Please log in</form></body></html>\n"


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("scene/a.txt", "alpha")
    return buf.getvalue()


ZIP = _zip_bytes()


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes of one server (set per instance through `server.routes`); logs every request."""

    def do_GET(self):  # name fixed by the http.server API
        srv = self.server
        srv.log.append((self.path, self.headers.get("Range"), self.headers.get("Authorization")))
        route = srv.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_response(404)
            self.end_headers()
            return
        route(self)

    def log_message(self, *a):
        pass


def _start(routes: dict) -> http.server.ThreadingHTTPServer:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.routes, srv.log, srv.drops = routes, [], {}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _range_start(h) -> int:
    rng = h.headers.get("Range")
    return int(rng.split("=")[1].rstrip("-")) if rng else 0


def serve(data: bytes, drops: int = 0, length: bool = True, ctype: str = "application/octet-stream"):
    """A route sending `data` (honouring Range); the first `drops` responses close at half."""
    def route(h):
        start = _range_start(h)
        body = data[start:]
        n = h.server.drops.get(h.path, 0)
        h.server.drops[h.path] = n + 1
        if n < drops:
            body = body[: max(0, HALF - start)]
        h.send_response(206 if start else 200)
        h.send_header("Content-Type", ctype)
        if length:
            h.send_header("Content-Length", str(len(data) - start))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body)
        h.close_connection = True
    return route


def needs_auth(data: bytes):
    inner = serve(data)

    def route(h):
        if h.headers.get("Authorization") is None:
            h.send_response(401)
            h.end_headers()
            return
        inner(h)
    return route


def redirect(to: str):
    def route(h):
        h.send_response(302)
        h.send_header("Location", to)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return route


@pytest.fixture()
def servers():
    started = []

    def make(routes: dict) -> tuple[str, http.server.ThreadingHTTPServer]:
        srv = _start(routes)
        started.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}", srv
    yield make
    for srv in started:
        srv.shutdown()
        srv.server_close()


_registry = toy_registry


# ----------------------------------------------------------------------------- item 7
@pytest.mark.parametrize("how", ["env", "netrc"])
def test_credentials_not_sent_to_another_host_after_redirect(servers, tmp_path, monkeypatch, how):
    other, other_srv = servers({"/data.bin": serve(PAYLOAD)})
    # same host name, other port: another origin; and another host name (localhost)
    far = other.replace("127.0.0.1", "localhost")
    base, srv = servers({"/a/data.bin": redirect(other + "/data.bin"), "/b/data.bin": redirect(far + "/data.bin"),
                         "/c/data.bin": redirect("/secret/data.bin"), "/secret/data.bin": needs_auth(PAYLOAD)})
    extra = {}
    if how == "env":
        monkeypatch.setenv("TOY_USER", "alice")
        monkeypatch.setenv("TOY_PASS", "s3cret")
        extra = {"auth": {"user_env": "TOY_USER", "password_env": "TOY_PASS"}}
    else:
        rc = tmp_path / "netrc"
        rc.write_text("machine 127.0.0.1 login alice password s3cret\n")
        rc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(rc))
    for i, leg in enumerate("abc"):
        reg = _registry(tmp_path, [{"name": "data.bin", "urls": [f"{base}/{leg}/data.bin"], "sha256": SHA}], **extra)
        assert dl.download_dataset("toy", reg, tmp_path / f"raw{i}") == {"data.bin": SHA}
    assert [auth is not None for _, _, auth in srv.log] == [True, True, True, True]
    assert [(p, auth) for p, _, auth in other_srv.log] == [("/data.bin", None), ("/data.bin", None)]


def test_same_host_https_upgrade_keeps_credentials():
    keep = dl._keeps_credentials
    assert keep("http://h.org/a", "https://h.org/b") is True
    assert keep("https://h.org/a", "http://h.org/b") is False  # downgrade
    assert keep("https://h.org/a", "https://h.org:8443/b") is False
    assert keep("https://h.org/a", "https://H.org/b") is True
    assert keep("https://h.org/a", "https://evil.org/b") is False


# ----------------------------------------------------------------------------- item 8
def test_filled_placeholder_redacted_in_logs_and_errors(servers, tmp_path, monkeypatch, caplog):
    base, srv = servers({"/data.bin": serve(PAYLOAD)})
    monkeypatch.setenv("RT_TOKEN", "tokPATH123")
    urls = [base + "/{RT_TOKEN}/data.bin", base + "/files/{RT_TOKEN}.bin"]
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": urls, "sha256": SHA}])
    caplog.set_level("DEBUG")
    with pytest.raises(RuntimeError) as e:
        dl.download_dataset("toy", reg, tmp_path / "raw")
    assert [p for p, _, _ in srv.log] == ["/tokPATH123/data.bin", "/files/tokPATH123.bin"]
    assert str(e.value) == (f"toy: every URL failed for data.bin: data.bin: HTTP 404 from "
                            f"{base}/***/data.bin; data.bin: HTTP 404 from {base}/files/***.bin")
    assert "tokPATH123" not in caplog.text
    assert f"HTTP 404 from {base}/***/data.bin" in caplog.text
    assert dl.redact("https://h.org/tokPATH123/x?k=v") == "https://h.org/***/x?k=***"


def test_filled_secret_redacted_when_url_quoted(monkeypatch):
    monkeypatch.setenv("RT_TOKEN", "a b/c")
    url = dl.fill_url("https://h.org/{RT_TOKEN}/x")
    assert url == "https://h.org/a%20b%2Fc/x"
    assert dl.redact(url) == "https://h.org/***/x"
    assert dl.scrub("error near a b/c and a%20b%2Fc") == "error near *** and ***"


# ----------------------------------------------------------------------------- item 5
def test_short_read_keeps_part_and_resumes(servers, tmp_path, caplog):
    base, srv = servers({"/data.bin": serve(PAYLOAD, drops=1)})
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [base + "/data.bin"], "sha256": SHA}])
    caplog.set_level("INFO")
    assert dl.download_dataset("toy", reg, tmp_path / "raw") == {"data.bin": SHA}
    assert [r for _, r, _ in srv.log] == [None, f"bytes={HALF}-"]
    assert f"data.bin: connection closed after {HALF} of {len(PAYLOAD)} bytes; resuming" in caplog.text


def test_short_read_every_time_keeps_part(servers, tmp_path):
    base, srv = servers({"/data.bin": serve(PAYLOAD, drops=99)})
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [base + "/data.bin"], "sha256": None}])
    out = tmp_path / "raw"
    with pytest.raises(RuntimeError) as e:
        dl.download_dataset("toy", reg, out)
    assert str(e.value) == (f"toy: every URL failed for data.bin: data.bin: connection closed after {HALF} "
                            f"of {len(PAYLOAD)} bytes from {base}/data.bin, no progress on resume; "
                            f"the partial file {out / 'data.bin.part'} is kept for the next run")
    assert (out / "data.bin.part").read_bytes() == PAYLOAD[:HALF]
    assert not (out / "data.bin").exists() and not (out / ".verified").exists()
    assert pins.read_pins(tmp_path / "reg.lock.yaml") == {}
    srv.routes["/data.bin"] = serve(PAYLOAD)  # the next run resumes from the kept half
    assert dl.download_dataset("toy", reg, out) == {"data.bin": SHA}
    assert srv.log[-1][1] == f"bytes={HALF}-"


# ----------------------------------------------------------------------------- item 6
def test_registry_size_catches_truncation_without_content_length(servers, tmp_path):
    base, srv = servers({"/data.bin": serve(PAYLOAD[:HALF], length=False)})
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [base + "/data.bin"], "sha256": None,
                                "size": len(PAYLOAD)}])
    out = tmp_path / "raw"
    with pytest.raises(RuntimeError, match=f"connection closed after {HALF} of {len(PAYLOAD)} bytes"):
        dl.download_dataset("toy", reg, out)
    assert pins.read_pins(tmp_path / "reg.lock.yaml") == {}
    assert not (out / ".verified").exists()


def test_registry_size_disagreeing_with_a_complete_body(servers, tmp_path):
    base, _ = servers({"/data.bin": serve(PAYLOAD)})
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [base + "/data.bin"], "sha256": None,
                                "size": len(PAYLOAD) - 1}])
    out = tmp_path / "raw"
    with pytest.raises(ValueError) as e:
        dl.download_dataset("toy", reg, out)
    assert str(e.value) == (f"data.bin: {len(PAYLOAD)} bytes from {base}/data.bin, but the registry "
                            f"gives size {len(PAYLOAD) - 1}; the partial file was removed")
    assert sorted(p.name for p in out.iterdir()) == []
    assert pins.read_pins(tmp_path / "reg.lock.yaml") == {}


def test_unpinned_without_any_length_is_not_pinned(servers, tmp_path):
    base, _ = servers({"/data.bin": serve(PAYLOAD[:HALF], length=False)})
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [base + "/data.bin"], "sha256": None}])
    out = tmp_path / "raw"
    with pytest.raises(ValueError) as e:
        dl.download_dataset("toy", reg, out)
    assert str(e.value) == (f"data.bin: {base}/data.bin sent no Content-Length and the registry gives "
                            "neither size nor sha256, so the download cannot be checked for completeness; "
                            f"add `size` or `sha256` to the registry entry (the partial file "
                            f"{out / 'data.bin.part'} is kept)")
    assert pins.read_pins(tmp_path / "reg.lock.yaml") == {}
    assert not (out / "data.bin").exists() and not (out / ".verified").exists()


@pytest.mark.parametrize("ctype", ["text/html; charset=utf-8", "application/octet-stream"])
def test_html_page_rejected_for_binary_file(servers, tmp_path, ctype):
    base, _ = servers({"/data.bin": serve(LOGIN, ctype=ctype), "/ok.bin": serve(PAYLOAD)})
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [base + "/data.bin"], "sha256": None}])
    out = tmp_path / "raw"
    with pytest.raises(RuntimeError) as e:
        dl.download_dataset("toy", reg, out)
    assert str(e.value) == (f"toy: every URL failed for data.bin: data.bin: {base}/data.bin sent an HTML page "
                            "(a login or error page?) instead of the file; the partial file was removed")
    assert sorted(p.name for p in out.iterdir()) == []
    assert pins.read_pins(tmp_path / "reg.lock.yaml") == {}
    # a mirror that serves the real file is tried next
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [base + "/data.bin", base + "/ok.bin"],
                                "sha256": None}])
    assert dl.download_dataset("toy", reg, out) == {"data.bin": SHA}


def test_pin_only_after_successful_extraction(servers, tmp_path):
    base, srv = servers({"/arch.zip": serve(PAYLOAD)})  # not a zip at all
    reg = _registry(tmp_path, [{"name": "arch.zip", "urls": [base + "/arch.zip"], "sha256": None,
                                "extract": "zip"}])
    out = tmp_path / "raw"
    with pytest.raises(ValueError) as e:
        dl.download_dataset("toy", reg, out)
    assert str(e.value) == (f"{out / 'arch.zip'}: extract (zip) failed: File is not a zip file; the unpinned "
                            "archive was removed so the next run fetches it again")
    assert pins.read_pins(tmp_path / "reg.lock.yaml") == {}
    assert sorted(p.name for p in out.iterdir()) == []
    srv.routes["/arch.zip"] = serve(ZIP)
    sha = hashlib.sha256(ZIP).hexdigest()
    assert dl.download_dataset("toy", reg, out) == {"arch.zip": sha}
    assert pins.read_pins(tmp_path / "reg.lock.yaml") == {"toy": {"arch.zip": sha}}
    assert (out / "scene" / "a.txt").read_text() == "alpha"
    assert json.loads((out / ".verified").read_text())["sha256"] == {"arch.zip": sha}


def test_placed_file_checked_for_size_and_html(tmp_path):
    files = [{"name": "data.bin", "manual": True, "source": "https://example.org/request", "sha256": None,
              "size": len(PAYLOAD)}]
    reg = _registry(tmp_path, files, access="gated", access_note="Accept the licence first.")
    out = tmp_path / "raw"
    out.mkdir()
    (out / "data.bin").write_bytes(PAYLOAD[:HALF])
    with pytest.raises(ValueError) as e:
        dl.download_dataset("toy", reg, out)
    assert str(e.value) == (f"{out / 'data.bin'}: {HALF} bytes, but the registry gives size {len(PAYLOAD)}; the "
                            "file at this path is incomplete or not the registry's (delete it to fetch it again)")
    reg = _registry(tmp_path, [{**files[0], "size": None}], access="gated", access_note="x")
    (out / "data.bin").write_bytes(LOGIN)
    with pytest.raises(ValueError) as e:
        dl.download_dataset("toy", reg, out)
    assert str(e.value) == (f"{out / 'data.bin'}: an HTML page (a login or error page?), not the file; delete "
                            "it and place the real file there")
    assert pins.read_pins(tmp_path / "reg.lock.yaml") == {}
