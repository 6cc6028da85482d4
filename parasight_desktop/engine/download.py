"""Model downloads that survive a bad connection: resume, verify, retry, cancel.

A file is fetched into ``<dest>.part`` and renamed to ``dest`` only once its sha256
matches, so ``dest`` is either absent or complete. Where the catalogue has no sha256
for a file, the expected one is asked of the server first (a HEAD request, as
huggingface_hub's ``get_hf_file_metadata`` does: the hub answers a file stored in LFS
with its sha256 in ``X-Linked-Etag`` and its size in ``X-Linked-Size``); a server that
does not say is refused, since an unverified file is never kept. An interrupted
download resumes from the end of the part file with an HTTP Range request. Server errors (5xx),
dropped connections and stalls are retried with exponential backoff; a missing file
(404) or a hash mismatch is not, because trying again cannot help. Standard library
networking only (urllib), so the runtime carries no HTTP dependency.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from .catalog import (
    MIRROR_ENV,
    CatalogEntry,
    downloads_dir,
    expected_hash,
    mirror_from_env,
    record_hash,
)
from .errors import CancelledError, InputError, ParaSightError
from .fileio import sha256_file
from .store import builtin_models_dir, user_models_dir

CHUNK = 256 * 1024  # the most read per step; cancel is checked between steps
DISK_MARGIN = 100_000_000  # bytes kept free beyond what a download still needs
SPEED_WINDOW_S = 5.0  # speed is measured over the last few seconds, not since the start
PROGRESS_INTERVAL_S = 0.1  # at most this often, plus once at each start and end
MAX_BACKOFF_S = 60.0
USER_AGENT = "ParaSight-Desktop/0.1 (+urllib)"
LINKED_ETAG = "X-Linked-Etag"  # the hub: an LFS file's sha256
LINKED_SIZE = "X-Linked-Size"  # the hub: an LFS file's size in bytes
MAX_REDIRECTS = 10


class DownloadError(ParaSightError):
    """A download that failed; the message says what happened and what to do."""


class LicenceNotAcceptedError(InputError):
    """A model's licence must be accepted before it is downloaded."""


@dataclass(frozen=True)
class DownloadProgress:
    """Where one file's download stands. ``total_bytes`` is ``None`` when unknown."""

    file: str
    done_bytes: int
    total_bytes: int | None
    speed_bps: float
    eta_s: float | None
    verifying: bool = False  # all bytes are in; the sha256 is being checked


ProgressCallback = Callable[[DownloadProgress], None]


def format_bytes(n: float) -> str:
    """Decimal units, as disks and download sites count: ``4.1 GB``."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds ``folder`` (or its nearest existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def check_disk_space(folder: Path, needed: int, what: str, *, freed: int = 0) -> None:
    """Raise :class:`DownloadError` unless ``needed`` bytes (plus a margin) fit in ``folder``.

    ``freed`` is room the download itself will release first (a part file it restarts).
    """
    free = free_bytes(folder) + freed
    if needed + DISK_MARGIN > free:
        raise DownloadError(
            f"Not enough disk space for {what}: it needs {format_bytes(needed)} more in "
            f"{folder} (plus {format_bytes(DISK_MARGIN)} to spare) and "
            f"{format_bytes(free)} is free. Free some space and run the download again."
        )


class _Transient(Exception):
    """A failure worth retrying (server error, dropped connection, stall)."""


class _Meter:
    """Turns byte counts into throttled :class:`DownloadProgress` reports."""

    def __init__(self, file: str, callback: ProgressCallback | None) -> None:
        self.file = file
        self.callback = callback
        self.total: int | None = None
        self._samples: deque[tuple[float, int]] = deque()
        self._last_emit = float("-inf")

    def start(self, done: int, total: int | None) -> None:
        self.total = total
        self._samples.clear()  # a new connection: earlier bytes say nothing of its speed
        self.update(done, force=True)

    def update(self, done: int, *, force: bool = False, verifying: bool = False) -> None:
        now = time.monotonic()
        samples = self._samples
        samples.append((now, done))
        while len(samples) > 2 and now - samples[1][0] >= SPEED_WINDOW_S:
            samples.popleft()
        if self.callback is None or (not force and now - self._last_emit < PROGRESS_INTERVAL_S):
            return
        self._last_emit = now
        t0, d0 = samples[0]
        speed = (done - d0) / (now - t0) if now > t0 else 0.0
        eta = None
        if self.total is not None and speed > 0:
            eta = max(self.total - done, 0) / speed
        self.callback(DownloadProgress(self.file, done, self.total, speed, eta, verifying))


def _part_size(part: Path) -> int:
    try:
        return part.stat().st_size
    except FileNotFoundError:
        return 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, str):
        return _reason(exc.reason)
    if isinstance(exc, TimeoutError):
        return "the server stopped sending (timed out)"
    if isinstance(exc, (ConnectionError, http.client.RemoteDisconnected,
                        http.client.IncompleteRead)):
        return "the connection was dropped"
    text = str(exc) or type(exc).__name__
    return f"network error: {text}"


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from a ``Content-Range`` header; ``None`` where absent."""
    m = _CONTENT_RANGE.match(value or "")
    if not m:
        return None, None
    return int(m.group(1)), (None if m.group(3) == "*" else int(m.group(3)))


def _cancelled(part: Path, have: int) -> CancelledError:
    return CancelledError(
        f"Download cancelled. The {format_bytes(have)} fetched so far are kept in {part}; "
        "downloading again resumes from there."
    )


def _attempt(url: str, part: Path, size: int | None, timeout: float,
             cancel: threading.Event | None, meter: _Meter) -> None:
    """One request: append what the server sends to ``part``.

    Returns when the server has sent everything it will; raises :class:`_Transient`
    for what a retry may fix and :class:`DownloadError` for what it cannot.
    """
    # 1. What we already have decides the request.
    have = _part_size(part)
    if size is not None and have > size:
        part.unlink()  # longer than the file can be: not a prefix of it
        have = 0
    if size is not None and have == size:
        return  # complete; the hash decides
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"

    # 2. Ask; sort the failures into final and retryable.
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            return  # nothing after our last byte: the part is complete; the hash decides
        if exc.code in (404, 410):
            raise DownloadError(
                f"{url} was not found (HTTP {exc.code}). Check the address, or the mirror "
                f"set in {MIRROR_ENV}; trying again will not help."
            ) from None
        if exc.code >= 500 or exc.code in (408, 425, 429):
            raise _Transient(f"the server answered HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(
            f"{url} refused the download (HTTP {exc.code} {exc.reason})."
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _Transient(_reason(exc)) from exc

    with resp:
        # 3. Resume (206) or start over (200: the server ignored the Range).
        length_header = resp.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        freed = 0
        if resp.status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != have:
                part.unlink(missing_ok=True)  # cannot splice safely; start over next time
                raise _Transient("the server resumed from the wrong place")
            if total is None and length is not None:
                total = have + length
            mode = "ab"
        elif resp.status == 200:
            freed, have, total, mode = have, 0, length, "wb"
        else:
            raise _Transient(f"the server answered HTTP {resp.status}")
        if size is not None and total is not None and total != size:
            raise DownloadError(
                f"{url} is {total} bytes but {part.name[:-5]} should be {size}: the server "
                "offers a different file. Check the address or the mirror."
            )
        if total is None:
            total = size

        # 4. Room for the rest, before the first byte is written.
        check_disk_space(part.parent, 0 if total is None else total - have,
                         part.name[:-5], freed=freed)
        meter.start(have, total)

        # 5. Copy, checking for cancel between reads. Network errors become _Transient
        # inside; an OSError out of here is the disk's (open, write or the final flush).
        try:
            with open(part, mode) as f:
                while True:
                    if cancel is not None and cancel.is_set():
                        raise _cancelled(part, have)
                    try:
                        chunk = resp.read1(CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise _Transient(_reason(exc)) from exc
                    if not chunk:
                        break
                    f.write(chunk)
                    have += len(chunk)
                    meter.update(have)
        except OSError as exc:
            raise DownloadError(
                f"Cannot write {part}: {exc.strerror or exc}. Check that the folder is "
                "writable and has free space; what was downloaded is kept and the next "
                "download resumes from there."
            ) from exc
        meter.update(have, force=True)
        if total is not None and have < total:
            raise _Transient(
                f"the connection closed after {format_bytes(have)} of {format_bytes(total)}"
            )


@dataclass(frozen=True)
class PublishedHash:
    """The sha256 (and size, if said) a server publishes for a file."""

    sha256: str
    size: int | None


_SHA256 = re.compile(r"[0-9a-f]{64}")
_REDIRECTS = (301, 302, 303, 307, 308)


def parse_linked_etag(value: str | None) -> str | None:
    """The sha256 in an ``X-Linked-Etag`` value (quoted or not, ``W/`` or not), or ``None``.

    Anything but 64 hex digits is not a sha256 (a git blob id, say) and counts as absent.
    """
    text = (value or "").strip()
    if text[:2] in ("W/", "w/"):
        text = text[2:].strip()
    text = text.strip('"').lower()
    return text if _SHA256.fullmatch(text) else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects come back as they are: the hub's headers are on the redirect itself."""

    def redirect_request(self, req: urllib.request.Request, fp: object, code: int, msg: str,
                         headers: Message, newurl: str) -> None:
        return None


_NO_REDIRECT = urllib.request.build_opener(_NoRedirect)
_CANCELLED_EARLY = ("Download cancelled while asking for the file's sha256. Anything fetched "
                    "earlier is kept; downloading again resumes from there.")


def _probe_once(url: str, method: str, timeout: float) -> tuple[PublishedHash | None, int]:
    """Follow ``url``'s redirects with ``method`` until a response names a sha256.

    Stops at the first response with an ``X-Linked-Etag`` (on the hub, the redirect to
    its storage, which is not asked), else at the final one. Returns what it found and
    the last status.
    """
    headers_out = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if method == "GET":
        headers_out["Range"] = "bytes=0-0"  # only the headers are wanted
    for _ in range(MAX_REDIRECTS + 1):
        request = urllib.request.Request(url, headers=headers_out, method=method)
        try:
            with _NO_REDIRECT.open(request, timeout=timeout) as resp:
                status, headers = resp.status, resp.headers
        except urllib.error.HTTPError as exc:
            status, headers = exc.code, exc.headers
            exc.close()
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _Transient(_reason(exc)) from exc
        sha = parse_linked_etag(headers.get(LINKED_ETAG)) if headers is not None else None
        if sha is not None:
            size_text = (headers.get(LINKED_SIZE) or "").strip()
            return PublishedHash(sha, int(size_text) if size_text.isdigit() else None), status
        location = headers.get("Location") if headers is not None else None
        if status in _REDIRECTS and location:
            url = urllib.parse.urljoin(url, location)
            continue
        if status in (404, 410):
            raise DownloadError(
                f"{url} was not found (HTTP {status}). Check the address, or the mirror "
                f"set in {MIRROR_ENV}; trying again will not help."
            )
        if (status >= 500 and status != 501) or status in (408, 425, 429):
            raise _Transient(f"the server answered HTTP {status}")
        return None, status
    raise DownloadError(f"{url} redirects more than {MAX_REDIRECTS} times; check the address.")


def published_sha256(url: str, *, timeout: float = 30.0, retries: int = 5,
                     backoff: float = 1.0,
                     cancel: threading.Event | None = None) -> PublishedHash | None:
    """The sha256 the server publishes for ``url`` (the hub's ``X-Linked-Etag``), or ``None``.

    Asks with HEAD, or with a one-byte GET where the server does not take HEAD (405,
    501). Server errors and dropped connections are retried as downloads are.
    """
    failures = 0
    while True:
        if cancel is not None and cancel.is_set():
            raise CancelledError(_CANCELLED_EARLY)
        try:
            found, status = _probe_once(url, "HEAD", timeout)
            if found is None and status in (405, 501):
                found, _ = _probe_once(url, "GET", timeout)
            return found
        except _Transient as exc:
            failures += 1
            if failures > retries:
                raise DownloadError(
                    f"Could not ask {url} for its sha256: {exc} ({retries + 1} failed tries "
                    "in a row). Check your connection and run the download again."
                ) from None
            delay = min(backoff * 2 ** (failures - 1), MAX_BACKOFF_S)
            if cancel is not None:
                if cancel.wait(delay):
                    raise CancelledError(_CANCELLED_EARLY) from None
            else:
                time.sleep(delay)


def _require_published(url: str, name: str, size: int | None, *, timeout: float,
                       retries: int, backoff: float,
                       cancel: threading.Event | None) -> PublishedHash:
    """The server's sha256 for ``url``, checked against ``size``; refuse a file without one."""
    found = published_sha256(url, timeout=timeout, retries=retries, backoff=backoff,
                             cancel=cancel)
    if found is None:
        raise DownloadError(
            f"{name} has no sha256 to check it against: ParaSight's catalogue does not pin "
            f"one and {url} does not publish one (no {LINKED_ETAG} header), so it was not "
            f"downloaded: an unverified file is never kept. If you use a mirror "
            f"({MIRROR_ENV}), it must pass on the model hub's {LINKED_ETAG} and "
            f"{LINKED_SIZE} headers."
        )
    if size is not None and found.size is not None and found.size != size:
        raise DownloadError(
            f"{url} says {name} is {found.size} bytes but it should be {size}: the server "
            "offers a different file. Check the address or the mirror."
        )
    return found


def download_file(url: str, dest: Path, *, sha256: str, size: int | None = None,
                  on_progress: ProgressCallback | None = None,
                  cancel: threading.Event | None = None, retries: int = 5,
                  timeout: float = 30.0, backoff: float = 1.0) -> Path:
    """Download ``url`` to ``dest`` and check its sha256; return ``dest``.

    An empty ``sha256`` means "the one the server publishes" (:func:`published_sha256`):
    asked before anything is fetched, and the file is refused if there is none.
    A file already at ``dest`` with the right hash is kept. Transient failures are
    retried up to ``retries`` times in a row, waiting ``backoff``, then twice as long
    each time; an attempt that brought new bytes resets the count and reconnects at
    once. Cancelling raises :class:`CancelledError` within one read and keeps the
    part file for the next call to resume.
    """
    return _download(url, dest, sha256=sha256, size=size, on_progress=on_progress,
                     cancel=cancel, retries=retries, timeout=timeout, backoff=backoff)[0]


def _download(url: str, dest: Path, *, sha256: str, size: int | None,
              on_progress: ProgressCallback | None, cancel: threading.Event | None,
              retries: int, timeout: float, backoff: float) -> tuple[Path, str]:
    """:func:`download_file`, also returning the sha256 the file was checked against."""
    dest = Path(dest)
    want = sha256.lower()
    published = not want  # the server's word, not the catalogue's
    if published:
        found = _require_published(url, dest.name, size, timeout=timeout, retries=retries,
                                   backoff=backoff, cancel=cancel)
        want = found.sha256
        size = size if size is not None else found.size
    part = dest.with_suffix(dest.suffix + ".part")
    meter = _Meter(dest.name, on_progress)

    # 1. Already here and intact: nothing to fetch.
    if dest.is_file() and (size is None or dest.stat().st_size == size):
        done = dest.stat().st_size
        meter.start(done, done)
        meter.update(done, force=True, verifying=True)
        if sha256_file(dest) == want:
            part.unlink(missing_ok=True)
            return dest, want
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"Cannot create {dest.parent}: {exc.strerror}.") from exc

    # 2. Fetch, resuming and retrying.
    failures = 0
    while True:
        if cancel is not None and cancel.is_set():
            raise _cancelled(part, _part_size(part))
        before = _part_size(part)
        try:
            _attempt(url, part, size, timeout, cancel, meter)
            break
        except _Transient as exc:
            after = _part_size(part)
            failures = 0 if after > before else failures + 1
            if failures > retries:
                kept = (f"The {format_bytes(after)} that arrived are kept in {part}; "
                        if after else "")
                raise DownloadError(
                    f"Could not download {dest.name} from {url}: {exc} ({retries + 1} failed "
                    f"tries in a row). {kept}Check your connection and run the download again: it "
                    "resumes from where it stopped."
                ) from None
            # An attempt that brought bytes reconnects at once; failures in a row back off.
            delay = min(backoff * 2 ** (failures - 1), MAX_BACKOFF_S) if failures else 0.0
            if cancel is not None:
                if cancel.wait(delay):
                    raise _cancelled(part, after) from None
            else:
                time.sleep(delay)

    # 3. Verify, then put the file where it belongs.
    done = _part_size(part)
    meter.update(done, force=True, verifying=True)
    got = sha256_file(part)
    if got != want:
        part.unlink()
        whose = (f"the sha256 the server published for it ({LINKED_ETAG})" if published
                 else "its published sha256")
        raise DownloadError(
            f"{dest.name} from {url} does not match {whose} (expected "
            f"{want[:12]}..., got {got[:12]}...): it was damaged on the way or the server "
            "sent a different file. The download was deleted; run it again."
        )
    os.replace(part, dest)
    return dest, want


def download_model(entry: CatalogEntry, *, accept_licence: bool,
                   include_optional: bool = False,
                   on_progress: ProgressCallback | None = None,
                   cancel: threading.Event | None = None, mirror: str | None = None,
                   retries: int = 5, timeout: float = 30.0,
                   backoff: float = 1.0) -> dict[str, Path]:
    """Download ``entry``'s files into :func:`downloads_dir`; return ``{role: path}``.

    ``mirror`` (default: ``$PARASIGHT_MODEL_MIRROR``) replaces each file's URL but
    its name. Files already downloaded and intact are not fetched again. A file the
    catalogue has no sha256 for is checked against the server's (asked first) and that
    sha256 is recorded beside the downloads (:func:`catalog.record_hash`), so a later
    call, or :func:`catalog.downloaded_path`, verifies it without asking again.
    """
    if not accept_licence:
        raise LicenceNotAcceptedError(
            f"{entry.display_name} is published under the {entry.licence_name} licence, "
            f"which must be accepted before it is downloaded. Read it (run 'parasight "
            f"models download {entry.name}' to see a summary, or {entry.licence_url}); "
            f"if you agree, run 'parasight models download {entry.name} --accept-licence'."
        )
    if mirror is None:
        mirror = mirror_from_env()
    folder = downloads_dir(entry.name)
    files = entry.wanted(include_optional)

    # 1. Room for every file still to come, before the first byte.
    needed = sum(max((f.size or f.approx_size or 0) - _part_size(
        folder / (f.filename + ".part")), 0)
        for f in files if not (folder / f.filename).is_file())
    check_disk_space(folder, needed, entry.display_name)

    # 2. One file after another; each is complete and verified before the next.
    paths: dict[str, Path] = {}
    for f in files:
        known = expected_hash(entry, f.role)  # the catalogue's, else the one recorded
        path, checked = _download(
            f.url_from(mirror), folder / f.filename, sha256=known[0] if known else "",
            size=known[1] if known else f.size, on_progress=on_progress, cancel=cancel,
            retries=retries, timeout=timeout, backoff=backoff,
        )
        if known is None:
            record_hash(entry, f.role, checked, path.stat().st_size, LINKED_ETAG)
        paths[f.role] = path
    return paths


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def remove_model(name: str, *, downloads: bool = False) -> list[tuple[Path, int]]:
    """Delete the installed user model ``name`` (and its downloads if asked).

    Returns each removed folder with the bytes it held. The embedded model is refused,
    and nothing outside the user's models and downloads folders is ever touched.
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise InputError(f"'{name}' is not a model name.")
    model = user_models_dir() / name
    fetched = downloads_dir(name)
    if not model.exists() and (builtin_models_dir() / name).is_dir():
        raise InputError(
            f"'{name}' is the embedded model that comes with ParaSight; it cannot be removed."
        )
    targets = [model] + ([fetched] if downloads else [])
    removed = [(p, _tree_size(p)) for p in targets if p.is_dir()]
    if not removed:
        hint = ""
        if fetched.is_dir():
            hint = f" Its downloaded files are in {fetched}; add --downloads to remove them."
        raise InputError(f"No installed model is called '{name}'.{hint}")
    for path, _ in removed:
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise DownloadError(
                f"Could not remove {path}: {exc.strerror}. Close anything using it and try "
                "again."
            ) from exc
    return removed
