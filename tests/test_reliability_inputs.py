"""Bad inputs stop a stage with one line and write nothing: non-finite features and media, stale
tensor caches, truncated matrices, decompression bombs, undecodable cells."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from PIL import Image

import reliability_fixtures as rf
from lumabench import data as ldata
from lumabench import io as lio
from lumabench import train
from lumabench.annotate.image_filters import load_rgb
from lumabench.errors import InputError, TrainingError
from lumabench.features.inputs import load_image
from lumabench.methods.base import Method
from lumabench.native import MEDIA, media_cell
from lumabench.params import load_params
from lumabench.paths import Paths
from lumabench.schemas import VARIANT_ROWS
from lumabench.variants.build import load_inputs
from synth_accepted import make, write_cheap_features


@pytest.fixture
def project(tmp_path: Path) -> Paths:
    return rf.make_project(tmp_path)


def _test_rows(paths: Paths) -> list[int]:
    """Rows of text.npy that belong to test samples (training on them is fine, scoring is not)."""
    ids = pq.read_table(paths.features / "text.parquet").column("id").to_pylist()
    return [i for i, t in enumerate(ids) if "-test-" in t]


def _nothing_written(paths: Paths) -> None:
    assert not paths.results.exists() or not [p for p in paths.results.rglob("*") if p.is_file()]


# ---------------------------------------------------------------- item 1: non-finite inputs
def test_nan_in_text_features_stops_training_and_writes_nothing(project: Paths) -> None:
    """NaN rows of the features stage's text.npy (here only test rows: training itself stays
    finite) used to give a "successful" run with NaN confidences and null NLL/ECE."""
    npy = project.features / "text.npy"
    mat = np.load(npy)
    mat[_test_rows(project)[:2]] = np.nan
    np.save(npy, mat)
    with pytest.raises(InputError, match=r"2 of \d+ rows hold NaN") as info:
        train.run(rf.params(), project, rf.VARIANT, rf.METHOD, rf.SEED)
    assert "text.npy" in info.value.one_line()
    _nothing_written(project)


def test_nan_feature_matrix_stops_the_variants_stage(tmp_path: Path, root: Path) -> None:
    """Label switching picks the nearest class in feature space: NaN rows silently changed it."""
    paths = make(tmp_path, per_class=4, image_test=2, ood=2, noise_files=1)
    write_cheap_features(paths)
    params = load_params(root / "params.yaml", ["variants.train_per_class=2", "variants.test_per_class=1"])
    load_inputs(params, paths)  # finite: fine
    npy = paths.features / "text.npy"
    mat = np.load(npy)
    mat[5, 3] = np.inf
    np.save(npy, mat)
    with pytest.raises(InputError, match=r"1 of \d+ rows hold NaN or infinite values \(first: row 5\)"):
        load_inputs(params, paths)


def test_nan_audio_cell_names_its_row_and_column(project: Paths) -> None:
    table = pq.read_table(project.variant(rf.VARIANT) / "test.parquet")
    buf = io.BytesIO()
    wave = np.sin(np.arange(8000) / 10.0).astype(np.float32)
    wave[100] = np.nan
    sf.write(buf, wave, 16000, format="WAV", subtype="FLOAT")
    audio = table.column("audio").to_pylist()
    audio[4] = media_cell(buf.getvalue())
    table = table.set_column(table.schema.get_field_index("audio"), "audio", pa.array(audio, MEDIA))
    lio.write_parquet(project.variant(rf.VARIANT) / "test.parquet", table, VARIANT_ROWS)
    with pytest.raises(InputError, match=r"'audio' cell in row 4 \(sample_id 'test-01-0001'\).*NaN"):
        ldata.load_split(project, rf.VARIANT, "test", rf.params().train)


def test_non_finite_predictions_are_never_written(project: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever makes a prediction NaN, its metrics would be fake: the run fails and writes nothing."""
    original = Method.predict_split

    def poisoned(self, split, purpose):  # type: ignore[no-untyped-def]
        p = original(self, split, purpose)
        p.probs[0] = float("nan")
        return p

    monkeypatch.setattr(Method, "predict_split", poisoned)
    with pytest.raises(TrainingError, match="non-finite probs on the test split; nothing written"):
        train.run(rf.params(), project, rf.VARIANT, rf.METHOD, rf.SEED)
    _nothing_written(project)


# ---------------------------------------------------------------- item 2: stale tensor cache
def test_tensor_cache_follows_the_content_of_text_npy(project: Paths) -> None:
    """A rewritten text.npy (a GPU rerun, a partial checkout) with an unchanged meta.json was ignored."""
    p = rf.params()
    first = ldata.load_split(project, rf.VARIANT, "test", p.train, p.features)
    assert ldata.cache_path(project, rf.VARIANT, "test").is_file()
    meta = (project.features / "meta.json").read_bytes()
    ids = pq.read_table(project.features / "text.parquet").column("id").to_pylist()
    new = np.load(project.features / "text.npy") * 2.0 + 1.0
    rf.write_text_features(project, ids, new.astype(np.float32))
    assert (project.features / "meta.json").read_bytes() == meta
    again = ldata.load_split(project, rf.VARIANT, "test", p.train, p.features)
    order = pq.read_table(project.variant(rf.VARIANT) / "test.parquet").column("text_id").to_pylist()
    rows = [ids.index(t) for t in order]
    assert np.array_equal(again.text.numpy(), new[rows])
    assert not np.array_equal(first.text.numpy(), again.text.numpy())


# ---------------------------------------------------------------- item 6: one line, no traceback
def test_truncated_npy_is_one_input_error(project: Paths, tmp_path: Path, root: Path) -> None:
    npy = project.features / "text.npy"
    npy.write_bytes(npy.read_bytes()[:-40])
    with pytest.raises(InputError, match=r"unreadable or truncated \.npy") as info:
        ldata.load_split(project, rf.VARIANT, "train", rf.params().train, rf.params().features)
    assert "\n" not in info.value.one_line() and "text.npy" in info.value.one_line()
    header_only = tmp_path / "h.npy"
    header_only.write_bytes(npy.read_bytes()[:30])
    with pytest.raises(InputError, match="truncated"):
        lio.load_npy(header_only, "fix")


def bomb_png() -> bytes:
    """A valid 32x32 PNG whose header claims 60000x60000 pixels (CRC fixed, so decoders believe it)."""
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(buf, format="PNG")
    png = bytearray(buf.getvalue())
    ihdr = bytearray(png[12:29])  # b"IHDR" + 13 bytes of data
    ihdr[4:12] = struct.pack(">II", 60000, 60000)
    png[12:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(png)


def test_decompression_bomb_file_is_one_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png())
    for reader in (load_image, load_rgb):
        with pytest.raises(InputError, match=r"60000x60000|decompression") as info:
            reader(path)
        assert "bomb.png" in info.value.one_line()


def test_decompression_bomb_cell_names_row_and_column(project: Paths) -> None:
    folder = project.variant(rf.VARIANT)
    table = pq.read_table(folder / "ood.parquet")
    images = table.column("image").to_pylist()
    images[2] = media_cell(bomb_png())
    table = table.set_column(table.schema.get_field_index("image"), "image", pa.array(images, MEDIA))
    lio.write_parquet(folder / "ood.parquet", table, VARIANT_ROWS)
    bomb = r"'image' cell in row 2 \(sample_id 'ood-42-0002'\).*(60000x60000|decompression bomb)"
    with pytest.raises(InputError, match=bomb):
        ldata.load_split(project, rf.VARIANT, "ood", rf.params().train)


def test_undecodable_cell_names_row_and_column(project: Paths) -> None:
    folder = project.variant(rf.VARIANT)
    table = pq.read_table(folder / "train.parquet")
    audio = table.column("audio").to_pylist()
    audio[7] = media_cell(b"RIFF\x00\x01garbage that is not a wave file")
    table = table.set_column(table.schema.get_field_index("audio"), "audio", pa.array(audio, MEDIA))
    lio.write_parquet(folder / "train.parquet", table, VARIANT_ROWS)
    with pytest.raises(InputError, match=r"undecodable 'audio' cell in row 7 \(sample_id 'train-00-0007'\)") as e:
        ldata.load_split(project, rf.VARIANT, "train", rf.params().train)
    assert "train.parquet" in e.value.one_line() and "\n" not in e.value.one_line()


def test_features_stage_rebuilds_a_changed_output(tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The features stage said "up to date" for any text.npy beside a matching meta.json."""
    from lumabench import features

    paths = make(tmp_path, per_class=2, image_test=1, ood=1, noise_files=1)
    params = load_params(root / "params.yaml")

    def cheap(modality, df, params, paths, device):  # type: ignore[no-untyped-def]
        return np.tile(np.arange(4, dtype=np.float32), (len(df), 1)) + df.index.to_numpy()[:, None]

    monkeypatch.setattr(features, "embed_modality", cheap)
    features.run(params, paths)
    good = (paths.features / "text.npy").read_bytes()
    mat = np.load(paths.features / "text.npy")
    mat[0] = np.nan
    np.save(paths.features / "text.npy", mat)
    features.run(params, paths)
    assert (paths.features / "text.npy").read_bytes() == good
