"""The overrides file as `lumabench label` writes it: one row per decided item, every write atomic.

Each decision is one read-modify-write of the whole CSV under an exclusive `flock` on the file's
folder, ending in an atomic rename (`io.atomic_path`), so two tabs, two servers or a killed server
never leave a half-written file or lose another writer's row: a reader sees the old file or the new
one. The folder is locked rather than the file because the rename replaces the file's inode.

Columns: item_id, modality, decision (accept | reject), annotator, note, decided_at (UTC, ISO 8601);
columns a person added by hand are kept. A new decision for an item replaces its earlier row(s), so
the file holds each item's current decision once and `annotate` (later row wins) reads the same.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from lumabench.errors import InputError
from lumabench.io import atomic_path

COLUMNS = ("item_id", "modality", "decision", "annotator", "note", "decided_at")
DECISIONS = ("accept", "reject")
FIX = "keep the header item_id,modality,decision,annotator,note,decided_at (or move the file away)"

Row = dict[str, str]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder of `path` (blocking) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def read_rows(path: Path) -> tuple[list[Row], list[str]]:
    """The file's rows and its column names (COLUMNS first); a missing or empty file has none."""
    if not path.is_file():
        return [], list(COLUMNS)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = [c.strip() for c in reader.fieldnames or []]
            rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k is not None} for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"unreadable overrides ({exc})", path, FIX) from exc
    if fields and "item_id" not in fields:
        raise InputError("column 'item_id' is missing", path, FIX)
    return rows, [*COLUMNS, *(c for c in fields if c not in COLUMNS)]


def _write(path: Path, rows: list[Row], fields: list[str]) -> None:
    with atomic_path(path, ".csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())


def _same_item(row: Row, modality: str, item_id: str) -> bool:
    return row.get("item_id") == item_id and row.get("modality", "") in {modality, ""}


def current(rows: list[Row], modality: str, item_id: str) -> Row | None:
    """The row that decides the item (the last one naming it), or None."""
    mine = [r for r in rows if _same_item(r, modality, item_id)]
    return mine[-1] if mine else None


def one_line(text: str, limit: int) -> str:
    """A note or name as one line of at most `limit` characters (CSV readers differ on newlines)."""
    return " ".join(text.split())[:limit]


def decide(path: Path, modality: str, item_id: str, decision: str, annotator: str, note: str) -> tuple[Row, Row | None]:
    """Record `decision` for the item now; return the row written and the row it replaced."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be accept or reject, got {decision!r}")
    row = {
        "item_id": item_id, "modality": modality, "decision": decision,
        "annotator": one_line(annotator, 100) or "human", "note": one_line(note, 2000),
        "decided_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }  # fmt: skip
    with locked(path):
        rows, fields = read_rows(path)
        previous = current(rows, modality, item_id)
        rows = [r for r in rows if not _same_item(r, modality, item_id)]
        _write(path, [*rows, row], fields)
    return row, previous


def undo(path: Path, written: Row, previous: Row | None) -> bool:
    """Put back `previous` (or no decision) for the item of `written`, if `written` still decides it.

    Returns False, changing nothing, when someone decided the item again in the meantime.
    """
    modality, item_id = written["modality"], written["item_id"]
    with locked(path):
        rows, fields = read_rows(path)
        now = current(rows, modality, item_id)
        if now is None or any(now.get(c, "") != written.get(c, "") for c in COLUMNS):
            return False
        rows = [r for r in rows if not _same_item(r, modality, item_id)]
        _write(path, rows + ([previous] if previous else []), fields)
    return True


def decisions(path: Path) -> dict[tuple[str, str], Row]:
    """(modality, item_id) -> the row deciding it, for rows that name their modality."""
    rows, _ = read_rows(path)
    return {(r["modality"], r["item_id"]): r for r in rows if r.get("modality") and r.get("item_id")}


def ensure(path: Path) -> None:
    """Create the file with its header if it does not exist (so both front-ends can track it)."""
    with locked(path):
        if not path.exists():
            _write(path, [], list(COLUMNS))
