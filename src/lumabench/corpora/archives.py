"""Safe extraction of tar and zip archives, hashing every file as it is written.

Every member is checked before it touches the disk: an absolute name, a `..` component, a symbolic
or hard link whose target leaves the extraction folder, and device or fifo entries are refused with
an `UnsafeArchiveError` that names the archive and the member. A link is judged by where it really
resolves on disk, not by its text: a chain such as `a/b/s2 -> ..` then `a/b/y -> s2/../../../x`
reads as inside but leaves, so every folder a member is written through is walked component by
component (no step may resolve outside), every link is resolved when it is made, and every link is
resolved again once the whole archive is out (a link made early can be redirected by a later one).
A member whose folder is a file, or a file where a folder already is, is an `UnsafeArchiveError`
too, not a traceback. Members go into a staging folder that is deleted on any failure, so a
refused archive leaves nothing behind; `install` then moves the staged tree into place. Regular
files are written by this module (not by tarfile/zipfile's extract), which is what lets the
sha256 of every extracted file come for free.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lumabench.errors import DownloadError

CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_FIX = "this archive is not the published one (or is hostile): delete it and fetch it again"


class UnsafeArchiveError(DownloadError):
    """An archive member would land outside its folder (or is a device/fifo)."""


@dataclass(frozen=True)
class Extracted:
    """One regular file written by an extraction, relative to the extraction folder."""

    path: str
    size: int
    sha256: str


def member_path(archive: Path, name: str) -> str:
    """The member's normalised relative POSIX path; raise if it is absolute or climbs out."""
    fix = "this archive is not the published one (or is hostile): delete it and fetch it again"
    clean = name.replace("\\", "/")
    if clean.startswith("/") or _DRIVE.match(clean):
        raise UnsafeArchiveError(f"refused archive member {name!r}: absolute path", archive, fix)
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"refused archive member {name!r}: '..' leaves the extraction folder", archive, fix)
    return "/".join(parts)


def _link_target(archive: Path, name: str, rel: str, target: str, hard: bool) -> str:
    """Resolve a link target inside the archive; raise if it points outside the extraction folder."""
    fix = "this archive is not the published one (or is hostile): delete it and fetch it again"
    kind = "hard link" if hard else "symbolic link"
    if target.startswith("/") or _DRIVE.match(target):
        raise UnsafeArchiveError(f"refused archive member {name!r}: {kind} to absolute path {target!r}", archive, fix)
    base = "" if hard else posixpath.dirname(rel)
    resolved = posixpath.normpath(posixpath.join(base, target))
    if resolved == ".." or resolved.startswith("../") or resolved == ".":
        raise UnsafeArchiveError(
            f"refused archive member {name!r}: {kind} to {target!r} leaves the extraction folder", archive, fix
        )
    return resolved


def _inside(root: Path, path: Path) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)


def _parent(root: Path, rel: str, archive: Path) -> Path:
    """The folder of member `rel`, made one component at a time; each step must stay inside `root`.

    `mkdir(parents=True)` would follow a planted link and create folders outside before any check
    could run; here every existing step is resolved (links included) before the next is made.
    """
    folder = root
    for part in rel.split("/")[:-1]:
        folder = folder / part
        if folder.is_symlink() or folder.exists():
            if not _inside(root, folder):
                raise UnsafeArchiveError(
                    f"refused archive member {rel!r}: its folder {part!r} is a link out of the extraction folder",
                    archive,
                    _FIX,
                )
            if not folder.is_dir():
                raise UnsafeArchiveError(
                    f"refused archive member {rel!r}: {folder.relative_to(root).as_posix()!r} is a file "
                    "(or a link to nothing), not a folder: the archive holds a file and a folder of the same name",
                    archive,
                    _FIX,
                )
        else:
            folder.mkdir()
    return folder


def _clear(root: Path, rel: str, archive: Path, kind: str) -> Path:
    """The path of member `rel`, with an earlier file or link of that name removed (a later member
    wins); a folder there is an error: the archive holds a folder and a file of the same name."""
    target = _parent(root, rel, archive) / rel.rsplit("/", 1)[-1]
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        raise UnsafeArchiveError(
            f"refused archive member {rel!r}: a {kind} where the archive already made a folder of that name",
            archive,
            _FIX,
        )
    return target


def _mkdir(root: Path, rel: str, archive: Path) -> None:
    folder = _parent(root, rel + "/x", archive)
    if not folder.is_dir():  # pragma: no cover - _parent made it or raised
        raise UnsafeArchiveError(f"refused archive member {rel!r}: not a folder", archive, _FIX)


def _write(root: Path, rel: str, stream: IO[bytes], archive: Path) -> Extracted:
    target = _clear(root, rel, archive, "file")
    sha = hashlib.sha256()
    size = 0
    with target.open("xb") as out:  # exclusive: never through a link made between the check and here
        while block := stream.read(CHUNK):
            out.write(block)
            sha.update(block)
            size += len(block)
    return Extracted(rel, size, sha.hexdigest())


def _symlink(root: Path, rel: str, target: str, resolved: str, archive: Path) -> None:
    link = _clear(root, rel, archive, "link")
    if not _inside(root, root / resolved):
        raise UnsafeArchiveError(f"refused archive member {rel!r}: link leaves the extraction folder", archive, _FIX)
    os.symlink(target, link)
    if not _inside(root, link):  # where the link really resolves, through the links made before it
        link.unlink()
        raise UnsafeArchiveError(
            f"refused archive member {rel!r}: link to {target!r} resolves outside the extraction folder "
            "(through another link)",
            archive,
            _FIX,
        )


def _check_links(root: Path, archive: Path) -> None:
    """Resolve every link of the finished tree: a later member can redirect a link made earlier."""
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if path.is_symlink() and not _inside(root, path):
                rel = path.relative_to(root).as_posix()
                raise UnsafeArchiveError(
                    f"refused archive member {rel!r}: link to {os.readlink(path)!r} resolves outside the "
                    "extraction folder",
                    archive,
                    _FIX,
                )


def _extract_tar(archive: Path, root: Path) -> Iterator[Extracted]:
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            rel = member_path(archive, member.name)
            if not rel:
                continue
            if member.isdir():
                _mkdir(root, rel, archive)
            elif member.issym():
                resolved = _link_target(archive, member.name, rel, member.linkname, hard=False)
                _symlink(root, rel, member.linkname, resolved, archive)
            elif member.islnk():
                resolved = _link_target(archive, member.name, rel, member.linkname, hard=True)
                source = root / resolved
                if not source.is_file() or source.is_symlink() or not _inside(root, source):
                    raise UnsafeArchiveError(
                        f"refused archive member {member.name!r}: hard link to {member.linkname!r}, "
                        "which is not a file extracted before it",
                        archive,
                    )
                with source.open("rb") as fh:
                    yield _write(root, rel, fh, archive)
            elif member.isreg():
                stream = tar.extractfile(member)
                if stream is None:  # pragma: no cover - isreg() members always have data
                    raise UnsafeArchiveError(f"unreadable archive member {member.name!r}", archive)
                with stream:
                    yield _write(root, rel, stream, archive)
            else:
                raise UnsafeArchiveError(
                    f"refused archive member {member.name!r}: device, fifo or other special file",
                    archive,
                    "corpus archives hold only folders and files: delete it and fetch it again",
                )


def _extract_zip(archive: Path, root: Path) -> Iterator[Extracted]:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            rel = member_path(archive, info.filename)
            if not rel:
                continue
            mode = info.external_attr >> 16
            if info.is_dir():
                _mkdir(root, rel, archive)
            elif stat.S_ISLNK(mode):
                target = zf.read(info).decode("utf-8", "surrogateescape")
                resolved = _link_target(archive, info.filename, rel, target, hard=False)
                _symlink(root, rel, target, resolved, archive)
            else:
                with zf.open(info) as stream:
                    yield _write(root, rel, stream, archive)


def safe_extract(archive: Path, root: Path) -> list[Extracted]:
    """Extract `archive` into the (new, empty) folder `root`; every regular file with its sha256.

    On any error `root` is removed, so nothing of a refused archive stays on disk.
    """
    root.mkdir(parents=True, exist_ok=False)
    try:
        try:
            if zipfile.is_zipfile(archive):
                files = list(_extract_zip(archive, root))
            else:
                files = list(_extract_tar(archive, root))
        except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
            raise DownloadError(
                f"not a readable tar or zip archive ({exc})", archive, "delete it and fetch it again"
            ) from exc
        except OSError as exc:  # a full disk, a permission, or a member the checks above did not foresee
            raise DownloadError(
                f"cannot extract the archive into {root} ({exc.strerror or exc})",
                archive,
                "check free space and permissions there; if it persists, delete the archive and fetch it again",
            ) from exc
        _check_links(root, archive)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    # a later member may overwrite an earlier one: keep the last record per path
    return sorted({f.path: f for f in files}.values(), key=lambda f: f.path)


def install(staging: Path, dest: Path, replace: list[str]) -> None:
    """Move the staged tree into `dest`, first deleting the paths in `replace` (relative to dest).

    Folders merge (several LibriSpeech subsets share LibriSpeech/), files replace; `staging` is
    removed afterwards.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for rel in replace:
        old = dest / rel
        if old.is_symlink() or old.is_file():
            old.unlink()
        elif old.is_dir():
            shutil.rmtree(old)
    _merge(staging, dest)
    shutil.rmtree(staging, ignore_errors=True)


def _merge(src: Path, dst: Path) -> None:
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir() and not target.is_symlink():
            _merge(entry, target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)
