"""Hostile archives, built here: link chains that read as inside but resolve outside, links
redirected by a later member, folders planted through links, and a file and a folder of one name."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from lumabench.corpora.archives import UnsafeArchiveError, safe_extract


def _tar(members: list[tuple[str, str, bytes | str]]) -> bytes:
    """(name, kind, data or link target); kind is "file", "dir", "sym" or "hard"."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                assert isinstance(payload, bytes)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}[kind]
            info.linkname = str(payload)
            tar.addfile(info)
    return buf.getvalue()


def _zip(members: list[tuple[str, str, bytes | str]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, kind, payload in members:
            if kind == "dir":
                zf.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
            elif kind == "sym":
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, str(payload).encode())
            else:
                zf.writestr(name, payload if isinstance(payload, bytes) else payload.encode())
    return buf.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path]:
    """(folder holding the archive, extraction root); a secret sits two levels above the root."""
    (tmp_path / "secret.txt").write_text("secret")
    work = tmp_path / "work"
    work.mkdir()
    return work, work / "out"


# the chain: s2 -> .. lands in a/, so s2/../../../ climbs two levels above the root
CHAIN = [("a/b/", "dir", ""), ("a/b/s2", "sym", ".."), ("a/b/y", "sym", "s2/../../../secret.txt")]
# the same chain with the links in the other order: y is made first (it then resolves inside)
REDIRECTED = [("a/b/", "dir", ""), ("a/b/y", "sym", "s2/../../../secret.txt"), ("a/b/s2", "sym", "..")]


@pytest.mark.parametrize("fmt", ["tar", "zip"])
@pytest.mark.parametrize("members", [CHAIN, REDIRECTED], ids=["chain", "redirected-later"])
def test_a_link_chain_out_of_the_folder_is_refused(site, fmt, members) -> None:
    work, out = site
    archive = work / f"chain.{fmt}"
    archive.write_bytes(_tar(members) if fmt == "tar" else _zip(members))
    with pytest.raises(UnsafeArchiveError, match="resolves outside the extraction folder") as info:
        safe_extract(archive, out)
    assert f"chain.{fmt}" in info.value.one_line() and "a/b/" in info.value.one_line()
    assert not out.exists()  # nothing of a refused archive stays, so nothing can read the secret


@pytest.mark.parametrize("late", [False, True], ids=["link-refused", "link-redirected-then-used"])
def test_no_folder_is_created_outside_through_a_chain(site, late: bool) -> None:
    """`up` reads as a/ but is the folder above the root: writing a/b/up/new/x must not mkdir there.

    With `late`, `up` is made before s2 exists (it then resolves inside) and s2 redirects it; only
    the component-by-component walk of the member's folder stops the write."""
    work, out = site
    links = [("a/b/s2", "sym", ".."), ("a/b/up", "sym", "s2/../..")]
    members = [("a/b/", "dir", ""), *(links[::-1] if late else links), ("a/b/up/new/x.txt", "file", b"planted")]
    archive = work / "plant.tar"
    archive.write_bytes(_tar(members))
    with pytest.raises(UnsafeArchiveError, match=r"out of the extraction folder|resolves outside"):
        safe_extract(archive, out)
    assert not (work / "new").exists() and not (work.parent / "new").exists()
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["tar", "zip"])
@pytest.mark.parametrize(
    "members",
    [
        [("top/x", "file", b"a file"), ("top/x/y.txt", "file", b"inside a file?")],
        [("top/x/", "dir", ""), ("top/x", "file", b"a file over a folder")],
        [("top/x/y.txt", "file", b"one"), ("top/x", "file", b"a file over a folder")],
    ],
    ids=["file-then-folder", "folder-then-file", "implicit-folder-then-file"],
)
def test_a_file_and_a_folder_of_one_name_is_a_clear_error(site, fmt, members) -> None:
    work, out = site
    archive = work / f"clash.{fmt}"
    archive.write_bytes(_tar(members) if fmt == "tar" else _zip(members))
    with pytest.raises(UnsafeArchiveError, match=r"same name|of that name") as info:
        safe_extract(archive, out)
    line = info.value.one_line()
    assert "top/x" in line and f"clash.{fmt}" in line and "\n" not in line
    assert not out.exists()


def test_links_that_stay_inside_still_work(site) -> None:
    work, out = site
    members = [("top/a.txt", "file", b"abc"), ("top/sub/", "dir", ""), ("top/sub/up", "sym", ".."),
               ("top/sub/via", "sym", "up/a.txt"), ("top/copy", "hard", "top/a.txt")]  # fmt: skip
    archive = work / "ok.tar"
    archive.write_bytes(_tar(members))
    files = safe_extract(archive, out)
    assert [f.path for f in files] == ["top/a.txt", "top/copy"]
    assert (out / "top/sub/via").read_bytes() == b"abc"
