"""Stage 1, `full` profile: fetch, verify and unpack the real corpora, then write raw/manifest.parquet.

Layout under data/full/raw/:
  <corpus>/<archive>             each downloaded or imported archive, exactly as published
  <corpus>/<extracted files>     its members (e.g. cifar10/cifar-10-batches-py/, librispeech/LibriSpeech/dev-clean/)
  luma/release/<files>           the LUMA hub repository at its pinned commit (audio/, text_data.tsv, edm_images.pickle)
  <corpus>/.lumabench/           bookkeeping, never in the manifest: a hash cache of the archives (size + mtime ->
                                 sha256) and one record per extraction (the archive's sha256 and every file written)
  manifest.parquet               schema MANIFEST

Manifest granularity: one row per archive (kind `archive`) and one row per regular file it unpacked
or the hub snapshot holds, with its bytes and sha256 (computed while extracting, so no second read).
`kind` is image (CIFAR batches, EDM images), speech (LibriSpeech, Spoken Wikipedia, Common Voice and
LUMA clips), noise (ESC-50 clips), text (LUMA texts), alignment (TextGrid, aligned.swc, LibriSpeech
*.alignment.txt) or meta (any other file). `pool` is train/test for the CIFAR batches (their own
split) and train for the EDM images; `label` is the LUMA class of a LUMA clip (from the release's
audio/datalist.csv). Speech rows of LibriSpeech, Spoken Wikipedia and Common Voice carry their
transcript, speaker and (LibriSpeech, Spoken Wikipedia) shipped word timings, read by
`corpora.speech_meta` from the files each corpus publishes; `speaker` is `librispeech:<id>`,
`spoken_wikipedia:<reader>` or `common_voice:<client>`.

Runs are idempotent: a file is verified (size, md5/sha256 from the registry or the lock file) before
it counts as present; archives are re-hashed only when their size or mtime changed (or with
`corpora.full.rehash`), extractions are checked by the size of every file they wrote, and the
manifest is rewritten only when its content changes. A second run therefore makes no request and
writes nothing. With no network, the run ends with one DownloadError line listing every missing file,
its URL and the `--from` folder that can provide it.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lumabench.corpora import hub, speech_meta
from lumabench.corpora.archives import Extracted, install, safe_extract
from lumabench.corpora.downloads import Digest, Expected, NetworkDown, apply_mirror, copy_in, fetch, hash_file
from lumabench.corpora.sources import Corpus, FileSource, HubSource, registry
from lumabench.errors import DownloadError, InputError
from lumabench.io import read_json, write_json, write_parquet
from lumabench.params import FullCorpus, Params
from lumabench.paths import Paths
from lumabench.schemas import MANIFEST

log = logging.getLogger(__name__)

STATE = ".lumabench"
AUDIO_EXT = {".wav", ".flac", ".ogg", ".mp3", ".opus"}
ALIGN_EXT = {".textgrid", ".swc"}
LOCK_VERSION = 1


@dataclass
class Missing:
    key: str
    how: str


class Lock:
    """The committable record of what the first download saw (sizes, sha256s, the hub commit)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data: dict[str, Any] = {}
        if path.is_file():
            data = read_json(path, "restore it from git, or delete it to record the files afresh")
            if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
                raise InputError("not a corpora lock file of this version", path, "restore it from git or delete it")
        self.data: dict[str, Any] = {"version": LOCK_VERSION, "files": {}, "hub": {}, **data}

    def file(self, key: str) -> dict[str, Any] | None:
        return self.data["files"].get(key)

    def hub(self, key: str) -> dict[str, Any] | None:
        return self.data["hub"].get(key)

    def record(self, section: str, key: str, entry: dict[str, Any]) -> None:
        if self.data[section].get(key) != entry:
            self.data[section][key] = entry
            write_json(self.path, self.data)


@dataclass
class _Present:
    """A verified archive of one source."""

    src: FileSource
    path: Path
    digest: Digest


@dataclass
class _Run:
    cfg: FullCorpus
    paths: Paths
    lock: Lock
    offline: str | None = None
    missing: list[Missing] = field(default_factory=list)
    caches: dict[str, dict[str, Any]] = field(default_factory=dict)

    # ------------------------------------------------------------ bookkeeping
    def corpus_dir(self, corpus: str) -> Path:
        return self.paths.raw / corpus

    def state(self, corpus: str, name: str) -> Path:
        return self.corpus_dir(corpus) / STATE / name

    def _cache(self, corpus: str) -> dict[str, Any]:
        if corpus not in self.caches:
            path = self.state(corpus, "verified.json")
            self.caches[corpus] = read_json(path, "delete it") if path.is_file() else {}
        return self.caches[corpus]

    def _remember(self, corpus: str, path: Path, digest: Digest) -> None:
        st = path.stat()
        entry = {"bytes": digest.size, "mtime_ns": st.st_mtime_ns, "sha256": digest.sha256, "md5": digest.md5}
        cache = self._cache(corpus)
        if cache.get(path.name) != entry:
            cache[path.name] = entry
            write_json(self.state(corpus, "verified.json"), cache)

    def digest(self, corpus: str, path: Path) -> Digest:
        """The file's digest, re-hashed only if its size or mtime changed since it was last hashed."""
        st = path.stat()
        entry = self._cache(corpus).get(path.name)
        if (
            entry is not None
            and not self.cfg.rehash
            and entry["bytes"] == st.st_size
            and entry["mtime_ns"] == st.st_mtime_ns
        ):
            return Digest(entry["bytes"], entry["sha256"], entry["md5"])
        digest = hash_file(path)
        self._remember(corpus, path, digest)
        return digest

    def import_dir(self) -> Path | None:
        if self.cfg.import_from is None:
            return None
        folder = Path(self.cfg.import_from).expanduser()
        if not folder.is_absolute():
            folder = self.paths.root / folder
        if not folder.is_dir():
            raise InputError("the --from folder does not exist", folder, "pass the folder holding the archives")
        return folder

    # ------------------------------------------------------------ archives
    def expected(self, src: FileSource, locked: dict[str, Any] | None) -> Expected:
        locked = locked or {}
        return Expected(
            size=src.size if src.size is not None else locked.get("bytes"),
            md5=src.md5,
            sha256=src.sha256 or locked.get("sha256"),
        )

    def _find_import(self, src: FileSource, folder: Path) -> Path | None:
        for base in (folder, folder / src.corpus):
            if src.url is not None and (base / src.filename).is_file():
                return base / src.filename
            if src.pattern is not None:
                found = sorted(p for p in base.glob(src.pattern) if p.is_file() and not p.name.endswith(".part"))
                if found:
                    if len(found) > 1:
                        log.info("%s: several candidates in %s, taking %s", src.key, base, found[-1].name)
                    return found[-1]
        return None

    @staticmethod
    def _local(src: FileSource, corpus_dir: Path, locked: dict[str, Any] | None) -> Path | None:
        """The archive already in raw/<corpus>/, if any (a manual one by its locked name or pattern)."""
        if src.url is not None:
            names = [src.filename]
        elif locked is not None:
            names = [locked["filename"]]
        elif src.pattern is not None and corpus_dir.is_dir():
            names = sorted(p.name for p in corpus_dir.glob(src.pattern) if not p.name.endswith(".part"))[-1:]
        else:
            names = []
        found = [corpus_dir / n for n in names if (corpus_dir / n).is_file()]
        return found[0] if found else None

    def ensure_file(self, src: FileSource) -> _Present | None:
        """The verified archive of `src`: already here, imported from --from, or downloaded."""
        locked = self.lock.file(src.key)
        expected = self.expected(src, locked)
        corpus_dir = self.corpus_dir(src.corpus)
        dest = self._local(src, corpus_dir, locked)
        if dest is not None:
            digest = self.digest(src.corpus, dest)
            problem = expected.mismatch(digest)
            if problem is None:
                log.info("%s: present and verified", src.key)
                return self._recorded(src, dest, digest)
            log.warning("%s: %s; deleting it and fetching it again", dest, problem)
            dest.unlink()
        folder = self.import_dir()
        found = self._find_import(src, folder) if folder is not None else None
        if found is not None:
            dest = corpus_dir / (src.filename if src.url is not None else found.name)
            log.info("%s: importing %s", src.key, found)
            digest = copy_in(found, dest, expected)
            return self._recorded(src, dest, digest)
        if src.url is None:
            self.missing.append(Missing(src.key, f"{src.manual}, then run with --from FOLDER"))
            return None
        url = apply_mirror(src.url, self.cfg.mirrors)
        if self.offline is not None:
            self.missing.append(Missing(src.key, src.url))
            return None
        dest = corpus_dir / src.filename
        log.info("%s: downloading %s", src.key, url)
        try:
            digest = fetch(
                url,
                dest,
                expected,
                retries=self.cfg.retries,
                timeout_s=self.cfg.timeout_s,
                backoff_s=self.cfg.backoff_s,
            )
        except NetworkDown as exc:
            self.offline = exc.what
            self.missing.append(Missing(src.key, src.url))
            return None
        return self._recorded(src, dest, digest)

    def _recorded(self, src: FileSource, dest: Path, digest: Digest) -> _Present:
        self._remember(src.corpus, dest, digest)
        entry = {"filename": dest.name, "bytes": digest.size, "sha256": digest.sha256, "url": src.url or "manual"}
        self.lock.record("files", src.key, entry)
        return _Present(src, dest, digest)

    def ensure_extracted(self, present: _Present) -> list[Extracted]:
        """Unpack a verified archive unless its last extraction is still in place; files relative to corpus dir."""
        src = present.src
        corpus_dir = self.corpus_dir(src.corpus)
        record_path = self.state(src.corpus, f"extracted-{present.path.name}.json")
        if record_path.is_file():
            record = read_json(record_path, "delete it")
            files = [Extracted(*row) for row in record["files"]]
            if record.get("archive_sha256") == present.digest.sha256 and _in_place(corpus_dir, files):
                return files
        staging = self.state(src.corpus, f"staging-{present.path.name}")
        shutil.rmtree(staging, ignore_errors=True)
        root = staging / src.extract_to if src.extract_to else staging
        log.info("%s: extracting %s", src.key, present.path.name)
        prefix = f"{src.extract_to}/" if src.extract_to else ""
        files = [Extracted(prefix + f.path, f.size, f.sha256) for f in safe_extract(present.path, root)]
        if src.creates is not None and not (staging / src.creates).exists():
            shutil.rmtree(staging, ignore_errors=True)
            raise DownloadError(
                f"{present.path.name} did not unpack to {src.creates}", present.path, "the publisher changed its layout"
            )
        replace = [src.creates] if src.creates is not None else [p.name for p in staging.iterdir()]
        install(staging, corpus_dir, replace)
        record = {
            "archive": present.path.name,
            "archive_sha256": present.digest.sha256,
            "files": [[f.path, f.size, f.sha256] for f in files],
        }
        write_json(record_path, record)
        return files

    # ------------------------------------------------------------ hub
    def _hub_import(self, src: HubSource, folder: Path, staging: Path) -> bool:
        repo_name = src.repo_id.split("/")[-1]
        for cand in (folder / src.corpus, folder / repo_name, folder / repo_name.lower()):
            if cand.is_dir():
                log.info("%s: importing %s", src.key, cand)
                shutil.rmtree(staging, ignore_errors=True)  # a partial hub download must not mix in
                for path in sorted(cand.rglob("*")):
                    rel = path.relative_to(cand).as_posix()
                    if path.is_file() and not _hidden(rel) and _wanted(rel, src.allow_patterns):
                        dest = staging / rel
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(path, dest)
                return True
        return False

    def ensure_hub(self, src: HubSource) -> list[Extracted] | None:
        """The hub snapshot at the pinned commit, installed under raw/<corpus>/<into>/; files relative to it."""
        into = self.corpus_dir(src.corpus) / src.into
        locked = self.lock.hub(src.key)
        record_path = self.state(src.corpus, "hub.json")
        if record_path.is_file():
            record = read_json(record_path, "delete it")
            files = [Extracted(*row) for row in record["files"]]
            revision, tree = record.get("revision"), record.get("tree_sha256")
            agrees = locked is None or (locked.get("revision"), locked.get("tree_sha256")) == (revision, tree)
            if agrees and _in_place(into, files):
                log.info("%s: present at %s", src.key, revision)
                self.lock.record("hub", src.key, _hub_entry(src, revision, tree, files))
                return files
        staging = self.state(src.corpus, "hub-staging")
        folder = self.import_dir()
        revision = locked.get("revision") if locked else None
        if folder is not None and self._hub_import(src, folder, staging):
            if revision is None:
                log.warning("%s: imported snapshot is not tied to a hub commit; its content hash is locked", src.key)
        elif self.offline is not None:
            self.missing.append(Missing(src.key, _hub_how(src, revision)))
            return None
        else:
            try:
                revision = revision or hub.resolve_revision(src, src.revision)
                log.info("%s: downloading %s at %s", src.key, src.repo_id, revision)
                hub.download_snapshot(src, revision, staging)
            except NetworkDown as exc:
                self.offline = exc.what
                self.missing.append(Missing(src.key, _hub_how(src, revision)))
                return None
        files = _hash_tree(staging)
        if not files:
            raise DownloadError(f"no files of {src.repo_id} matched {list(src.allow_patterns)}", staging)
        tree = tree_sha256(files)
        if locked is not None and locked.get("tree_sha256") not in (None, tree):
            shutil.rmtree(staging, ignore_errors=True)
            raise DownloadError(
                f"{src.repo_id} at {revision} does not match the lock file (content hash {tree[:12]}…, "
                f"locked {locked['tree_sha256'][:12]}…); the staged files were deleted",
                self.lock.path,
                "run again; if it persists, the files were replaced: review and delete the lock entry",
            )
        for extra in (".cache", ".git", ".gitattributes"):
            path = staging / extra
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        if into.exists():
            shutil.rmtree(into)
        into.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, into)
        self.lock.record("hub", src.key, _hub_entry(src, revision, tree, files))
        write_json(record_path, {"revision": revision, "tree_sha256": tree, "files": [list(_row(f)) for f in files]})
        return files


def _hub_entry(src: HubSource, revision: str | None, tree: str, files: list[Extracted]) -> dict[str, Any]:
    return {
        "repo_id": src.repo_id,
        "revision": revision,
        "tree_sha256": tree,
        "files": len(files),
        "bytes": sum(f.size for f in files),
    }


def _row(f: Extracted) -> tuple[str, int, str]:
    return (f.path, f.size, f.sha256)


def _hub_how(src: HubSource, revision: str | None) -> str:
    return f"{src.web_url} at {revision or src.revision} (or a clone of it as FOLDER/{src.corpus})"


def _hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in PurePosixPath(rel).parts)


def _wanted(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(rel, p) for p in patterns)


def _in_place(root: Path, files: list[Extracted]) -> bool:
    """Every recorded file still exists with its recorded size."""
    for f in files:
        try:
            if (root / f.path).stat().st_size != f.size:
                return False
        except OSError:
            return False
    return bool(files)


def _hash_tree(root: Path) -> list[Extracted]:
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not path.is_symlink() and not _hidden(rel):
            digest = hash_file(path)
            out.append(Extracted(rel, digest.size, digest.sha256))
    return out


def tree_sha256(files: list[Extracted]) -> str:
    """One hash for a set of files: sha256 over the sorted `path NUL sha256 LF` lines."""
    sha = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        sha.update(f"{f.path}\0{f.sha256}\n".encode())
    return sha.hexdigest()


# ---------------------------------------------------------------- manifest
def _kind_pool(corpus: str, rel: str) -> tuple[str, str | None]:
    name = PurePosixPath(rel).name
    suffix = PurePosixPath(rel).suffix.lower()
    if corpus in ("cifar10", "cifar100"):
        if name.startswith("data_batch") or name == "train":
            return "image", "train"
        if name in ("test_batch", "test"):
            return "image", "test"
        return "meta", None
    if suffix in ALIGN_EXT or name.endswith(".alignment.txt"):
        return "alignment", None
    if corpus == "esc50":
        return ("noise" if suffix in AUDIO_EXT else "meta"), None
    if corpus == "luma":
        if name == "edm_images.pickle":
            return "image", "train"
        if name == "text_data.tsv":
            return "text", None
    if suffix in AUDIO_EXT:
        return "speech", None
    return "meta", None


def _luma_labels(release: Path) -> dict[str, str]:
    """Clip path (relative to the release's audio/ folder) -> class label, from audio/datalist.csv."""
    datalist = release / "audio" / "datalist.csv"
    if not datalist.is_file():
        return {}
    labels: dict[str, str] = {}
    with datalist.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            path, label = row.get("path"), row.get("label")
            if path and label:
                labels[_audio_key(path)] = label
    return labels


def _audio_key(path: str) -> str:
    key = path.replace("\\", "/").lstrip("./")
    return key.removeprefix("audio/")


def _licence(src: HubSource, rel: str) -> str:
    for pattern, licence in src.licences:
        if fnmatch.fnmatch(rel, pattern):
            return licence
    return src.licence


def manifest_table(
    paths: Paths,
    archives: list[tuple[_Present, list[Extracted]]],
    hubs: list[tuple[HubSource, list[Extracted]]],
) -> pa.Table:
    """One row per archive and per file it unpacked or the hub snapshot holds, sorted by path."""
    rows: list[dict[str, Any]] = []

    def add(corpus: str, kind: str, path: Path, size: int, sha: str, licence: str, **extra: Any) -> None:
        rel = path.relative_to(paths.root).as_posix()
        rows.append(
            {"corpus": corpus, "kind": kind, "path": rel, "bytes": size, "sha256": sha, "licence": licence, **extra}
        )

    unpacked: dict[str, list[str]] = {}  # a corpus's metadata may sit in another of its archives
    for present, files in archives:
        unpacked.setdefault(present.src.corpus, []).extend(f.path for f in files)
    meta = {c: speech_meta.corpus_meta(c, paths.raw / c, rels) for c, rels in unpacked.items()}
    for present, files in archives:
        src = present.src
        corpus_dir = paths.raw / src.corpus
        kind = "archive" if src.extract else "model"  # a file kept as published: model weights
        add(src.corpus, kind, present.path, present.digest.size, present.digest.sha256, src.licence)
        for f in files:
            kind, pool = _kind_pool(src.corpus, f.path)
            extra: dict[str, Any] = {}
            if kind == "speech":
                m = meta[src.corpus].get(f.path) or speech_meta.SpeechMeta()
                extra = {"transcript": m.transcript, "speaker": m.speaker,
                         "word_timings": m.word_timings}  # fmt: skip
            add(src.corpus, kind, corpus_dir / f.path, f.size, f.sha256, src.licence, pool=pool, **extra)
    for src, files in hubs:
        into = paths.raw / src.corpus / src.into
        labels = _luma_labels(into)
        for f in files:
            kind, pool = _kind_pool(src.corpus, f.path)
            label = labels.get(_audio_key(f.path)) if kind == "speech" else None
            add(src.corpus, kind, into / f.path, f.size, f.sha256, _licence(src, f.path), pool=pool, label=label)
    rows.sort(key=lambda r: r["path"])
    return pa.Table.from_pylist(rows, schema=MANIFEST)


def _write_manifest(path: Path, table: pa.Table) -> bool:
    """Write unless the file already holds exactly this table (a rerun writes nothing)."""
    if path.is_file():
        try:
            if pq.read_table(path).equals(table):
                return False
        except (OSError, pa.ArrowException):
            pass
    write_parquet(path, table, MANIFEST)
    return True


def _selected(cfg: FullCorpus) -> list[Corpus]:
    known = registry(cfg.librispeech_subsets)
    return [known[name] for name in dict.fromkeys(cfg.sources)]


def _missing_error(run: _Run) -> DownloadError:
    items = "; ".join(f"{m.key} <- {m.how}" for m in run.missing)
    why = f" ({run.offline})" if run.offline else ""
    return DownloadError(
        f"{len(run.missing)} corpus file(s) missing{why}: {items}",
        run.paths.raw,
        "rerun with network access (it resumes), or save each file under the name listed (as FOLDER/<name> or "
        "FOLDER/<corpus>/<name>; a hub repository clone as FOLDER/<corpus>) and run "
        "`lumabench --set profile=full corpora --from FOLDER`",
    )


def build_full(params: Params, paths: Paths) -> None:
    """Fetch, verify and unpack every corpus in `corpora.full.sources`; write raw/manifest.parquet."""
    cfg = params.corpora.full
    lock_path = Path(cfg.lock_file)
    run = _Run(cfg, paths, Lock(lock_path if lock_path.is_absolute() else paths.root / lock_path))
    present: list[_Present] = []
    hub_sources: list[HubSource] = []
    for corpus in _selected(cfg):
        for src in corpus.files:
            got = run.ensure_file(src)
            if got is not None:
                present.append(got)
        if corpus.hub is not None:
            hub_sources.append(corpus.hub)
    hubs = []
    for src in hub_sources:
        files = run.ensure_hub(src)
        if files is not None:
            hubs.append((src, files))
    if run.missing:
        raise _missing_error(run)
    archives = [(p, run.ensure_extracted(p) if p.src.extract else []) for p in present]
    table = manifest_table(paths, archives, hubs)
    if _write_manifest(paths.manifest, table):
        log.info("wrote %s (%d rows)", paths.manifest, table.num_rows)
    else:
        log.info("%s is up to date (%d rows)", paths.manifest, table.num_rows)
