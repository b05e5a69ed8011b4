"""Human decisions: a CSV or Parquet table that overrides the automatic decision per item.

Columns: item_id, decision (accept | reject), annotator, note; an optional `modality` column
(image | audio | text) settles ids that occur in more than one modality; other columns (the
`decided_at` that `lumabench label` writes, see lumabench.label.store) are ignored. Rows are applied
in file order, so a later row for the same item wins and a labelling pass replays exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lumabench.errors import InputError

log = logging.getLogger(__name__)
FIX = "write columns item_id, decision (accept|reject), annotator, note [, modality]"


@dataclass(frozen=True)
class Decision:
    modality: str
    item_id: str
    accept: bool
    annotator: str
    note: str


def read_overrides(path: Path, known: dict[str, set[str]]) -> dict[tuple[str, str], Decision]:
    """(modality, item_id) -> the last decision for it; `known` maps modality -> its item ids."""
    if not path.is_file():
        raise InputError("overrides file not found", path, "fix annotate.overrides in params.yaml")
    try:
        if path.suffix.lower() == ".parquet":
            table = pq.read_table(path)
        else:
            opts = pacsv.ConvertOptions(strings_can_be_null=False, column_types={"item_id": pa.string()})
            table = pacsv.read_csv(path, convert_options=opts)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"unreadable overrides ({exc})", path, FIX) from exc
    for col in ("item_id", "decision"):
        if col not in table.column_names:
            raise InputError(f"column {col!r} is missing", path, FIX)
    rows = table.to_pylist()
    out: dict[tuple[str, str], Decision] = {}
    for n, row in enumerate(rows, start=2):
        item = str(row["item_id"]).strip()
        decision = str(row.get("decision") or "").strip().lower()
        if decision not in {"accept", "reject"}:
            raise InputError(f"row {n}: decision {row.get('decision')!r} is not accept or reject", path, FIX)
        modality = str(row.get("modality") or "").strip().lower()
        if modality:
            if modality not in known:
                raise InputError(f"row {n}: unknown modality {modality!r}", path, FIX)
            where = [modality] if item in known[modality] else []
        else:
            where = [m for m, ids in known.items() if item in ids]
        if not where:
            raise InputError(f"row {n}: unknown item_id {item!r}", path, "use ids from the input tables")
        if len(where) > 1:
            raise InputError(f"row {n}: item_id {item!r} is in {', '.join(where)}", path, "add a modality column")
        key = (where[0], item)
        if key in out:
            log.info("overrides: row %d replaces an earlier decision for %s %s", n, *key)
        out[key] = Decision(
            where[0],
            item,
            decision == "accept",
            str(row.get("annotator") or "human").strip() or "human",
            str(row.get("note") or "").strip(),
        )
    return out
