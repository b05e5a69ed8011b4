"""raw/manifest.parquet: one row per file under raw/, with size, sha256 and licence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from lumabench.io import sha256_file, write_parquet
from lumabench.schemas import MANIFEST


def manifest_table(rows: list[dict[str, Any]], built: Path, prefix: str) -> pa.Table:
    """Rows sorted by path; `rel` is relative to the directory `built`, `prefix` is raw/ seen from the root."""
    out = []
    for r in sorted(rows, key=lambda r: r["rel"]):
        f = built / r["rel"]
        out.append({
            "corpus": r["corpus"],
            "kind": r["kind"],
            "path": f"{prefix}/{r['rel']}",
            "bytes": f.stat().st_size,
            "sha256": sha256_file(f),
            "licence": r["licence"],
            "label": r.get("label"),
            "pool": r.get("pool"),
            "transcript": r.get("transcript"),
            "speaker": r.get("speaker"),
            "engine": r.get("engine"),
            "word_timings": r.get("word_timings"),
        })  # fmt: skip
    return pa.Table.from_pylist(out, schema=MANIFEST)


def write_manifest(rows: list[dict[str, Any]], built: Path, prefix: str) -> pa.Table:
    """Write `built/manifest.parquet` (schema MANIFEST) and return the table."""
    table = manifest_table(rows, built, prefix)
    write_parquet(built / "manifest.parquet", table, MANIFEST)
    return table
