"""A variant file loads natively: `datasets` decodes image and audio, pandas keeps nullable integers,
pyarrow and duckdb read plain columns, all without project code."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from lumabench.io import write_parquet
from lumabench.native import MEDIA, hf_features, media_bytes, media_cell, with_native_metadata
from lumabench.schemas import VARIANT_ROWS
from test_report_fixture import make_variant_rows


@pytest.fixture(scope="module")
def variant_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("native") / "test.parquet"
    write_parquet(path, make_variant_rows(7), VARIANT_ROWS)
    return path


def test_datasets_decodes_image_and_audio(variant_file: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("parquet", data_files={"test": str(variant_file)}, cache_dir=str(tmp_path))["test"]
    assert isinstance(ds.features["image"], datasets.Image) and isinstance(ds.features["audio"], datasets.Audio)
    assert ds.features["image_severity"] == datasets.Value("int8")
    table = pq.read_table(variant_file)
    raw_audio = media_bytes(table.column("audio"))
    row = ds[0]
    assert row["image"].size == (32, 32) and row["image"].mode == "RGB"
    samples = row["audio"].get_all_samples()
    want, rate = sf.read(io.BytesIO(raw_audio[0]), dtype="float32")
    assert samples.sample_rate == rate == 16000
    assert np.allclose(samples.data.numpy()[0], want, atol=1e-4)
    assert ds[5]["audio"] is None and raw_audio[5] is None  # a missing modality stays missing
    assert ds[0]["switched_modalities"] == [] and ds[7]["switched_modalities"] == ["image"]


def test_pandas_pyarrow_and_duckdb_read_it_plainly(variant_file: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    df = pd.read_parquet(variant_file)
    assert str(df["image_severity"].dtype) == "Int8"  # nullable integer, not float with NaN
    assert df["image_severity"].tolist()[:2] == [3, pd.NA]
    assert df.loc[0, "image"]["bytes"][:8] == b"\x89PNG\r\n\x1a\n" and df.loc[0, "image"]["path"] is None
    table = pq.read_table(variant_file)
    assert table.schema.field("image").type.equals(MEDIA) and table.num_rows == len(df) == 8
    path = str(variant_file).replace("'", "''")
    ((riff, noisy),) = duckdb.sql(
        f"SELECT count(*) FILTER (WHERE audio.bytes[1:4] = 'RIFF'::BLOB), count(image_noise) FROM '{path}'"
    ).fetchall()
    assert riff == 7 and noisy == int(df["image_noise"].notna().sum())


def test_features_match_what_datasets_infers_from_the_storage() -> None:
    """Our hand-written metadata must equal datasets' own view, column by column, or it is ignored."""
    datasets = pytest.importorskip("datasets")
    inferred = datasets.Features.from_arrow_schema(VARIANT_ROWS)
    media = {"image": {"_type": "Image"}, "audio": {"_type": "Audio", "sampling_rate": 16000}}
    declared = datasets.Features.from_dict(hf_features(VARIANT_ROWS, media))
    assert inferred == declared
    assert inferred.arrow_schema.remove_metadata().equals(VARIANT_ROWS.remove_metadata())


def test_metadata_refuses_media_not_in_the_media_layout() -> None:
    with pytest.raises(TypeError, match="media column 'image'"):
        with_native_metadata(pa.schema([("image", pa.binary())]), {"image": {"_type": "Image"}})
    assert media_cell(None) is None and media_bytes(pa.array([media_cell(b"x"), None], MEDIA)) == [b"x", None]
