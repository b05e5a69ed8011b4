"""`lumabench annotate` end to end on a crafted project: outputs, report, overrides, shortfall, rerun."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from PIL import Image

from lumabench import text as text_stage
from lumabench.annotate import run
from lumabench.annotate.rates import by_filter, by_voice
from lumabench.classes import ID_CLASSES
from lumabench.errors import LumabenchError
from lumabench.io import write_parquet
from lumabench.params import Params, load_params
from lumabench.paths import Paths
from lumabench.schemas import CLIPS, GENERATED, IMAGES, MANIFEST, REJECTED, VERDICTS

SR = 16000


def _params(root: Path, *extra: str) -> Params:
    return load_params(
        root / "params.yaml",
        [
            "text.backend=template",
            "text.texts_per_class=2",
            "variants.train_per_class=1",
            "variants.test_per_class=1",
            "annotate.audio.recognition_check=false",
            "annotate.workers=1",
            *extra,
        ],
    )


def _image(seed: int) -> np.ndarray:
    base = np.random.default_rng(seed).integers(0, 256, size=(5, 5, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(base).resize((32, 32), Image.Resampling.BICUBIC))


def _clip(seconds: float, amp: float, seed: int) -> np.ndarray:
    r = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return amp * np.sin(2 * np.pi * (200 + 10 * seed % 300) * t) + r.normal(0, amp / 20, t.shape)


def build_project(root: Path, params: Params) -> Paths:
    """Inputs of stage 4 for all 42 in-distribution classes, plus one crafted failure per filter."""
    paths = Paths(root, "mini")
    text_stage.run(params, paths)
    texts = pq.read_table(paths.generated).to_pylist()
    first_horse = next(r for r in texts if r["text_id"] == "horse-00000")
    extra = [
        {**first_horse, "text_id": "horse-90000", "text": "A horse."},  # too short
        {**first_horse, "text_id": "horse-90001", "text": first_horse["text"] + " Really."},  # near-duplicate
        {**first_horse, "text_id": "horse-90002", "text": "The dog and the dog met a dog and one horse there today."},
    ]
    write_parquet(paths.generated, pa.Table.from_pylist(texts + extra, schema=GENERATED), GENERATED)

    clips, manifest = [], []
    wav_dir = paths.audio / "clips"
    wav_dir.mkdir(parents=True)
    img_dir = paths.raw / "mini-images"
    for c in ID_CLASSES:
        for k in range(3):
            cid = f"{c.name}-{k}"
            sf.write(wav_dir / f"{cid}.wav", _clip(0.4, 0.1, c.id * 3 + k), SR, subtype="PCM_16")
            clips.append(_clip_row(cid, c.name, wav_dir / f"{cid}.wav", root))
        for pool in ("train", "test"):
            p = img_dir / pool / c.name / "0.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_image(c.id * 2 + (pool == "test"))).save(p)
            manifest.append(_image_row(p, c.name, pool, root))
    for cid, audio in [
        ("horse-silent", np.zeros(int(0.4 * SR))),
        ("horse-long", _clip(3.0, 0.1, 1)),
        ("horse-clipped", np.clip(_clip(0.4, 4.0, 2), -1, 1)),
    ]:
        sf.write(wav_dir / f"{cid}.wav", audio, SR, subtype="PCM_16")
        clips.append(_clip_row(cid, "horse", wav_dir / f"{cid}.wav", root))
    # a training-pool copy of horse's test image, and a near copy of dog's test image
    horse_test = np.asarray(Image.open(img_dir / "test" / "horse" / "0.png"))
    dog_test = np.asarray(Image.open(img_dir / "test" / "dog" / "0.png"))
    for name, px, label in [("copy", horse_test, "horse"), ("near", np.clip(dog_test.astype(int) + 2, 0, 255), "dog")]:
        p = img_dir / "train" / label / f"{name}.png"
        Image.fromarray(px.astype(np.uint8)).save(p)
        manifest.append(_image_row(p, label, "train", root))
    manifest.append({**_image_row(paths.raw / "speech.wav", None, None, root), "kind": "speech"})
    write_parquet(paths.clips, pa.Table.from_pylist(clips, schema=CLIPS), CLIPS)
    write_parquet(paths.manifest, pa.Table.from_pylist(manifest, schema=MANIFEST), MANIFEST)
    return paths


def _clip_row(cid: str, label: str, path: Path, root: Path) -> dict:
    info = sf.info(path)
    return {"clip_id": cid, "label": label, "corpus": "mini-speech", "speaker": "espeak-ng/en", "source_path": "x.wav",
            "start_s": 0.0, "end_s": info.duration, "duration_s": info.duration, "sample_rate": SR,
            "path": path.relative_to(root).as_posix(), "align_score": -1.0}  # fmt: skip


def _image_row(path: Path, label: str | None, pool: str | None, root: Path) -> dict:
    return {"corpus": "mini-images", "kind": "image", "path": path.relative_to(root).as_posix(), "bytes": 0,
            "sha256": "", "licence": "CC0", "label": label, "pool": pool, "transcript": None, "speaker": None,
            "engine": None, "word_timings": None}  # fmt: skip


@pytest.fixture
def project(tmp_path: Path, root: Path) -> tuple[Params, Paths]:
    params = _params(root)
    return params, build_project(tmp_path, params)


def _report(paths: Paths) -> dict[str, tuple[str, str]]:
    t = pq.read_table(paths.accepted / "report.parquet")
    assert t.schema.equals(REJECTED)
    return {r["item_id"]: (r["filter"], r["decided_by"]) for r in t.to_pylist()}


def test_stage_rejects_each_crafted_failure_and_nothing_else(project: tuple[Params, Paths]) -> None:
    params, paths = project
    run(params, paths)
    rep = _report(paths)
    assert rep == {
        "horse-90000": ("length", "auto"),
        "horse-90001": ("near_duplicate", "auto"),
        "horse-90002": ("other_class", "auto"),
        "horse-silent": ("silence", "auto"),
        "horse-long": ("duration", "auto"),
        "horse-clipped": ("clipping", "auto"),
        "mini-images/train/horse/copy": ("exact_duplicate", "auto"),
        "mini-images/train/dog/near": ("near_duplicate", "auto"),
    }
    img = pq.read_table(paths.accepted / "image.parquet")
    assert img.schema.equals(IMAGES) and img.num_rows == 2 * len(ID_CLASSES)
    assert set(img.column("source").to_pylist()) == {"mini"}
    assert pq.read_table(paths.accepted / "audio.parquet").schema.equals(CLIPS)
    txt = pq.read_table(paths.accepted / "text.parquet")
    assert txt.schema.equals(GENERATED) and txt.num_rows == 100  # all 50 classes x 2 template texts
    first = (paths.accepted / "text.parquet").read_bytes(), (paths.accepted / "report.parquet").read_bytes()
    run(params, paths)  # rerun: byte-identical
    assert first == ((paths.accepted / "text.parquet").read_bytes(), (paths.accepted / "report.parquet").read_bytes())


def test_human_overrides_replace_automatic_decisions(project: tuple[Params, Paths], root: Path) -> None:
    _, paths = project
    csv = paths.root / "decisions.csv"
    csv.write_text(
        "item_id,decision,annotator,note\n"
        "horse-00000,reject,ana,describes a statue\n"  # its near-duplicate twin then survives
        "horse-90000,accept,ana,short but right\n"
        "mini-images/train/horse/copy,accept,bo,\n"
        "cat-1,reject,bo,mumbled\n"
    )
    params = _params(root, f"annotate.overrides={csv}")
    run(params, paths)
    rep = _report(paths)
    assert rep["horse-00000"] == ("human", "ana")
    assert rep["cat-1"] == ("human", "bo")
    for gone in ("horse-90000", "horse-90001", "mini-images/train/horse/copy"):
        assert gone not in rep
    reasons = {r["item_id"]: r["reason"] for r in pq.read_table(paths.accepted / "report.parquet").to_pylist()}
    assert reasons["horse-00000"] == "describes a statue"
    ids = set(pq.read_table(paths.accepted / "text.parquet").column("text_id").to_pylist())
    assert {"horse-90000", "horse-90001"} <= ids and "horse-00000" not in ids
    before = (paths.accepted / "report.parquet").read_bytes()
    run(params, paths)  # replaying the same labelling pass gives the same result
    assert (paths.accepted / "report.parquet").read_bytes() == before


def test_shortfall_names_class_counts_and_filter(project: tuple[Params, Paths], root: Path) -> None:
    _, paths = project
    csv = paths.root / "decisions.csv"
    csv.write_text("item_id,decision,annotator,note\nbear-00000,reject,ana,\nbear-00001,reject,ana,\n")
    params = _params(root, f"annotate.overrides={csv}")
    with pytest.raises(LumabenchError) as err:
        run(params, paths)
    msg = str(err.value)
    assert "class 'bear' has 0 accepted text items of 2, needs 2" in msg
    assert "filter that removed most: human (2)" in msg
    assert not paths.accepted.exists()
    assert (paths.cache / "annotate" / "report.parquet").is_file()
    with pytest.raises(LumabenchError, match=r"class 'man' has 2 accepted text items of 2, needs 4; nothing was rej"):
        run(_params(root, "variants.train_per_class=3"), paths)


def test_verdicts_hold_every_item_its_automatic_verdict_and_who_decided(
    project: tuple[Params, Paths], root: Path
) -> None:
    _, paths = project
    csv = paths.root / "decisions.csv"
    csv.write_text("item_id,decision,annotator,note\nhorse-silent,accept,ana,a breath\ncat-1,reject,bo,\n")
    run(_params(root, f"annotate.overrides={csv}"), paths)
    t = pq.read_table(paths.accepted / "verdicts.parquet")
    assert t.schema.equals(VERDICTS)
    rows = {(r["modality"], r["item_id"]): r for r in t.to_pylist()}
    n = {m: pq.read_table(p).num_rows for m, p in (("audio", paths.clips), ("text", paths.generated))}
    assert sum(m == "audio" for m, _ in rows) == n["audio"] and sum(m == "text" for m, _ in rows) == n["text"]
    silent = rows[("audio", "horse-silent")]  # the filter's verdict stays on record under the human accept
    assert (silent["auto_filter"], silent["decision"], silent["decided_by"]) == ("silence", "accept", "ana")
    cat = rows[("audio", "cat-1")]
    got = (cat["auto_filter"], cat["decision"], cat["decided_by"], cat["final_filter"])
    assert got == (None, "reject", "bo", "human")
    assert cat["voice"] == "espeak-ng/en" and cat["heard"] is None  # recognition is off in this project
    assert rows[("image", "mini-images/train/horse/copy")]["corpus"] == "mini/train"
    rates = {(r["modality"], r["filter"]): (r["rejected"], r["total"]) for r in by_filter(rows.values())}
    assert rates[("audio", "human")] == (1, n["audio"]) and ("audio", "silence") not in rates
    assert rates[("audio", "duration")] == (1, n["audio"])
    [voice] = by_voice(rows.values())
    assert (voice["voice"], voice["rejected"], voice["total"]) == ("espeak-ng/en", 3, n["audio"])
    assert voice["filters"] == {"human": 1, "duration": 1, "clipping": 1}
