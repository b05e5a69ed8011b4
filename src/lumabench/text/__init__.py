"""Stage 3, `lumabench text`: generate the class passages, resumably, with the configured backend.

Texts are appended per batch to part files under data/<profile>/cache/text/<fingerprint>/; a run
that is killed continues from the parts on disk. Each text depends only on its own seed, so the
final table (rows in job order, written once) is byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.parquet as pq

from lumabench.errors import LumabenchError
from lumabench.io import read_parquet, write_parquet
from lumabench.logs import progress
from lumabench.params import Params, Text
from lumabench.paths import Paths
from lumabench.schemas import GENERATED
from lumabench.text.backend import BatchTooLarge, Job, TextBackend, jobs_for

log = logging.getLogger(__name__)


def make_backend(cfg: Text) -> TextBackend:
    """The backend named in params `text.backend`."""
    if cfg.backend == "template":
        from lumabench.text.template import TemplateBackend

        return TemplateBackend()
    from lumabench.text.transformers_backend import TransformersBackend

    return TransformersBackend(cfg)


def cache_dir(paths: Paths, backend: TextBackend, cfg: Text, seed: int) -> Path:
    """Part files live under a key of everything that changes the texts (not batch size or count)."""
    key = {"seed": seed, "prompts": cfg.prompts, **backend.fingerprint()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return paths.cache / "text" / digest


def _rows(jobs: Sequence[Job], texts: Sequence[str], backend: TextBackend) -> pa.Table:
    return pa.table(
        {
            "text_id": [j.text_id for j in jobs],
            "label": [j.label for j in jobs],
            "prompt_id": pa.array([j.prompt_id for j in jobs], pa.int32()),
            "prompt": [j.prompt for j in jobs],
            "text": list(texts),
            "backend": [backend.name] * len(jobs),
            "model": [backend.model] * len(jobs),
            "seed": pa.array([j.seed for j in jobs], pa.int64()),
        },
        schema=GENERATED,
    )


def _load_parts(part_dir: Path) -> tuple[list[pa.Table], int]:
    """Completed parts (unreadable ones, e.g. from a crash mid-write, are deleted) and the next index."""
    tables: list[pa.Table] = []
    last = -1
    for f in sorted(part_dir.glob("part-*.parquet")):
        try:
            t = pq.read_table(f)
            if not t.schema.equals(GENERATED):
                raise ValueError("schema differs")
        except (OSError, ValueError, pa.ArrowException) as exc:
            log.warning("discarding unreadable text part %s (%s)", f, exc)
            f.unlink()
            continue
        tables.append(t)
        last = max(last, int(f.stem.split("-")[1]))
    return tables, last + 1


def generate_all(jobs: Sequence[Job], backend: TextBackend, part_dir: Path, batch_size: int) -> pa.Table:
    """Generate every job not yet in `part_dir`, one part file per batch; return all rows in job order."""
    part_dir.mkdir(parents=True, exist_ok=True)
    tables, next_part = _load_parts(part_dir)
    done = {tid for t in tables for tid in t.column("text_id").to_pylist()}
    todo = [j for j in jobs if j.text_id not in done]
    if done:
        log.info("resuming: %d of %d texts already generated in %s", len(jobs) - len(todo), len(jobs), part_dir)
    bar = cast(Any, progress([], desc=f"text ({backend.name})", total=len(todo), unit="text"))
    start = time.perf_counter()
    i, size = 0, batch_size
    try:
        while i < len(todo):
            batch = todo[i : i + size]
            try:
                texts = backend.generate(batch)
            except BatchTooLarge:
                if size == 1:
                    raise LumabenchError(
                        "out of GPU memory even with batch size 1",
                        fix="use a smaller model, a lower text.max_new_tokens or text.dtype, or a larger GPU",
                    ) from None
                size = max(1, size // 2)
                log.warning("out of GPU memory: batch size halved to %d", size)
                continue
            write_parquet(part_dir / f"part-{next_part:06d}.parquet", _rows(batch, texts, backend), GENERATED)
            tables.append(_rows(batch, texts, backend))
            next_part += 1
            i += len(batch)
            bar.update(len(batch))
    finally:
        bar.close()
    if todo:
        secs = time.perf_counter() - start
        log.info("generated %d texts in %.1f s (%.1f texts/s)", len(todo), secs, len(todo) / max(secs, 1e-9))
    whole = pa.concat_tables(tables) if tables else _rows([], [], backend)
    index = {tid: k for k, tid in enumerate(whole.column("text_id").to_pylist())}
    order = [index[j.text_id] for j in jobs]
    return whole.take(pa.array(order, pa.int64())).combine_chunks()


def run(params: Params, paths: Paths, backend: TextBackend | None = None) -> None:
    """Generate `text.texts_per_class` passages per class into interim/text/generated.parquet."""
    cfg = params.text
    backend = backend or make_backend(cfg)
    jobs = jobs_for(cfg, params.seed)
    part_dir = cache_dir(paths, backend, cfg, params.seed)
    table = generate_all(jobs, backend, part_dir, cfg.batch_size)
    write_parquet(paths.generated, table, GENERATED)
    read_parquet(paths.generated, GENERATED)
    log.info("wrote %d texts (%d classes) to %s", table.num_rows, len({j.label for j in jobs}), paths.generated)
