"""Atomic writes and checked reads: a stage never leaves a half-written file behind.

Every write goes to a hidden temporary beside its target (`.<name>.<random><suffix>`) that is renamed
onto the target only when complete. The writer holds an exclusive `flock` on its temporary while it
works, so the next write of the same target can tell an orphan (its owner was killed: the kernel
dropped the lock) from a live concurrent writer, and deletes only orphans: a SIGKILL never leaves
temporaries that outlive the next successful run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lumabench.errors import InputError

PARQUET_COMPRESSION = "zstd"
# tempfile's random part is 8 characters of [a-z0-9_]; the suffix is one extension (".pt", ".tmp")
_RANDOM = r"[a-z0-9_]{8}"


def _temp_pattern(name: str) -> re.Pattern[str]:
    """Names of the temporaries `atomic_path`/`atomic_dir` make for target `name` (and nothing else)."""
    return re.compile(rf"^\.{re.escape(name)}\.(?:old\.)?{_RANDOM}(?:\.[A-Za-z0-9]+)?$")


def _try_lock(fd: int) -> bool:
    """An exclusive, non-blocking flock on `fd`; False if another process holds it (or locks fail)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _open_for_lock(path: Path) -> int:
    """A descriptor to lock `path` through: files read-write (NFS needs it), folders read-only."""
    flags = os.O_NOFOLLOW | (os.O_RDONLY | os.O_DIRECTORY if path.is_dir() else os.O_RDWR)
    return os.open(path, flags)


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temporaries a killed writer of `path` left beside it; return what was removed.

    Only orphans go: a live writer holds the lock on its temporary, so a concurrent write of the
    same target (two training jobs filling one tensor cache) is never disturbed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    prefix, pattern = f".{path.name}.", _temp_pattern(path.name)
    with os.scandir(path.parent) as it:
        names = sorted(e.name for e in it if e.name.startswith(prefix) and pattern.match(e.name))
    removed = []
    for name in names:
        entry = path.parent / name
        if entry.is_symlink():
            continue
        try:
            fd = _open_for_lock(entry)
        except OSError:
            continue
        try:
            if not _try_lock(fd):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def _held_temp(path: Path, suffix: str, directory: bool = False, infix: str = "") -> Iterator[Path]:
    """A new locked temporary file (or folder) beside `path`, removed on exit unless renamed away."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{infix}"
    for _ in range(5):
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
            tmp.chmod(0o777 & ~_umask())
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix or ".tmp", dir=path.parent)
            os.close(fd)
            tmp = Path(name)
            tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary shared files
        try:
            lock = _open_for_lock(tmp)
        except OSError:
            continue  # swept by a concurrent writer between creation and locking: make another
        if _try_lock(lock) and _same_inode(lock, tmp):
            break
        os.close(lock)
    else:  # pragma: no cover - five lost races in a row
        raise OSError(errno.EAGAIN, "could not create a temporary beside", str(path))
    try:
        yield tmp
    finally:
        try:
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            elif tmp.exists() or tmp.is_symlink():
                tmp.unlink()
        finally:
            os.close(lock)


def _same_inode(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
    except OSError:
        return False


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    remove_stale_temps(path)
    with _held_temp(path, suffix) as tmp:
        yield tmp
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_set(targets: Sequence[str | Path], suffixes: Sequence[str] | None = None) -> Iterator[list[Path]]:
    """Yield one temporary per target; on success the targets appear as one set.

    The targets may lie in different folders, so no single rename can swap them; instead the old
    set is removed first, last target first, and the new files are renamed in order, last target
    last. The last target (the metrics of a training run) thus marks a complete set: whenever it
    exists, every other target beside it is from the same run, whatever moment a kill strikes.
    On failure the temporaries go and the old set stays as it was.
    """
    paths = [Path(t) for t in targets]
    sfx = list(suffixes) if suffixes is not None else [p.suffix for p in paths]
    for p in paths:
        remove_stale_temps(p)
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(_held_temp(p, s)) for p, s in zip(paths, sfx, strict=True)]
        yield tmps
        for p in reversed(paths):
            p.unlink(missing_ok=True)
        for tmp, p in zip(tmps, paths, strict=True):
            os.replace(tmp, p)


@contextlib.contextmanager
def atomic_via_dir(path: str | Path) -> Iterator[Path]:
    """Yield `<temporary folder>/<name>`; on success rename it onto `path` (the folder then goes).

    For writers that leave side files next to what they write (SQLite's journal): all of it lives
    in one temporary folder, so a killed writer leaves one orphan the next write sweeps away.
    """
    path = Path(path)
    remove_stale_temps(path)
    with _held_temp(path, "", directory=True) as tmp:
        yield tmp / path.name
        os.replace(tmp / path.name, path)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; swap it in for `path` only on success."""
    path = Path(path)
    remove_stale_temps(path)
    with _held_temp(path, "", directory=True) as tmp:
        yield tmp
        if path.exists():
            with _held_temp(path, "", directory=True, infix="old.") as old:
                os.replace(path, old / "x")
                os.replace(tmp, path)
        else:
            os.replace(tmp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, read in chunks (corpora, caches and data hashes)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, fixed indent) so equal content gives equal bytes."""
    return json.dumps(obj, sort_keys=True, indent=2, allow_nan=True) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, dumps_json(obj))


def read_json(path: str | Path, fix: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError("missing input", path, fix)
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"unreadable JSON ({exc})", path, fix) from exc


def check_schema(table: pa.Table, schema: pa.Schema, path: str | Path, fix: str) -> None:
    """Raise InputError naming the first missing or mistyped column."""
    for field in schema:
        idx = table.schema.get_field_index(field.name)
        if idx < 0:
            raise InputError(f"column {field.name!r} is missing", path, fix)
        got = table.schema.field(idx).type
        if not got.equals(field.type):
            raise InputError(f"column {field.name!r} has type {got}, expected {field.type}", path, fix)


def write_parquet(path: str | Path, table: pa.Table, schema: pa.Schema | None = None) -> None:
    """Write `table` (cast to `schema` when given) as zstd Parquet, atomically and reproducibly."""
    with atomic_path(path, ".parquet") as tmp:
        write_parquet_to(tmp, table, schema, Path(path))


def write_parquet_to(
    tmp: str | Path, table: pa.Table, schema: pa.Schema | None = None, name: Path | None = None
) -> None:
    """The bytes `write_parquet` writes, into `tmp` as is (a temporary of `atomic_set`).

    The file carries the schema's own metadata (how other libraries should read it, see native.py)
    and nothing else: pandas metadata of an input frame would make equal tables differ in bytes.
    """
    if schema is not None:
        check_schema(table, schema, name or tmp, "this is a bug in the writing stage")
        table = table.select(schema.names).cast(schema)
    table = table.replace_schema_metadata(schema.metadata if schema is not None else None)
    pq.write_table(table, tmp, compression=PARQUET_COMPRESSION, write_statistics=True)


def read_parquet(
    path: str | Path, schema: pa.Schema | None = None, fix: str = "", columns: list[str] | None = None
) -> pa.Table:
    """Read a Parquet input, failing with one clear line if it is missing or malformed.

    `columns`: only those of the file's columns (the others, e.g. media bytes, are not read); a name
    the file lacks is left out, so the caller's own check can name it.
    """
    path = Path(path)
    fix = fix or "re-run the stage that writes it"
    if not path.is_file():
        raise InputError("missing input", path, fix)
    try:
        if columns is None:
            table = pq.read_table(path)
        else:
            have = set(pq.read_schema(path).names)
            table = pq.read_table(path, columns=[c for c in columns if c in have])
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"unreadable Parquet ({exc})", path, fix) from exc
    if schema is not None:
        check_schema(table, schema, path, fix)
    return table


def nonfinite_rows(array: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Indices of the rows (first axis) holding a NaN or an infinity; chunked, so a memory map stays cheap."""
    if array.dtype.kind not in "fc" or array.size == 0:
        return np.zeros(0, dtype=np.int64)
    flat = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(-1, 1)
    bad = [s + np.flatnonzero(~np.isfinite(flat[s : s + chunk]).all(1)) for s in range(0, len(flat), chunk)]
    return np.concatenate(bad) if bad else np.zeros(0, dtype=np.int64)


def check_finite(array: np.ndarray, what: str, path: str | Path | None, fix: str) -> None:
    """Raise InputError naming how many rows of `array` hold NaN/inf and the first of them.

    Non-finite inputs do not crash anything downstream: they turn into NaN losses, NaN confidences
    and undefined metrics, or silently skew nearest-neighbour label switching. They stop here.
    """
    bad = nonfinite_rows(array)
    if len(bad):
        raise InputError(
            f"{what}: {len(bad)} of {len(array)} rows hold NaN or infinite values (first: row {int(bad[0])})",
            path,
            fix,
        )


def load_npy(path: str | Path, fix: str, ndim: int | None = 2, mmap: bool = False) -> np.ndarray:
    """Read a numeric .npy matrix, failing with one line if it is missing, truncated or not finite."""
    path = Path(path)
    if not path.is_file():
        raise InputError("missing input", path, fix)
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"unreadable or truncated .npy ({reason})", path, fix) from exc
    if array.dtype.kind not in "fiu":
        raise InputError(f".npy holds {array.dtype}, expected numbers", path, fix)
    if ndim is not None and array.ndim != ndim:
        raise InputError(f".npy has shape {array.shape}, expected {ndim} dimensions", path, fix)
    check_finite(array, "feature matrix", path, fix)
    return array


#: the largest image any stage decodes (4096 x 4096): corpus images are 32 x 32, so anything near this
#: is a damaged or hostile header, and refusing it by its header never allocates the pixels
MAX_IMAGE_PIXELS = 1 << 24


def read_image_rgb(path: str | Path, fix: str, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """An image file as uint8 [H, W, 3] RGB; one InputError line for a missing, undecodable or
    oversized file (a header claiming 60000 x 60000 is a decompression bomb, refused unread)."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise InputError(f"image header claims {w}x{h} pixels (limit {max_pixels}): not decoded", path, fix)
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except InputError:
        raise
    except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError, DecompressionBombError, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"unreadable image ({type(exc).__name__}: {reason})", path, fix) from exc
