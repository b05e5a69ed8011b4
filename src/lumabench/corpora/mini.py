"""Build the embedded offline corpus (profile `mini`): images, speech, noise bank and manifest.

Everything is rendered or synthesised locally from Debian packages, with no network. The whole
raw/ directory is built in a temporary directory and swapped in only when complete. Work runs in
a process pool; each espeak-ng voice runs in a fresh process (espeak-ng keeps state between
sentences, so a voice's sentences are always spoken in the same order from a fresh start), and
every random choice comes from seeding.rng(seed, "corpora", item...), so two builds give
byte-identical files whatever the number of workers.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lumabench.classes import CLASSES
from lumabench.corpora import images, noise, speech, tts
from lumabench.corpora.manifest import write_manifest
from lumabench.corpora.work import Task, expected_files, run_task
from lumabench.errors import MissingDependencyError, ParamsError
from lumabench.io import atomic_dir
from lumabench.logs import progress
from lumabench.params import MiniCorpus, Params
from lumabench.paths import Paths
from lumabench.pools import workers

log = logging.getLogger(__name__)

IMAGE_CLASSES_PER_TASK = 5


def check_dependencies(cfg: MiniCorpus) -> None:
    """Fail before any work, with one line naming the Debian package that is missing."""
    images.sources("cat")  # loads the font
    for engine in cfg.engines:
        tts.check_engine(engine)
    if "espeak-ng" in cfg.engines:
        es = tts.Espeak(0)
        for v in cfg.espeak_voices:
            es.voice(v)
    if "flite" in cfg.engines:
        known = tts.flite_voices()
        for v in cfg.flite_voices:
            if v not in known:
                raise MissingDependencyError(
                    f"flite has no voice {v!r} (it has {', '.join(known)})", fix="apt-get install flite"
                )
    if "festival" in cfg.engines:
        known = tts.festival_voices()
        for v in cfg.festival_voices:
            if v not in known:
                pkg = tts.FESTIVAL_VOICE_PACKAGES.get(v, "the festvox package of that voice")
                raise MissingDependencyError(f"festival has no voice {v!r}", fix=f"apt-get install {pkg}")
    if cfg.packaged_sounds and not noise.SOUND_THEME.is_dir():
        raise MissingDependencyError(
            "the packaged sound recordings are not installed",
            noise.SOUND_THEME,
            f"apt-get install {noise.SOUND_THEME_PACKAGE}",
        )


def build_into(cfg: MiniCorpus, seed: int, out: Path, prefix: str) -> list[dict[str, Any]]:
    """Render every file of the corpus into `out`; return the manifest rows (without the manifest)."""
    voices = speech.voices_from(cfg)
    names = [c.name for c in CLASSES]
    light = SimpleNamespace(**cfg.model_dump())  # workers need not import pydantic
    tasks: list[Task] = []
    # longest tasks first (slow engines, then image blocks, then the noise bank) so no worker idles at the end
    cost = {"flite": 3, "festival": 2, "espeak-ng": 1}
    for job in sorted(speech.plan(cfg, seed), key=lambda j: -cost[j.voice.engine] * len(j.items)):
        tasks.append(("speech", job, light, seed, out))
    for i in range(0, len(names), IMAGE_CLASSES_PER_TASK):
        tasks.append(("images", tuple(names[i : i + IMAGE_CLASSES_PER_TASK]), light, seed, out))
    tasks.append(("noise", None, light, seed, out))
    total = sum(expected_files(t) for t in tasks)
    # espeak-ng output depends on what the process spoke before: one fresh process per voice
    fresh = [t for t in tasks if t[0] == "speech" and t[1].voice.engine == "espeak-ng"]
    reused = [t for t in tasks if not (t[0] == "speech" and t[1].voice.engine == "espeak-ng")]
    n = workers(cfg.workers)
    log.info("corpora mini: %d files from %d voices, %d image classes, %d workers", total, len(voices), len(names), n)
    rows: list[dict[str, Any]] = []
    ctx = mp.get_context("spawn")
    bar = progress(iter(()), desc="corpora mini", total=total, unit="file")
    for batch, per_child in ((fresh, 1), (reused, None)):
        if not batch:
            continue
        with ctx.Pool(min(n, len(batch)), maxtasksperchild=per_child) as pool:
            for done in pool.imap_unordered(run_task, batch):
                rows.extend(done)
                bar.update(len(done))  # type: ignore[attr-defined]
    bar.close()  # type: ignore[attr-defined]
    sheet = images.contact_sheet(out)
    rows.append({"corpus": "mini-images", "kind": "preview", "rel": sheet.relative_to(out).as_posix(),
                 "licence": images.EMOJI_LICENCE})  # fmt: skip
    return rows


def build_mini(params: Params, paths: Paths) -> None:
    """Stage 1, profile mini: build data/mini/raw/ atomically, manifest included."""
    cfg = params.corpora.mini
    voices = speech.voices_from(cfg)
    if len({v.speaker for v in voices}) < cfg.voices_min:
        raise ParamsError(
            f"corpora.mini lists {len(voices)} voices but voices_min is {cfg.voices_min}",
            fix="add voices (espeak_voices, flite_voices, festival_voices) or lower corpora.mini.voices_min",
        )
    check_dependencies(cfg)
    start = time.perf_counter()
    prefix = paths.raw.resolve().relative_to(paths.root.resolve()).as_posix()
    with atomic_dir(paths.raw) as tmp:
        rows = build_into(cfg, params.seed, tmp, prefix)
        table = write_manifest(rows, tmp, prefix)
    kinds = table.group_by("kind").aggregate([("path", "count")]).to_pylist()
    log.info(
        "corpora mini: %s in %.1f s -> %s",
        ", ".join(f"{k['path_count']} {k['kind']}" for k in sorted(kinds, key=lambda k: k["kind"])),
        time.perf_counter() - start,
        paths.manifest,
    )
