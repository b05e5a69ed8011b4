"""Stage 1, profile mini: the embedded corpus builds offline, completely, and byte-identically."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from lumabench import classes
from lumabench.corpora import images, noise, speech, tts
from lumabench.corpora import run as corpora_run
from lumabench.errors import MissingDependencyError, ParamsError
from lumabench.params import load_params
from lumabench.paths import Paths

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "corpora.mini.images_per_class=5",
    "corpora.mini.ood_images_per_class=3",
    "corpora.mini.sentences_per_word=1",
    "corpora.mini.ood_sentences_per_word=1",
    "corpora.mini.noise_seconds=1",
    "corpora.mini.noise_per_colour=1",
]

# Blocks every outgoing connection in this process and, through PYTHONPATH, in the spawned workers.
_NO_NETWORK = """
import socket

def _refuse(*args, **kwargs):
    raise OSError("network access is blocked in this test")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""


def _build(tmp: Path, workers: int) -> Path:
    params = load_params(ROOT / "params.yaml", [*SMALL, f"corpora.mini.workers={workers}", "profile=mini"])
    paths = Paths(tmp, "mini")
    corpora_run(params, paths)
    return paths.raw


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two builds from scratch into different roots, with 2 and 1 workers, sockets blocked."""
    guard = tmp_path_factory.mktemp("guard")
    (guard / "sitecustomize.py").write_text(_NO_NETWORK)
    with pytest.MonkeyPatch.context() as mp:
        old = os.environ.get("PYTHONPATH")
        mp.setenv("PYTHONPATH", f"{guard}{os.pathsep}{old}" if old else str(guard))
        for name in ("connect", "connect_ex"):
            mp.setattr(socket.socket, name, lambda *a, **k: (_ for _ in ()).throw(OSError("blocked")))
        mp.setattr(socket, "create_connection", lambda *a, **k: (_ for _ in ()).throw(OSError("blocked")))
        mp.setattr(socket, "getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(OSError("blocked")))
        a = _build(tmp_path_factory.mktemp("a"), 2)
        b = _build(tmp_path_factory.mktemp("b"), 1)
    return a, b


def _manifest(raw: Path) -> pd.DataFrame:
    return pd.read_parquet(raw / "manifest.parquet")


def test_manifest_covers_every_file_with_size_and_hash(builds: tuple[Path, Path]) -> None:
    raw = builds[0]
    root = raw.parents[2]
    m = _manifest(raw)
    on_disk = {p.relative_to(root).as_posix() for p in raw.rglob("*") if p.is_file()}
    assert on_disk - set(m.path) == {"data/mini/raw/manifest.parquet"}
    assert set(m.path) <= on_disk
    assert m.path.is_unique
    for row in m.itertuples():
        data = (root / row.path).read_bytes()
        assert len(data) == row.bytes
        assert hashlib.sha256(data).hexdigest() == row.sha256
    assert m.licence.notna().all() and (m.licence != "").all()
    assert not list(raw.parent.glob(".raw.*")), "no temporary directory left behind"


def test_rebuild_is_byte_identical_whatever_the_workers(builds: tuple[Path, Path]) -> None:
    a, b = (_manifest(r).set_index("path").sha256.to_dict() for r in builds)
    assert a == b
    assert (builds[0] / "manifest.parquet").read_bytes() == (builds[1] / "manifest.parquet").read_bytes()


def test_images_per_class_and_pool(builds: tuple[Path, Path]) -> None:
    m = _manifest(builds[0])
    img = m[m.kind == "image"]
    counts = Counter(zip(img.label, img.pool, strict=True))
    for c in classes.CLASSES:
        if c.ood:
            assert counts[(c.name, "ood")] == 3
        else:
            assert counts[(c.name, "train")] == 4 and counts[(c.name, "test")] == 1
    assert set(img.label) == set(classes.NAMES)
    assert img.sha256.is_unique, "no image is shared between pools or classes"
    root = builds[0].parents[2]
    with Image.open(root / img.path.iloc[0]) as im:
        assert im.size == (32, 32) and im.mode == "RGB"
    assert (m.kind == "preview").sum() == 1


def test_speech_counts_voices_and_format(builds: tuple[Path, Path]) -> None:
    m = _manifest(builds[0])
    sp = m[m.kind == "speech"]
    assert sp.speaker.nunique() >= 12 and sp.engine.nunique() >= 2
    assert set(sp.engine) == {"espeak-ng", "flite", "festival"}
    assert (sp.speaker.str.split("/").str[0] == sp.engine).all()
    per_class = sp.groupby("label").size()
    assert set(per_class.index) == set(classes.NAMES)
    assert (per_class == sp.speaker.nunique()).all()  # one sentence per word and voice here
    root = builds[0].parents[2]
    for row in sp.groupby("engine").head(2).itertuples():
        info = sf.info(root / row.path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 0.8 < info.duration < 6.0
        assert f"the {row.label}" in row.transcript


def test_engine_word_timings_cover_the_class_word(builds: tuple[Path, Path]) -> None:
    m = _manifest(builds[0])
    sp = m[m.kind == "speech"]
    assert sp[sp.engine == "flite"].word_timings.isna().all()
    root = builds[0].parents[2]
    for engine in ("espeak-ng", "festival"):
        rows = sp[sp.engine == engine]
        assert rows.word_timings.notna().all()
        for row in rows.head(20).itertuples():
            words = [w["word"] for w in row.word_timings]
            assert row.label in words, (row.transcript, words)
            duration = sf.info(root / row.path).duration
            starts = [w["start_s"] for w in row.word_timings]
            assert starts == sorted(starts)
            hit = row.word_timings[words.index(row.label)]
            assert 0.0 <= hit["start_s"] < hit["end_s"] <= duration + 1e-3
            assert 0.1 < hit["end_s"] - hit["start_s"] < 1.5


def test_noise_bank(builds: tuple[Path, Path]) -> None:
    m = _manifest(builds[0])
    nz = m[m.kind == "noise"]
    synthetic = nz[nz.corpus == "mini-noise"].path.str.contains("/synthetic/")
    assert synthetic.sum() == 3
    recorded = nz[~nz.path.str.contains("/synthetic/")]
    assert len(recorded) >= 10
    assert not recorded.path.str.contains("audio-channel").any(), "spoken announcements are not noise"
    assert recorded.licence.str.match(r"^(CC-BY|GPL)").all()
    assert nz.label.isna().all()


def test_templates_never_say_another_class_word() -> None:
    assert speech.leaking_words() == set()
    for t in speech.TEMPLATES:
        assert t.count("{w}") == 1 and "the {w}" in t


def test_speech_plan_counts_and_determinism() -> None:
    cfg = load_params(ROOT / "params.yaml").corpora.mini
    jobs = speech.plan(cfg, 42)
    assert jobs == speech.plan(cfg, 42)
    assert len({j.voice.speaker for j in jobs}) >= 12
    per_class = Counter(label for j in jobs for label, _, _ in j.items)
    for c in classes.CLASSES:
        # enough utterances per in-distribution class for 48 train + 16 test clips after the
        # recognition check's losses (at most 38% of a class's clips: docs/labelling.md)
        assert per_class[c.name] >= (60 if c.ood else 104)
    texts = {u.text for j in jobs for label, u, _ in j.items if label == "cat"}
    assert len(texts) >= 8


def test_espeak_reports_word_times_even_when_it_merges_words() -> None:
    es = tts.Espeak(0)
    es.voice("en-us")
    out = es.say(tts.Utterance("We talked about the bear for a while.", 1.0, 0.0))
    words = [w for w, _, _ in out.words]
    assert words[:6] == ["we", "talked", "about", "the", "bear", "for"]
    assert " ".join(words).split() == ["we", "talked", "about", "the", "bear", "for", "a", "while"]
    assert all(a < b for _, a, b in out.words)
    assert out.words[-1][2] <= len(out.audio) / tts.SAMPLE_RATE + 1e-3


def test_coloured_noise_has_the_right_spectral_slope() -> None:
    g = np.random.default_rng(0)
    freqs = np.fft.rfftfreq(1 << 16, 1 / tts.SAMPLE_RATE)
    band = (freqs > 50) & (freqs < 4000)
    for beta in (0.0, 1.0, 2.0):
        x = noise.coloured(beta, 1 << 16, g)
        power = np.abs(np.fft.rfft(x)) ** 2
        slope = np.polyfit(np.log(freqs[band]), np.log(power[band]), 1)[0]
        assert abs(slope + beta) < 0.1


def test_dep5_licences_are_read_per_file(tmp_path: Path) -> None:
    f = tmp_path / "copyright"
    f.write_text(
        textwrap.dedent("""\
        Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

        Files: stereo/bell.oga stereo/complete.oga
        Copyright: Someone
                   Someone else
        License: CC-BY-3.0

        Files: stereo/phone-*.oga
        Copyright: Another
        License: GPL-2+
        """)
    )
    m = noise.licences_from_dep5(f)
    assert noise._licence(m, "bell.oga") == "CC-BY-3.0"
    assert noise._licence(m, "phone-incoming-call.oga") == "GPL-2+"
    assert noise._licence(m, "dialog-warning.oga") is None


def test_missing_font_names_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "FONT_PATH", tmp_path / "none.ttf")
    images._font.cache_clear()
    images.glyph.cache_clear()
    images.sources.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match="fonts-noto-color-emoji"):
            images.sources("cat")
    finally:
        monkeypatch.undo()
        images._font.cache_clear()
        images.glyph.cache_clear()
        images.sources.cache_clear()


def test_missing_engine_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(tts.shutil, "which", lambda name: None if name == "flite" else real(name))
    with pytest.raises(MissingDependencyError, match="apt-get install flite"):
        tts.check_engine("flite")


def test_too_few_voices_is_a_params_error(tmp_path: Path) -> None:
    params = load_params(ROOT / "params.yaml", ["corpora.mini.engines=[flite]", "corpora.mini.voices_min=12"])
    with pytest.raises(ParamsError, match="voices_min"):
        corpora_run(params, Paths(tmp_path, "mini"))
    assert not (tmp_path / "data" / "mini" / "raw").exists()


def test_every_class_renders_recognisable_sources() -> None:
    for c in classes.CLASSES:
        srcs = images.sources(c.name)
        assert srcs, c.name
        if c.name in ("table", "tank", "ray", "plain"):
            assert {k for k, _ in srcs} == {"drawn"}
        img, licence = images.render(c, np.random.default_rng(c.id))
        assert img.size == (32, 32) and licence
        assert np.asarray(img).std() > 5  # not a blank tile
