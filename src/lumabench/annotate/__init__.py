"""Stage 4, `lumabench annotate`: filter texts, clips and images; record every rejection and why.

Each item gets one decision. Automatic filters run first (texts: garbage, length, own class,
other classes; clips: duration, silence, clipping, alignment score, recognition; images: none per
item). Human decisions from `annotate.overrides` (if that file exists) then replace automatic
ones: a human reject drops the item before duplicate removal (so its twin can survive), a human
accept keeps it whatever the filters said, and it is never removed as a duplicate. Duplicate
removal runs last: near-duplicate texts (MinHash) keep the first by id; duplicate images keep the
test-pool copy.

Beside the accepted tables, `verdicts.parquet` holds one row per item: its automatic verdict and
reason (before human decisions), what the recogniser heard (clips), and the final decision; it is
what `lumabench label` shows, and the log gives the rejection rate per filter and per voice.

Outputs are written together (one atomic directory swap); if an in-distribution class ends up
with fewer items than the variants need, the stage fails naming the class, the counts and the
filter that removed most, and leaves the rejection report under data/<profile>/cache/annotate/.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from lumabench.annotate.audio_filters import Heard, check_clip, measure, read_mono, recognise
from lumabench.annotate.image_filters import duplicates, load_rgb, phash, pixel_sha256
from lumabench.annotate.minhash import near_duplicates
from lumabench.annotate.overrides import Decision, read_overrides
from lumabench.annotate.rates import by_filter, by_voice
from lumabench.annotate.text_filters import check_text
from lumabench.classes import ID_CLASSES, NAMES
from lumabench.errors import InputError, LumabenchError
from lumabench.io import atomic_dir, read_parquet, write_parquet
from lumabench.logs import progress
from lumabench.params import MODALITIES, Params
from lumabench.paths import Paths
from lumabench.schemas import CLIPS, GENERATED, IMAGES, MANIFEST, REJECTED, VERDICTS
from lumabench.seeding import rng

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejection:
    filter: str
    reason: str
    decided_by: str = "auto"


Decisions = dict[tuple[str, str], Decision]
ID_COLUMN = {"image": "image_id", "audio": "clip_id", "text": "text_id"}


@dataclass
class Checked:
    """One modality's outcome: final rejections, the automatic ones behind them, what was heard."""

    rejected: dict[str, Rejection]
    auto: dict[str, Rejection]
    heard: dict[str, Heard] = field(default_factory=dict)


def _human(modality: str, auto: dict[str, Rejection], decisions: Decisions) -> tuple[dict[str, Rejection], set[str]]:
    """Apply human decisions to automatic rejections; return rejections and force-accepted ids."""
    out = dict(auto)
    forced: set[str] = set()
    for (m, item), d in decisions.items():
        if m != modality:
            continue
        if d.accept:
            out.pop(item, None)
            forced.add(item)
        else:
            out[item] = Rejection("human", d.note or "rejected by annotator", d.annotator)
    return out, forced


# ------------------------------------------------------------------ per modality
def filter_texts(rows: list[dict], params: Params, decisions: Decisions) -> Checked:
    """The rejection of every text that is not accepted (and the automatic verdicts)."""
    cfg = params.annotate.text
    auto: dict[str, Rejection] = {}
    for r in rows:
        failed = check_text(r["text"] or "", r["label"], cfg)
        if failed:
            auto[r["text_id"]] = Rejection(*failed)
    rejected, forced = _human("text", auto, decisions)
    alive = sorted((r["text_id"], r["text"]) for r in rows if r["text_id"] not in rejected)
    dups = near_duplicates(
        [t for _, t in alive],
        cfg.near_duplicate_jaccard,
        cfg.minhash_permutations,
        cfg.shingle_words,
        rng(params.seed, "annotate", "minhash"),
    )
    for j, (i, sim) in dups.items():
        if alive[j][0] not in forced:
            rejected[alive[j][0]] = auto[alive[j][0]] = Rejection(
                "near_duplicate", f"Jaccard {sim:.2f} with {alive[i][0]}"
            )
    return Checked(rejected, auto)


def filter_audio(rows: list[dict], params: Params, paths: Paths, decisions: Decisions) -> Checked:
    """The rejection of every clip that is not accepted (a clip path leaving the project is an error)."""
    cfg = params.annotate.audio
    auto: dict[str, Rejection] = {}
    to_hear: list[tuple[str, Path, str]] = []
    for r in progress(rows, desc="annotate: clips", unit="clip"):
        path = paths.confine(r["path"], f"path of clip {r['clip_id']!r}", paths.clips)
        try:
            audio, sr = read_mono(path)
        except (OSError, RuntimeError) as exc:
            auto[r["clip_id"]] = Rejection("unreadable", f"{path}: {exc}")
            continue
        failed = check_clip(measure(audio, sr), r["align_score"], cfg)
        if failed:
            auto[r["clip_id"]] = Rejection(*failed)
        elif cfg.recognition_check:
            to_hear.append((r["clip_id"], path, r["label"]))
    heard: dict[str, Heard] = {}
    if to_hear:
        ratio = cfg.recognition_log10_ratio
        results = recognise(to_hear, params.seed, params.annotate.workers, ratio)
        for (cid, _, label), got in zip(to_hear, results, strict=True):
            heard[cid] = got
            if got.word is None:
                auto[cid] = Rejection("recognition", f"heard no class word, expected {label!r}")
            elif got.confirmed:
                auto[cid] = Rejection(
                    "recognition", f"heard {got.word!r}, expected {label!r} (likelihood ratio above 1e{ratio:g})"
                )
    rejected, _ = _human("audio", auto, decisions)
    return Checked(rejected, auto, heard)


def filter_images(rows: list[dict], params: Params, paths: Paths, decisions: Decisions) -> Checked:
    """The rejection of every image that is not accepted (a path leaving the project is an error)."""
    rejected, forced = _human("image", {}, decisions)
    auto: dict[str, Rejection] = {}
    alive = [r for r in rows if r["image_id"] not in rejected]
    shas, hashes = [], []
    for r in progress(alive, desc="annotate: images", unit="img"):
        px = load_rgb(paths.confine(r["path"], f"path of image {r['image_id']!r}", paths.manifest))
        shas.append(pixel_sha256(px))
        hashes.append(phash(px))
    ids = [r["image_id"] for r in alive]
    pools = [r["pool"] for r in alive]
    protected = frozenset(i for i, x in enumerate(ids) if x in forced)
    dmax = params.annotate.image.near_duplicate_hamming
    for i, (filt, k) in duplicates(ids, pools, shas, hashes, dmax, protected).items():
        what = "same pixels as" if filt == "exact_duplicate" else f"perceptual hash within {dmax} bits of"
        rejected[ids[i]] = auto[ids[i]] = Rejection(filt, f"{what} {ids[k]} ({pools[k]} pool)")
    return Checked(rejected, auto)


# ------------------------------------------------------------------ inputs
def _resolve(root: Path, path: str) -> Path:
    """A path from params.yaml (the overrides file): relative to the project root, or absolute."""
    p = Path(path)
    return p if p.is_absolute() else root / p


def image_rows(manifest: pa.Table, paths: Paths) -> list[dict]:
    """IMAGES rows from the manifest's image files; image_id is the path under raw/ without suffix."""
    raw_rel = paths.raw.relative_to(paths.root) if paths.raw.is_relative_to(paths.root) else paths.raw
    out = []
    for r in manifest.to_pylist():
        if r["kind"] != "image":
            continue
        p = Path(r["path"])
        rel = p.relative_to(raw_rel) if p.is_relative_to(raw_rel) else p
        corpus = r["corpus"] or ""
        source = (
            corpus if corpus in {"cifar10", "cifar100", "edm"} else ("mini" if corpus.startswith("mini") else corpus)
        )
        if r["pool"] not in {"train", "test", "ood"}:
            raise InputError(f"image {r['path']} has pool {r['pool']!r}", paths.manifest, "re-run `lumabench corpora`")
        out.append({
            "image_id": rel.with_suffix("").as_posix(), "label": r["label"], "pool": r["pool"], "source": source,
            "path": r["path"],
        })  # fmt: skip
    return sorted(out, key=lambda r: r["image_id"])


def _check_rows(rows: list[dict], id_col: str, path: Path) -> None:
    fix = "re-run the stage that writes it"
    known = set(NAMES)
    seen: set[str] = set()
    for r in rows:
        if r["label"] not in known:
            raise InputError(f"{id_col} {r[id_col]!r} has unknown label {r['label']!r}", path, fix)
        if r[id_col] in seen:
            raise InputError(f"duplicate {id_col} {r[id_col]!r}", path, fix)
        seen.add(r[id_col])


# ------------------------------------------------------------------ counts and the stage
def _needs(params: Params) -> dict[tuple[str, str], int]:
    v = params.variants
    both = v.train_per_class + v.test_per_class
    return {("text", "all"): both, ("audio", "all"): both, ("image", "train"): v.train_per_class,
            ("image", "test"): v.test_per_class}  # fmt: skip


def _shortfalls(items: dict[str, list[dict]], rejected: dict[str, dict[str, Rejection]], params: Params) -> list[str]:
    """One message per (modality, pool, class) with fewer accepted items than the variants need."""
    msgs = []
    for (modality, pool), need in _needs(params).items():
        id_col = {"image": "image_id", "audio": "clip_id", "text": "text_id"}[modality]
        for c in ID_CLASSES:
            mine = [r for r in items[modality] if r["label"] == c.name and (pool == "all" or r["pool"] == pool)]
            gone = [rejected[modality][r[id_col]] for r in mine if r[id_col] in rejected[modality]]
            have = len(mine) - len(gone)
            if have < need:
                where = f"{modality}" + ("" if pool == "all" else f" ({pool} pool)")
                top = Counter(g.filter for g in gone).most_common(1)
                most = f"; filter that removed most: {top[0][0]} ({top[0][1]})" if top else "; nothing was rejected"
                msgs.append(f"class {c.name!r} has {have} accepted {where} items of {len(mine)}, needs {need}{most}")
    return msgs


def _report(items: dict[str, list[dict]], rejected: dict[str, dict[str, Rejection]]) -> pa.Table:
    rows = []
    for modality in MODALITIES:
        id_col = {"image": "image_id", "audio": "clip_id", "text": "text_id"}[modality]
        labels = {r[id_col]: r["label"] for r in items[modality]}
        for item_id in sorted(rejected[modality]):
            rj = rejected[modality][item_id]
            rows.append({"modality": modality, "item_id": item_id, "label": labels[item_id], "filter": rj.filter,
                         "reason": rj.reason, "decided_by": rj.decided_by})  # fmt: skip
    return pa.Table.from_pylist(rows, schema=REJECTED)


def _summary(items: dict[str, list[dict]], rejected: dict[str, dict[str, Rejection]]) -> None:
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for modality in MODALITIES:
        id_col = {"image": "image_id", "audio": "clip_id", "text": "text_id"}[modality]
        for r in items[modality]:
            key = modality if modality != "image" else f"image/{r['pool']}"
            cell = counts[r["label"]][key]
            cell[1] += 1
            cell[0] += r[id_col] not in rejected[modality]
    log.info("accepted/total per class (text, audio, image by pool):")
    for name in NAMES:
        cells = counts.get(name, {})
        parts = [f"{k} {v[0]}/{v[1]}" for k, v in sorted(cells.items())]
        log.info("  %-10s %s", name, ", ".join(parts) or "no items")
    for modality in MODALITIES:
        n = len(items[modality])
        k = n - len(rejected[modality])
        by = Counter(r.filter for r in rejected[modality].values())
        log.info(
            "%s: accepted %d of %d (%.1f%%); rejected by %s",
            modality,
            k,
            n,
            100 * k / max(n, 1),
            dict(sorted(by.items())),
        )


def _log_rates(verdicts: list[dict]) -> None:
    """Rejection rate per filter (share of the modality's items) and per voice (clips)."""
    log.info("rejection rate per filter:")
    for r in by_filter(verdicts):
        log.info("  %-5s %-16s %5d of %5d (%.1f%%)", r["modality"], r["filter"], r["rejected"], r["total"],
                 100 * r["rate"])  # fmt: skip
    voices = by_voice(verdicts)
    if voices:
        log.info("clip rejection rate per voice:")
    for r in voices:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(r["filters"].items()))
        log.info("  %-30s %4d of %4d (%.1f%%)%s", r["voice"], r["rejected"], r["total"], 100 * r["rate"],
                 f": {parts}" if parts else "")  # fmt: skip


def _corpus(modality: str, row: dict) -> str:
    """The source an item comes from, as the labelling page filters by it."""
    if modality == "image":
        return f"{row['source']}/{row['pool']}"
    if modality == "audio":
        return row["corpus"] or ""
    return row["backend"] or ""


def verdict_rows(items: dict[str, list[dict]], checked: dict[str, Checked], decisions: Decisions) -> list[dict]:
    """One row per item: automatic verdict, what was heard, final decision and who made it (VERDICTS)."""
    rows = []
    for modality in MODALITIES:
        c = checked[modality]
        for r in items[modality]:
            item = r[ID_COLUMN[modality]]
            auto, final, heard = c.auto.get(item), c.rejected.get(item), c.heard.get(item)
            human = decisions.get((modality, item))
            rows.append({
                "modality": modality, "item_id": item, "label": r["label"], "corpus": _corpus(modality, r),
                "voice": r.get("speaker") if modality == "audio" else None,
                "auto_filter": auto.filter if auto else None, "auto_reason": auto.reason if auto else None,
                "heard": heard.word if heard else None,
                "decision": "reject" if final else "accept",
                "decided_by": final.decided_by if final else (human.annotator if human else "auto"),
                "final_filter": final.filter if final else None,
            })  # fmt: skip
    return rows


def run(params: Params, paths: Paths) -> None:
    """Filter every modality, apply human decisions, check counts, write interim/accepted/."""
    manifest = read_parquet(paths.manifest, MANIFEST)
    clips = read_parquet(paths.clips, CLIPS)
    texts = read_parquet(paths.generated, GENERATED)
    items = {
        "image": image_rows(manifest, paths),
        "audio": sorted(clips.to_pylist(), key=lambda r: r["clip_id"]),
        "text": sorted(texts.to_pylist(), key=lambda r: r["text_id"]),
    }
    _check_rows(items["image"], "image_id", paths.manifest)
    _check_rows(items["audio"], "clip_id", paths.clips)
    _check_rows(items["text"], "text_id", paths.generated)
    decisions: Decisions = {}
    if params.annotate.overrides:
        known = {
            "image": {r["image_id"] for r in items["image"]},
            "audio": {r["clip_id"] for r in items["audio"]},
            "text": {r["text_id"] for r in items["text"]},
        }
        source = _resolve(paths.root, params.annotate.overrides)
        if source.exists():
            decisions = read_overrides(source, known)
            log.info("applying %d human decisions from %s", len(decisions), params.annotate.overrides)
        else:
            log.warning("no human decisions: %s does not exist (`lumabench label` writes it)", source)
    checked = {
        "text": filter_texts(items["text"], params, decisions),
        "audio": filter_audio(items["audio"], params, paths, decisions),
        "image": filter_images(items["image"], params, paths, decisions),
    }
    rejected = {m: c.rejected for m, c in checked.items()}
    report = _report(items, rejected)
    verdicts = verdict_rows(items, checked, decisions)
    _summary(items, rejected)
    _log_rates(verdicts)
    short = _shortfalls(items, rejected, params)
    if short:
        kept = paths.cache / "annotate" / "report.parquet"
        write_parquet(kept, report, REJECTED)
        more = f" (and {len(short) - 1} more)" if len(short) > 1 else ""
        raise LumabenchError(
            f"too few accepted items: {short[0]}{more}",
            kept,
            "generate more (text.texts_per_class, corpora sizes), relax annotate filters, "
            "or lower variants.train_per_class / test_per_class",
        )
    keep = {m: [r for r in items[m] if r[c] not in rejected[m]] for m, c in
            (("image", "image_id"), ("audio", "clip_id"), ("text", "text_id"))}  # fmt: skip
    with atomic_dir(paths.accepted) as tmp:
        write_parquet(tmp / "image.parquet", pa.Table.from_pylist(keep["image"], schema=IMAGES), IMAGES)
        write_parquet(tmp / "audio.parquet", pa.Table.from_pylist(keep["audio"], schema=CLIPS), CLIPS)
        write_parquet(tmp / "text.parquet", pa.Table.from_pylist(keep["text"], schema=GENERATED), GENERATED)
        write_parquet(tmp / "report.parquet", report, REJECTED)
        write_parquet(tmp / "verdicts.parquet", pa.Table.from_pylist(verdicts, schema=VERDICTS), VERDICTS)
    log.info("wrote %s", paths.accepted)
