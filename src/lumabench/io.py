"""Atomic writes and checked reads: a stage never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lumabench.errors import InputError

PARQUET_COMPRESSION = "zstd"


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary shared files
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; swap it in for `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


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
    if schema is not None:
        check_schema(table, schema, path, "this is a bug in the writing stage")
        table = table.select(schema.names).cast(schema)
    table = table.replace_schema_metadata(None)
    with atomic_path(path, ".parquet") as tmp:
        pq.write_table(table, tmp, compression=PARQUET_COMPRESSION, write_statistics=True)


def read_parquet(path: str | Path, schema: pa.Schema | None = None, fix: str = "") -> pa.Table:
    """Read a Parquet input, failing with one clear line if it is missing or malformed."""
    path = Path(path)
    fix = fix or "re-run the stage that writes it"
    if not path.is_file():
        raise InputError("missing input", path, fix)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"unreadable Parquet ({exc})", path, fix) from exc
    if schema is not None:
        check_schema(table, schema, path, fix)
    return table
