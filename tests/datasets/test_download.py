"""vlm3.download against a local HTTP server (with Range support) started in the test."""

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

PAYLOAD = bytes(range(256)) * 4000  # 1 024 000 bytes, several read chunks
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("scene/a.txt", "alpha")
        z.writestr("scene/sub/b.txt", "beta")
    return buf.getvalue()


ZIP = _zip_bytes()


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves FILES; honours `Range: bytes=N-`; counts requests; requires auth on /secret."""

    files: dict[str, bytes] = {}
    log: list[tuple[str, str | None, str | None]] = []

    def do_GET(self):  # name fixed by the http.server API
        path = self.path.split("?")[0]
        self.log.append((self.path, self.headers.get("Range"), self.headers.get("Authorization")))
        if path.startswith("/secret") and self.headers.get("Authorization") is None:
            self.send_response(401)
            self.end_headers()
            return
        data = self.files.get(path.replace("/secret", ""))
        if data is None:
            self.send_response(404)
            self.end_headers()
            return
        rng = None if path == "/norange.bin" else self.headers.get("Range")
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *a):
        pass


@pytest.fixture()
def server():
    RangeHandler.files = {"/data.bin": PAYLOAD, "/bad.bin": PAYLOAD[:-1] + b"\x00", "/arch.zip": ZIP,
                          "/norange.bin": PAYLOAD}
    RangeHandler.log = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


_registry = toy_registry


def test_full_download_verifies_and_marks(server, tmp_path):
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [server + "/data.bin"], "sha256": SHA}])
    out = tmp_path / "raw"
    hashes = dl.download_dataset("toy", reg, out)
    assert hashes == {"data.bin": SHA}
    assert (out / "data.bin").read_bytes() == PAYLOAD
    assert not (out / "data.bin.part").exists()
    assert json.loads((out / ".verified").read_text()) == {"dataset": "toy", "sha256": {"data.bin": SHA}}
    # second run: file present and verified, no new request
    n = len(RangeHandler.log)
    dl.download_dataset("toy", reg, out)
    assert len(RangeHandler.log) == n


def test_resume_after_truncated_part(server, tmp_path):
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [server + "/data.bin"], "sha256": SHA}])
    out = tmp_path / "raw"
    out.mkdir()
    (out / "data.bin.part").write_bytes(PAYLOAD[:300_001])
    dl.download_dataset("toy", reg, out)
    assert (out / "data.bin").read_bytes() == PAYLOAD
    assert RangeHandler.log[-1][1] == "bytes=300001-"


def test_server_without_range_support_restarts(server, tmp_path):
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [server + "/norange.bin"], "sha256": SHA}])
    out = tmp_path / "raw"
    out.mkdir()
    (out / "data.bin.part").write_bytes(PAYLOAD[:1000])
    dl.download_dataset("toy", reg, out)
    assert (out / "data.bin").read_bytes() == PAYLOAD  # not the 1000 bytes twice


def test_corrupted_file_detected_and_removed(server, tmp_path):
    reg = _registry(tmp_path, [{"name": "bad.bin", "urls": [server + "/bad.bin"], "sha256": SHA}])
    out = tmp_path / "raw"
    bad = hashlib.sha256(PAYLOAD[:-1] + b"\x00").hexdigest()
    with pytest.raises(ValueError) as e:
        dl.download_dataset("toy", reg, out)
    msg = str(e.value)
    assert "bad.bin" in msg and SHA in msg and bad in msg
    assert sorted(p.name for p in out.iterdir()) == []


def test_unpinned_prints_hash(server, tmp_path, capsys):
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [server + "/data.bin"], "sha256": None,
                                "note": "pin at first download"}])
    dl.download_dataset("toy", reg, tmp_path / "raw")
    assert f"data.bin sha256 {SHA}" in capsys.readouterr().out


def test_gated_file_instructions_then_verification(tmp_path):
    files = [{"name": "data.bin", "manual": True, "source": "https://example.org/request", "sha256": SHA}]
    reg = _registry(tmp_path, files, access="gated", access_note="Accept the licence first.")
    out = tmp_path / "raw"
    with pytest.raises(ValueError, match=r"(?s)https://example.org/request.*place it at: .*data.bin"):
        dl.download_dataset("toy", reg, out)
    assert not (out / ".verified").exists()
    (out / "data.bin").write_bytes(PAYLOAD[:10])
    with pytest.raises(ValueError, match="sha256 mismatch"):
        dl.download_dataset("toy", reg, out)
    (out / "data.bin").write_bytes(PAYLOAD)
    assert dl.download_dataset("toy", reg, out) == {"data.bin": SHA}


def test_zip_extraction_into_place(server, tmp_path):
    sha = hashlib.sha256(ZIP).hexdigest()
    reg = _registry(tmp_path, [{"name": "arch.zip", "urls": [server + "/arch.zip"], "sha256": sha,
                                "extract": "zip"}])
    out = tmp_path / "raw"
    dl.download_dataset("toy", reg, out)
    assert (out / "scene" / "a.txt").read_text() == "alpha"
    assert (out / "scene" / "sub" / "b.txt").read_text() == "beta"
    assert not [p for p in out.iterdir() if p.name.endswith(".extract")]
    assert json.loads((out / ".arch.zip.extracted").read_text()) == ["scene"]


def test_credentials_from_env_and_token_redaction(server, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TOY_USER", "alice")
    monkeypatch.setenv("TOY_PASS", "s3cret")
    monkeypatch.setenv("TOY_TOKEN", "tok123")
    url = server + "/secret/data.bin?token={TOY_TOKEN}"
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [url], "sha256": SHA}],
                    auth={"user_env": "TOY_USER", "password_env": "TOY_PASS"})
    caplog.set_level("DEBUG")
    dl.download_dataset("toy", reg, tmp_path / "raw")
    path, _, auth = RangeHandler.log[-1]
    assert path.endswith("token=tok123") and auth.startswith("Basic ")
    assert "tok123" not in caplog.text and "s3cret" not in caplog.text
    assert dl.redact("https://u:p@h.org/f.zip?token=abc&x=1") == "https://***@h.org/f.zip?token=***&x=***"


def test_missing_credential_env_is_clear(tmp_path, monkeypatch):
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    with pytest.raises(ValueError, match="NOPE_TOKEN"):
        dl.fill_url("https://h.org/x?token={NOPE_TOKEN}")


def test_netrc_credentials(tmp_path, monkeypatch):
    rc = tmp_path / "netrc"
    rc.write_text("machine data.example.org login bob password pw\n")
    rc.chmod(0o600)
    hdr = dl.auth_header("https://data.example.org/f", None, env={"NETRC": str(rc)})
    assert hdr == {"Authorization": "Basic Ym9iOnB3"}  # base64("bob:pw")
    assert dl.auth_header("https://other.org/f", None, env={"NETRC": str(rc)}) == {}


def test_mirror_fallback_and_all_failing(server, tmp_path):
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [server + "/gone.bin", server + "/data.bin"],
                                "sha256": SHA}])
    assert dl.download_dataset("toy", reg, tmp_path / "a") == {"data.bin": SHA}
    reg = _registry(tmp_path, [{"name": "data.bin", "urls": [server + "/gone.bin"], "sha256": SHA}])
    with pytest.raises(RuntimeError, match="every URL failed for data.bin.*HTTP 404"):
        dl.download_dataset("toy", reg, tmp_path / "b")
    assert not (tmp_path / "b" / ".verified").exists()
