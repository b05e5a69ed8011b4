"""HTTP downloads that survive dropped connections and never leave a bad file looking complete.

A file is fetched into `<name>.part`; an interrupted transfer continues from the bytes already there
(HTTP Range) with exponential backoff between tries; the finished `.part` is hashed and checked
(size, md5, sha256: whatever is known) and only then renamed onto its final name. A file that fails
its check is deleted. Files imported from a folder take the same path (copy into `.part`, check,
rename), so "final name exists" always means "verified".
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from lumabench.errors import DownloadError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
HASH_BAR_MIN_BYTES = 64 << 20
USER_AGENT = "lumabench/0.1 (+resumable corpus download)"
# Status codes worth another try; every other 4xx is final (wrong URL, forbidden).
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class NetworkDown(DownloadError):
    """The host could not be reached at all (refused, unknown name, no route) after every retry."""


class _Truncated(Exception):
    """The server closed the connection before sending the bytes it announced."""


@dataclass(frozen=True)
class Digest:
    size: int
    sha256: str
    md5: str


@dataclass(frozen=True)
class Expected:
    """What a file must match; None = not known (recorded at first download instead)."""

    size: int | None = None
    md5: str | None = None
    sha256: str | None = None

    def mismatch(self, got: Digest) -> str | None:
        """One phrase naming the first failed check, or None when the file passes."""
        if self.size is not None and got.size != self.size:
            return f"size is {got.size} bytes, expected {self.size}"
        if self.md5 is not None and got.md5 != self.md5.lower():
            return f"md5 is {got.md5}, expected {self.md5}"
        if self.sha256 is not None and got.sha256 != self.sha256.lower():
            return f"sha256 is {got.sha256}, expected {self.sha256}"
        return None


def bars_disabled() -> bool:
    return os.environ.get("LUMABENCH_PROGRESS", "1") == "0"


def byte_bar(desc: str, total: int | None, quiet: bool = False) -> tqdm:
    """A progress bar in bytes with size and transfer rate."""
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=quiet or bars_disabled(),
        dynamic_ncols=True,
        mininterval=0.5,
        leave=False,
    )


def hash_file(path: Path, desc: str | None = None) -> Digest:
    """sha256 and md5 of a file in one pass (md5 only because some publishers give only that)."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    size = path.stat().st_size
    with path.open("rb") as fh, byte_bar(f"verify {desc or path.name}", size, size < HASH_BAR_MIN_BYTES) as bar:
        while block := fh.read(CHUNK * 4):
            sha.update(block)
            md5.update(block)
            bar.update(len(block))
    return Digest(size, sha.hexdigest(), md5.hexdigest())


def apply_mirror(url: str, mirrors: dict[str, str]) -> str:
    """Rewrite the longest matching URL prefix (an institutional mirror, or a test server)."""
    best = max((p for p in mirrors if url.startswith(p)), key=len, default=None)
    return url if best is None else mirrors[best] + url[len(best) :]


def _finish(part: Path, dest: Path, expected: Expected, what: str, fix: str) -> Digest:
    """Hash `part`; rename it onto `dest` if it matches, else delete it and raise."""
    digest = hash_file(part, dest.name)
    problem = expected.mismatch(digest)
    if problem is not None:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{what} failed verification ({problem}); the partial file was deleted", dest, fix)
    os.replace(part, dest)
    return digest


def copy_in(src: Path, dest: Path, expected: Expected) -> Digest:
    """Import a file a person fetched by hand: copy to `.part`, verify, rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    size = src.stat().st_size
    with src.open("rb") as fin, part.open("wb") as fout, byte_bar(f"import {dest.name}", size) as bar:
        while block := fin.read(CHUNK * 4):
            fout.write(block)
            bar.update(len(block))
    fix = (
        f"{src} differs from the published file (or from the one in the lock file): fetch it again, or delete its "
        "lock entry if you mean to change the version"
    )
    return _finish(part, dest, expected, f"imported {src.name}", fix)


def _content_range(value: str | None) -> tuple[int, int | None]:
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (value or "").strip())
    if match is None:
        raise _Truncated(f"unusable Content-Range {value!r}")
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _attempt(url: str, part: Path, timeout_s: float, bar: tqdm) -> None:
    """One HTTP request continuing `part`; returns when the announced body arrived in full."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return  # the range starts at the end: the part file already holds everything
        raise
    with response:
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None else None
        if response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Truncated(f"server resumed at byte {start}, not {offset}")
            mode = "ab"
        else:
            offset, total, mode = 0, length, "wb"
        bar.reset(total=total)
        bar.update(offset)
        received = 0
        with part.open(mode) as fh:
            while chunk := response.read(CHUNK):
                fh.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if length is not None and received < length:
            raise _Truncated(f"connection closed after {offset + received} bytes")


def _unreachable(exc: BaseException) -> bool:
    """True when no server answered at all (as opposed to an answer that went wrong)."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(reason, ConnectionRefusedError | socket.gaierror | socket.timeout | TimeoutError) or (
        isinstance(reason, OSError) and not isinstance(reason, ConnectionResetError | ConnectionAbortedError)
    )


def fetch(
    url: str,
    dest: Path,
    expected: Expected,
    *,
    retries: int,
    timeout_s: float,
    backoff_s: float,
) -> Digest:
    """Download `url` to `dest` (resuming `dest.part`), verify, then rename atomically.

    Raises NetworkDown when the host never answered, DownloadError for anything else that is final.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if expected.size is not None and part.exists() and part.stat().st_size > expected.size:
        part.unlink()
    last: BaseException | None = None
    with byte_bar(dest.name, expected.size) as bar:
        for attempt in range(retries + 1):
            if attempt:
                delay = backoff_s * 2 ** (attempt - 1)
                log.warning("%s: %s; retry %d/%d in %.1f s", dest.name, last, attempt, retries, delay)
                time.sleep(delay)
            try:
                _attempt(url, part, timeout_s, bar)
                last = None
                break
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUS:
                    raise DownloadError(
                        f"{url} answered HTTP {exc.code}",
                        dest,
                        "the publisher may have moved it: fetch it by hand and run with --from FOLDER "
                        "(or point corpora.full.mirrors at a copy)",
                    ) from exc
                last = exc
            except (urllib.error.URLError, http.client.HTTPException, OSError, _Truncated) as exc:
                last = exc
                if attempt and isinstance(getattr(exc, "reason", exc), socket.gaierror):
                    break  # the name did not resolve twice: no network (or no DNS), waiting will not help
        if last is not None:
            tries = attempt + 1
            if _unreachable(last):
                reason = getattr(last, "reason", last)
                raise NetworkDown(f"cannot reach {url} ({reason}) after {tries} tries", dest)
            raise DownloadError(f"download of {url} failed after {tries} tries ({last})", dest, "run again: it resumes")
    fix = "run again to download it afresh; if it fails again the publisher changed the file"
    return _finish(part, dest, expected, f"download of {url}", fix)
