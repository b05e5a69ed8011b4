"""Training reuses the features stage's text embeddings for unperturbed texts and encodes the rest."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lumabench import data as ldata
from lumabench.io import write_parquet
from lumabench.params import Features
from lumabench.paths import Paths
from lumabench.schemas import FEATURE_IDS


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    p = Paths(tmp_path, "mini")
    p.features.mkdir(parents=True)
    vecs = np.eye(3, 384, dtype=np.float32) * 7.0  # recognisable rows, unlike any unit-norm embedding
    buf = io.BytesIO()
    np.save(buf, vecs)
    (p.features / "text.npy").write_bytes(buf.getvalue())
    write_parquet(p.features / "text.parquet", pa.table({"id": ["t0", "t1", "t2"], "label": ["cat"] * 3}), FEATURE_IDS)
    return p


def test_clean_texts_reuse_stage_rows_and_noisy_ones_are_encoded(paths: Paths) -> None:
    texts = ["A cat sat on the mat.", "The cat sleeps.", None, "Teh cta sleesp."]
    ids = ["t1", "t0", "t2", "t2"]
    noise = [None, None, None, "keyboard"]
    emb, have = ldata.embed_texts(texts, ids, noise, paths, Features())
    assert have.tolist() == [True, True, False, True]
    np.testing.assert_array_equal(emb[0].numpy(), np.eye(3, 384)[1] * 7.0)
    np.testing.assert_array_equal(emb[1].numpy(), np.eye(3, 384)[0] * 7.0)
    assert float(emb[2].abs().sum()) == 0.0
    assert abs(float(emb[3].norm()) - 1.0) < 1e-4  # encoded now: a unit-norm MiniLM embedding


def test_without_the_features_stage_everything_is_encoded(tmp_path: Path) -> None:
    emb, have = ldata.embed_texts(["A horse runs."], ["t0"], [None], Paths(tmp_path, "mini"), Features())
    assert have.tolist() == [True] and abs(float(emb[0].norm()) - 1.0) < 1e-4
