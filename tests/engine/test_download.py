"""Downloads against a real HTTP server on 127.0.0.1 that misbehaves on request.

The server serves generated files with known hashes, honours Range (unless told to
ignore it) and, per request, can drop the connection half-way, answer 500 or 404,
stall, or send everything. Under ``/hub/`` it answers as the Hugging Face hub does for
a file in LFS: a redirect to ``/cdn/`` (its storage) carrying the file's sha256 in
``X-Linked-Etag`` and its size in ``X-Linked-Size``, where a test set them. Nothing
here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from parasight_desktop.cli import main
from parasight_desktop.engine import catalog, download
from parasight_desktop.engine.catalog import CatalogEntry
from parasight_desktop.engine.download import (
    DownloadError,
    DownloadProgress,
    LicenceNotAcceptedError,
    download_file,
    download_model,
    parse_linked_etag,
    published_sha256,
)
from parasight_desktop.engine.errors import CancelledError
from tests.conftest import TINY_MODEL

FAST = {"backoff": 0.01, "timeout": 5.0}


def _blob(n: int, seed: int) -> bytes:
    """Deterministic, incompressible-looking bytes."""
    out = bytearray()
    block = seed.to_bytes(4, "big")
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Served:
    path: str
    range: str | None
    behaviour: str
    status: int = 0
    sent: int = 0


@dataclass
class ServerState:
    files: dict[str, bytes]
    plan: list[str] = field(default_factory=list)  # one behaviour per request, then default
    default: str = "ok"
    log: list[Served] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    linked: dict[str, str] = field(default_factory=dict)  # /hub/NAME's X-Linked-Etag
    linked_size: dict[str, int] = field(default_factory=dict)  # default: the true size
    head_allowed: bool = True

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request, in order."""
        return [(r.behaviour if r.behaviour in ("HEAD", "GET hub") else "GET", r.path,
                 r.status) for r in self.log]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, rec: Served, body: bytes) -> None:
        self.wfile.write(body)
        self.wfile.flush()
        rec.sent += len(body)

    def _record(self, behaviour: str) -> Served:
        st = self.server.state
        rec = Served(self.path, self.headers.get("Range"), behaviour)
        with st.lock:
            st.log.append(rec)
        return rec

    def _empty(self, rec: Served, status: int, **headers: str) -> None:
        rec.status = status
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _hub(self, rec: Served) -> None:
        """A redirect to the storage, with the sha256 and size where the test set them."""
        st = self.server.state
        name = self.path.removeprefix("/hub/")
        if name not in st.files:
            self._empty(rec, 404)
            return
        linked = {}
        if name in st.linked:
            linked = {"X_Linked_Etag": st.linked[name],
                      "X_Linked_Size": str(st.linked_size.get(name, len(st.files[name])))}
        self._empty(rec, 302, Location=f"/cdn/{name}", **linked)

    def do_HEAD(self) -> None:
        st = self.server.state
        rec = self._record("HEAD")
        if not st.head_allowed:
            self._empty(rec, 501)
        elif self.path.startswith("/hub/"):
            self._hub(rec)
        else:
            data = st.files.get(self.path.removeprefix("/cdn/").lstrip("/"))
            self._empty(rec, 404) if data is None else self._empty(rec, 200)

    def do_GET(self) -> None:
        st = self.server.state
        if self.path.startswith("/hub/"):
            self._hub(self._record("GET hub"))
            return
        with st.lock:
            behaviour = st.plan.pop(0) if st.plan else st.default
            rec = Served(self.path, self.headers.get("Range"), behaviour)
            st.log.append(rec)
        data = st.files.get(self.path.removeprefix("/cdn/").lstrip("/"))
        if data is None or behaviour in ("404", "500"):
            rec.status = 404 if data is None or behaviour == "404" else 500
            self.send_response(rec.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, status = 0, 200
        if rec.range and behaviour != "ignore_range":
            m = re.fullmatch(r"bytes=(\d+)-", rec.range)
            assert m, rec.range
            start, status = int(m.group(1)), 206
            if start >= len(data):
                rec.status = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        rec.status = status
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if behaviour == "stall":  # headers, then nothing
            self.close_connection = True
            st.release.wait(10)
            return
        if behaviour in ("drop", "stall_half"):  # half the body, then hang up or go quiet
            self._send(rec, body[: len(body) // 2])
            if behaviour == "stall_half":
                st.release.wait(10)
            self.close_connection = True
            return
        self._send(rec, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ServerState

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up on a stalled or cancelled response is expected


@dataclass
class Fixture:
    state: ServerState
    base: str
    files: dict[str, bytes]

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


@pytest.fixture
def server() -> Iterator[Fixture]:
    files = {"a.bin": _blob(600_000, 1), "b.bin": _blob(300_000, 2),
             "c.bin": _blob(90_000, 3), "d.bin": _blob(50_000, 4)}
    state = ServerState(files=files)
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.state = state
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Fixture(state, f"http://127.0.0.1:{httpd.server_address[1]}", files)
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()


def _get(server: Fixture, dest: Path, name: str = "a.bin", **kw: object) -> Path:
    opts: dict[str, object] = {**FAST, **kw}
    return download_file(server.url(name), dest, sha256=_sha(server.files[name]),
                         **opts)  # type: ignore[arg-type]


# -- download_file -----------------------------------------------------------------


def test_download_succeeds_with_progress(server, tmp_path) -> None:
    seen: list[DownloadProgress] = []
    dest = _get(server, tmp_path / "sub" / "a.bin", on_progress=seen.append)
    assert dest.read_bytes() == server.files["a.bin"]
    assert not (tmp_path / "sub" / "a.bin.part").exists()
    assert seen[0].done_bytes == 0 and seen[0].total_bytes == 600_000
    assert seen[-1].verifying and seen[-1].done_bytes == 600_000
    assert all(p.file == "a.bin" for p in seen)
    assert [r.range for r in server.state.log] == [None]


def test_resume_after_a_dropped_connection_uses_range(server, tmp_path) -> None:
    server.state.plan = ["drop"]
    data = server.files["a.bin"]
    dest = _get(server, tmp_path / "a.bin")
    assert dest.read_bytes() == data
    first, second = server.state.log
    assert first.sent == len(data) // 2
    assert second.range == f"bytes={len(data) // 2}-" and second.status == 206
    assert sum(r.sent for r in server.state.log) < 2 * len(data)


def test_server_ignoring_range_restarts_from_zero(server, tmp_path) -> None:
    server.state.default = "ignore_range"
    dest = tmp_path / "a.bin"
    dest.with_suffix(".bin.part").write_bytes(b"garbage from an older, different file")
    assert _get(server, dest).read_bytes() == server.files["a.bin"]
    (req,) = server.state.log
    assert req.range is not None and req.status == 200


def test_complete_part_file_is_verified_after_416(server, tmp_path) -> None:
    dest = tmp_path / "a.bin"
    dest.with_suffix(".bin.part").write_bytes(server.files["a.bin"])
    assert _get(server, dest).read_bytes() == server.files["a.bin"]
    assert [r.status for r in server.state.log] == [416]


def test_wrong_hash_is_rejected_and_nothing_is_kept(server, tmp_path) -> None:
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError) as err:
        download_file(server.url("a.bin"), dest, sha256=_sha(b"something else"), **FAST)
    msg = str(err.value)
    assert "does not match its published sha256" in msg and "run it again" in msg
    assert not dest.exists() and not dest.with_suffix(".bin.part").exists()


def test_404_fails_at_once_naming_the_url(server, tmp_path) -> None:
    with pytest.raises(DownloadError, match="not found") as err:
        download_file(server.url("missing.bin"), tmp_path / "m.bin", sha256="0" * 64, **FAST)
    assert server.url("missing.bin") in str(err.value)
    assert len(server.state.log) == 1  # no retries
    assert list(tmp_path.iterdir()) == []


def test_500_is_retried_until_the_server_recovers(server, tmp_path) -> None:
    server.state.plan = ["500", "500"]
    assert _get(server, tmp_path / "a.bin").read_bytes() == server.files["a.bin"]
    assert [r.status for r in server.state.log] == [500, 500, 200]


def test_500_forever_gives_up_after_the_retries(server, tmp_path) -> None:
    server.state.default = "500"
    with pytest.raises(DownloadError) as err:
        _get(server, tmp_path / "a.bin", retries=2)
    assert len(server.state.log) == 3
    msg = str(err.value)
    assert "HTTP 500" in msg and "3 failed tries in a row" in msg and "resumes" in msg
    assert not (tmp_path / "a.bin").exists()


def test_a_stalled_server_times_out_is_retried_then_fails(server, tmp_path) -> None:
    server.state.default = "stall"
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="timed out.*resumes from where it stopped"):
        _get(server, tmp_path / "a.bin", retries=1, timeout=0.4)
    assert len(server.state.log) == 2
    assert time.monotonic() - t0 < 5


def test_a_stall_mid_file_resumes_where_it_stopped(server, tmp_path) -> None:
    server.state.plan = ["stall_half"]
    data = server.files["a.bin"]
    assert _get(server, tmp_path / "a.bin", timeout=0.4).read_bytes() == data
    assert server.state.log[1].range == f"bytes={len(data) // 2}-"


def test_cancel_keeps_the_part_and_a_later_call_resumes(server, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(download, "PROGRESS_INTERVAL_S", 0.0)  # report every read
    monkeypatch.setattr(download, "CHUNK", 16_384)
    cancel = threading.Event()
    at_cancel: list[int] = []

    def stop_after_first_bytes(p: DownloadProgress) -> None:
        if p.done_bytes > 0 and not cancel.is_set():
            at_cancel.append(p.done_bytes)
            cancel.set()

    dest = tmp_path / "a.bin"
    part = dest.with_suffix(".bin.part")
    with pytest.raises(CancelledError, match="resumes"):
        _get(server, dest, on_progress=stop_after_first_bytes, cancel=cancel)
    assert not dest.exists()
    assert part.stat().st_size == at_cancel[0]  # stopped within the read that saw it
    assert 0 < at_cancel[0] < len(server.files["a.bin"])
    assert _get(server, dest).read_bytes() == server.files["a.bin"]
    assert server.state.log[-1].range == f"bytes={at_cancel[0]}-"


def test_cancel_before_start_fetches_nothing(server, tmp_path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        _get(server, tmp_path / "a.bin", cancel=cancel)
    assert server.state.log == []


def test_not_enough_disk_space_fails_before_writing(server, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda _p: shutil._ntuple_diskusage(10**9, 10**9 - 5000, 5000))
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError) as err:
        _get(server, dest)
    msg = str(err.value)
    assert "Not enough disk space" in msg and "600.0 kB" in msg and "5.0 kB is free" in msg
    assert list(tmp_path.iterdir()) == []
    assert len(server.state.log) == 1  # not retried


def test_a_complete_file_is_verified_not_fetched_again(server, tmp_path) -> None:
    dest = tmp_path / "a.bin"
    dest.write_bytes(server.files["a.bin"])
    assert _get(server, dest) == dest
    assert server.state.log == []


def test_a_damaged_file_at_dest_is_replaced(server, tmp_path) -> None:
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"x" * 600_000)
    assert _get(server, dest).read_bytes() == server.files["a.bin"]
    assert len(server.state.log) == 1


def test_a_size_the_server_contradicts_is_refused(server, tmp_path) -> None:
    with pytest.raises(DownloadError, match="different file"):
        _get(server, tmp_path / "a.bin", size=123)
    assert not (tmp_path / "a.bin.part").exists()


def test_speed_is_measured_over_a_sliding_window(monkeypatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(download.time, "monotonic", lambda: clock[0])
    seen: list[DownloadProgress] = []
    meter = download._Meter("f", seen.append)
    meter.start(0, 100_000_000)
    for second in range(1, 21):  # 1 MB/s for 10 s, then 4 MB/s for 10 s
        clock[0] = float(second)
        meter.update(second * 1_000_000 if second <= 10 else 10_000_000 + (second - 10) * 4_000_000)
    last = seen[-1]
    assert last.speed_bps == pytest.approx(4_000_000, rel=0.01)
    assert last.eta_s == pytest.approx((100_000_000 - last.done_bytes) / 4_000_000, rel=0.01)


# -- a sha256 the server publishes (the hub's X-Linked-Etag) ---------------------------


@pytest.mark.parametrize("form", ['"{}"', "{}", 'W/"{}"', '"{}"'.upper()])
def test_the_hub_header_is_read_in_each_form(form) -> None:
    sha = _sha(b"x")
    assert parse_linked_etag(form.format(sha.upper() if form.isupper() else sha)) == sha


@pytest.mark.parametrize("value", [None, "", '"abc"', '"' + "a" * 40 + '"', "z" * 64])
def test_what_is_not_a_sha256_is_no_header(value) -> None:
    assert parse_linked_etag(value) is None


def test_an_unpinned_file_is_checked_against_the_hubs_sha256(server, tmp_path) -> None:
    data = server.files["a.bin"]
    server.state.linked["a.bin"] = f'"{_sha(data)}"'
    dest = download_file(server.url("hub/a.bin"), tmp_path / "a.bin", sha256="", **FAST)
    assert dest.read_bytes() == data
    # Asked first without following the redirect to the storage; then fetched from it.
    assert server.state.requests() == [("HEAD", "/hub/a.bin", 302),
                                       ("GET hub", "/hub/a.bin", 302),
                                       ("GET", "/cdn/a.bin", 200)]


def test_the_published_size_is_used_and_checked(server, tmp_path) -> None:
    server.state.linked["a.bin"] = _sha(server.files["a.bin"])
    server.state.linked_size["a.bin"] = 123
    with pytest.raises(DownloadError, match="says a.bin is 123 bytes but it should be 600000"):
        download_file(server.url("hub/a.bin"), tmp_path / "a.bin", sha256="", size=600_000,
                      **FAST)
    assert [m for m, _, _ in server.state.requests()] == ["HEAD"]  # nothing fetched


@pytest.mark.parametrize("path", ["a.bin", "hub/a.bin"])
def test_no_sha256_anywhere_is_refused_before_any_byte(server, tmp_path, path) -> None:
    # A plain server, or the hub's redirect without the header (a file not in LFS).
    with pytest.raises(DownloadError) as err:
        download_file(server.url(path), tmp_path / "a.bin", sha256="", **FAST)
    msg = str(err.value)
    assert "no sha256 to check it against" in msg and "unverified file is never kept" in msg
    assert "X-Linked-Etag" in msg
    assert all(m != "GET" for m, _, _ in server.state.requests())
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_published_sha256_deletes_the_download(server, tmp_path) -> None:
    server.state.linked["a.bin"] = f'"{_sha(b"another file")}"'
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError) as err:
        download_file(server.url("hub/a.bin"), dest, sha256="", **FAST)
    msg = str(err.value)
    assert "does not match the sha256 the server published for it" in msg
    assert "download was deleted" in msg
    assert list(tmp_path.iterdir()) == []


def test_a_resumed_download_is_checked_whole_against_the_header(server, tmp_path) -> None:
    data = server.files["a.bin"]
    server.state.linked["a.bin"] = _sha(data)
    server.state.plan = ["drop"]  # the storage drops the first connection half-way
    dest = download_file(server.url("hub/a.bin"), tmp_path / "a.bin", sha256="", **FAST)
    assert dest.read_bytes() == data
    cdn = [r for r in server.state.log if r.path == "/cdn/a.bin"]
    assert [r.range for r in cdn] == [None, f"bytes={len(data) // 2}-"]  # through the hub
    assert cdn[1].status == 206


def test_a_later_call_resumes_and_asks_for_the_sha256_again(server, tmp_path,
                                                            monkeypatch) -> None:
    monkeypatch.setattr(download, "PROGRESS_INTERVAL_S", 0.0)
    monkeypatch.setattr(download, "CHUNK", 16_384)
    data = server.files["a.bin"]
    server.state.linked["a.bin"] = _sha(data)
    cancel = threading.Event()

    def stop(p: DownloadProgress) -> None:
        if p.done_bytes > 0:
            cancel.set()

    dest = tmp_path / "a.bin"
    with pytest.raises(CancelledError):
        download_file(server.url("hub/a.bin"), dest, sha256="", on_progress=stop,
                      cancel=cancel, **FAST)
    kept = dest.with_suffix(".bin.part").stat().st_size
    server.state.log.clear()
    download_file(server.url("hub/a.bin"), dest, sha256="", **FAST)
    assert dest.read_bytes() == data
    assert server.state.requests()[0] == ("HEAD", "/hub/a.bin", 302)
    assert server.state.log[-1].range == f"bytes={kept}-"


def test_a_complete_part_is_still_checked_against_the_header(server, tmp_path) -> None:
    server.state.linked["a.bin"] = _sha(server.files["a.bin"])
    dest = tmp_path / "a.bin"
    dest.with_suffix(".bin.part").write_bytes(server.files["a.bin"])
    assert download_file(server.url("hub/a.bin"), dest, sha256="", **FAST).is_file()
    assert [m for m, _, _ in server.state.requests()] == ["HEAD"]  # size known: no GET


def test_a_server_without_head_is_asked_with_a_one_byte_get(server, tmp_path) -> None:
    server.state.head_allowed = False
    server.state.linked["b.bin"] = _sha(server.files["b.bin"])
    found = published_sha256(server.url("hub/b.bin"), **FAST)
    assert found is not None
    assert (found.sha256, found.size) == (_sha(server.files["b.bin"]), 300_000)
    (head, get) = server.state.log
    assert (head.behaviour, head.status) == ("HEAD", 501)
    assert (get.behaviour, get.range, get.status) == ("GET hub", "bytes=0-0", 302)


def test_asking_for_the_sha256_retries_server_errors(server, tmp_path) -> None:
    server.state.head_allowed = False
    server.state.default = "500"  # the one-byte GET of a plain file fails
    with pytest.raises(DownloadError, match=r"Could not ask .* for its sha256.*HTTP 500"):
        published_sha256(server.url("a.bin"), retries=1, **FAST)


# -- download_model ----------------------------------------------------------------


def _entry(server: Fixture) -> CatalogEntry:
    """sd-v1.4 as the catalogue has it, but with the server's files and hashes."""
    real = catalog.get_entry("sd-v1.4")
    names = {"text_encoder": "b.bin", "diffusion_model": "a.bin", "decoder": "c.bin",
             "image_encoder": "d.bin"}
    files = tuple(
        replace(f, filename=names[f.role], url=f"https://unreachable.invalid/{names[f.role]}",
                sha256=_sha(server.files[names[f.role]]), approx_size=None)
        for f in real.files
    )
    return replace(real, files=files)


def test_download_model_needs_the_licence_accepted(server) -> None:
    with pytest.raises(LicenceNotAcceptedError, match="--accept-licence"):
        download_model(_entry(server), accept_licence=False, mirror=server.base)
    assert server.state.log == []


def test_download_model_fetches_the_required_files_through_the_mirror(server) -> None:
    entry = _entry(server)
    paths = download_model(entry, accept_licence=True, mirror=server.base, **FAST)
    assert set(paths) == {"text_encoder", "diffusion_model", "decoder"}
    assert paths["decoder"] == catalog.downloads_dir("sd-v1.4") / "c.bin"
    assert paths["diffusion_model"].read_bytes() == server.files["a.bin"]
    paths = download_model(entry, accept_licence=True, include_optional=True,
                           mirror=server.base, **FAST)
    assert paths["image_encoder"].read_bytes() == server.files["d.bin"]
    assert [r.path for r in server.state.log] == ["/b.bin", "/a.bin", "/c.bin", "/d.bin"]


def test_download_model_checks_room_for_all_files_first(server, monkeypatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda _p: shutil._ntuple_diskusage(10**12, 10**12 - 10**9, 10**9))
    with pytest.raises(DownloadError, match=r"needs 4\.1 GB more .* 1\.0 GB is free"):
        download_model(catalog.get_entry("sd-v1.4"), accept_licence=True, mirror=server.base)
    assert server.state.log == []


# -- the command line --------------------------------------------------------------


def test_cli_download_without_accepting_shows_the_licence(capsys) -> None:
    assert main(["models", "download", "sd-v1.4"]) == 2
    out, err = capsys.readouterr()
    assert "CreativeML Open RAIL-M" in out and "Use Restrictions" in out
    assert "about 4.1 GB" in out and "free there" in out
    assert len(err.strip().splitlines()) == 1
    assert "parasight models download sd-v1.4 --accept-licence" in err
    assert not catalog.downloads_dir("sd-v1.4").exists()


def test_cli_download_end_to_end_through_the_mirror(server, monkeypatch, capsys) -> None:
    monkeypatch.setitem(catalog.CATALOG, "sd-v1.4", _entry(server))
    monkeypatch.setenv(catalog.MIRROR_ENV, server.base + "/")
    server.state.plan = ["ok", "drop"]  # the UNet's connection drops once
    assert main(["models", "download", "sd-v1.4", "--accept-licence"]) == 0
    out, err = capsys.readouterr()
    folder = catalog.downloads_dir("sd-v1.4")
    assert str(folder) in out and "parasight models convert sd-v1.4" in out
    assert "a.bin  600.0 kB of 600.0 kB" in err and "checking sha256" in err
    for name in ("a.bin", "b.bin", "c.bin"):
        assert (folder / name).read_bytes() == server.files[name]
    assert not (folder / "d.bin").exists()
    assert main(["models", "download", "sd-v1.4", "--accept-licence",
                 "--include-image-encoder"]) == 0
    assert (folder / "d.bin").read_bytes() == server.files["d.bin"]
    assert [r.path for r in server.state.log][-1] == "/d.bin"  # the rest was not fetched again


def test_cli_download_failure_is_one_line(server, monkeypatch, capsys) -> None:
    entry = _entry(server)
    bad = replace(entry.files[0], filename="missing.bin")
    monkeypatch.setitem(catalog.CATALOG, "sd-v1.4", replace(entry, files=(bad,)))
    monkeypatch.setenv(catalog.MIRROR_ENV, server.base)
    assert main(["models", "download", "sd-v1.4", "--accept-licence"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("parasight: ") and "not found" in err


def test_cli_download_unknown_model_exits_2(capsys) -> None:
    assert main(["models", "download", "sd-v9"]) == 2
    assert "sd-v1.4" in capsys.readouterr().err


def _install(name: str) -> tuple[Path, Path]:
    data = Path(os.environ["PARASIGHT_DATA_DIR"])
    model = data / "models" / name
    shutil.copytree(TINY_MODEL, model)
    fetched = data / "downloads" / name
    fetched.mkdir(parents=True)
    (fetched / "x.h5").write_bytes(b"0" * 1000)
    return model, fetched


def test_cli_remove_deletes_the_model_and_keeps_downloads(capsys) -> None:
    model, fetched = _install("tiny-model")
    assert main(["models", "remove", "tiny-model"]) == 0
    assert not model.exists() and fetched.is_dir()
    assert f"Removed {model}" in capsys.readouterr().out
    assert main(["models", "remove", "tiny-model"]) == 2
    assert "--downloads" in capsys.readouterr().err
    assert main(["models", "remove", "tiny-model", "--downloads"]) == 0
    assert not fetched.exists()


def test_cli_remove_refuses_the_embedded_model(tmp_path, monkeypatch, capsys) -> None:
    shutil.copytree(TINY_MODEL, tmp_path / "models" / "parasight-mini")
    monkeypatch.setenv("PARASIGHT_RESOURCES", str(tmp_path))
    assert main(["models", "remove", "parasight-mini"]) == 2
    err = capsys.readouterr().err
    assert "embedded model" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "models" / "parasight-mini" / "manifest.json").is_file()


@pytest.mark.parametrize("name", ["nothing-here", "..", "a/b"])
def test_cli_remove_unknown_or_odd_names_exit_2(name, capsys) -> None:
    assert main(["models", "remove", name]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# -- add-ons: files the catalogue cannot pin, checked against the hub and recorded ------


def _addon(server: Fixture) -> CatalogEntry:
    """TAESD as the catalogue has it (no sha256), with the server's files and sizes."""
    real = catalog.get_entry("taesd")
    names = {"decoder": "c.bin", "encoder": "d.bin"}
    for name in names.values():
        server.state.linked[name] = f'"{_sha(server.files[name])}"'
    files = tuple(replace(f, filename=names[f.role], url=f.url.rsplit("/", 1)[0] + "/" +
                          names[f.role], size=len(server.files[names[f.role]]))
                  for f in real.files)
    return replace(real, files=files)


def test_download_model_records_what_the_hub_published(server, monkeypatch) -> None:
    entry = _addon(server)
    monkeypatch.setitem(catalog.ADDONS, "taesd", entry)
    assert all(f.sha256 == "" for f in entry.files)
    paths = download_model(entry, accept_licence=True, mirror=server.base + "/hub", **FAST)
    folder = catalog.downloads_dir("taesd")
    assert paths == {"decoder": folder / "c.bin", "encoder": folder / "d.bin"}
    record = json.loads((folder / catalog.HASHES_FILE).read_text())
    assert record["files"]["c.bin"] == {
        "sha256": _sha(server.files["c.bin"]), "size": 90_000,
        "url": entry.file("decoder").url, "source": "X-Linked-Etag"}
    assert sorted(p.name for p in folder.iterdir()) == ["c.bin", "d.bin", "hashes.json"]
    assert catalog.downloaded_path("taesd", "decoder") == folder / "c.bin"

    # Downloaded and recorded: verified again without asking the server.
    server.state.log.clear()
    download_model(entry, accept_licence=True, mirror=server.base + "/hub", **FAST)
    assert server.state.log == []

    # A damaged file is no longer "downloaded", and is fetched again against the record.
    (folder / "c.bin").write_bytes(b"\0" * 90_000)
    assert catalog.downloaded_path("taesd", "decoder") is None
    assert catalog.downloaded_path("taesd", "decoder", verify=False) == folder / "c.bin"
    server.state.linked.clear()  # the record is what it is checked against now
    download_model(entry, accept_licence=True, mirror=server.base + "/hub", **FAST)
    assert (folder / "c.bin").read_bytes() == server.files["c.bin"]
    assert [m for m, _, _ in server.state.requests()] == ["GET hub", "GET"]


def test_download_model_refuses_an_addon_the_mirror_cannot_vouch_for(server,
                                                                      monkeypatch) -> None:
    entry = _addon(server)
    with pytest.raises(DownloadError, match="must pass on the model hub's X-Linked-Etag"):
        download_model(entry, accept_licence=True, mirror=server.base, **FAST)  # no /hub
    assert not catalog.downloads_dir("taesd").exists()


def test_cli_downloads_an_addon_and_offers_no_conversion(server, monkeypatch, capsys) -> None:
    monkeypatch.setitem(catalog.ADDONS, "taesd", _addon(server))
    assert main(["models", "download", "taesd"]) == 2
    out, err = capsys.readouterr()
    assert "Copyright (c) 2023 Ollin Boer Bohan" in out and "--accept-licence" in err
    monkeypatch.setenv(catalog.MIRROR_ENV, server.base + "/hub")
    assert main(["models", "download", "taesd", "--accept-licence"]) == 0
    out, err = capsys.readouterr()
    assert "not converted on its own" in out and "models convert" not in out
    assert "c.bin" in out and "checking sha256" in err
