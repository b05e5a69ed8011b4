"""Paths taken from data files or the command line stay inside data/<profile>/ and results/<profile>/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf
from click.testing import CliRunner

import reliability_fixtures as rf
from lumabench import annotate, train
from lumabench.cli import main
from lumabench.errors import InputError
from lumabench.features import embed_modality
from lumabench.features.inputs import read_accepted
from lumabench.io import write_parquet
from lumabench.params import load_params
from lumabench.paths import Paths
from lumabench.schemas import CLIPS, GENERATED, MANIFEST
from lumabench.variants.build import load_inputs
from synth_accepted import make, write_cheap_features

PARAMS = rf.ROOT / "params.yaml"


def test_confine_accepts_the_outputs_and_refuses_everything_else(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "proj", "mini")
    assert paths.confine("data/mini/raw/x.png", "image") == paths.data / "raw/x.png"
    assert paths.confine(paths.results / "models/a.pt", "model") == paths.results / "models/a.pt"
    assert paths.confine("data/mini/raw/../interim/y.wav", "clip") == paths.data / "interim/y.wav"
    for bad in ("../../../../etc/passwd", "/etc/passwd", "data/mini/../../../x", "data/full/raw/x.png",
                "params.yaml", str(tmp_path / "elsewhere/x"), "data/mini\x00/x"):  # fmt: skip
        with pytest.raises(InputError, match=r"leaves the project|NUL"):
            paths.confine(bad, "clip path", "clips.parquet")


def _clip_row(path: str) -> dict:
    return {"clip_id": "cat-0", "label": "cat", "corpus": "mini-speech", "speaker": "x", "source_path": "x.wav",
            "start_s": 0.0, "end_s": 0.4, "duration_s": 0.4, "sample_rate": 16000, "path": path,
            "align_score": 0.0}  # fmt: skip


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_annotate_never_opens_a_clip_outside_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A clips.parquet row pointing at ../../../../<file> or at an absolute path outside was read."""
    root = tmp_path / "proj"
    paths = Paths(root, "mini")
    outside = tmp_path / "outside.wav"
    sf.write(outside, 0.1 * np.sin(np.arange(6400) / 5.0), 16000, subtype="PCM_16")  # a perfectly good clip
    rel = "../" * 4 + "outside.wav"  # from the project root's child folders, climbing out
    path = str(outside) if where == "absolute" else "data/mini/interim/audio/clips/" + rel
    write_parquet(paths.clips, pa.Table.from_pylist([_clip_row(path)], schema=CLIPS), CLIPS)
    write_parquet(paths.manifest, pa.Table.from_pylist([], schema=MANIFEST), MANIFEST)
    words = "A cat sat on the mat near the window in the warm morning light today."
    text = {"text_id": "cat-00000", "label": "cat", "prompt_id": 0, "prompt": "p", "backend": "template",
            "model": "m", "seed": 0, "text": words}  # fmt: skip
    write_parquet(paths.generated, pa.Table.from_pylist([text], schema=GENERATED), GENERATED)
    params = load_params(PARAMS, ["annotate.audio.recognition_check=false"])
    opened: list[str] = []
    real = annotate.read_mono
    monkeypatch.setattr(annotate, "read_mono", lambda p: opened.append(str(p)) or real(p))
    with pytest.raises(InputError, match="leaves the project") as info:
        annotate.run(params, paths)
    assert opened == []
    assert "cat-0" in info.value.one_line() and "clips.parquet" in info.value.one_line()


@pytest.fixture(scope="module")
def accepted(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    paths = make(tmp_path_factory.mktemp("accepted"), per_class=4, image_test=2, ood=2, noise_files=1)
    write_cheap_features(paths)
    return paths


def _hostile(paths: Paths, modality: str, path: str):  # type: ignore[no-untyped-def]
    df = read_accepted(paths)[modality].copy()
    df.loc[3, "path"] = path
    return df


def test_features_refuse_an_accepted_path_outside(accepted: Paths, tmp_path: Path) -> None:
    params = load_params(PARAMS)
    secret = tmp_path / "secret.png"
    secret.write_bytes((accepted.root / read_accepted(accepted)["image"]["path"][0]).read_bytes())
    for modality, path in (("image", str(secret)), ("audio", "data/mini/../../../x.wav")):
        with pytest.raises(InputError, match="leaves the project") as info:
            embed_modality(modality, _hostile(accepted, modality, path), params, accepted, "cpu")
        assert f"{modality}.parquet" in info.value.one_line()


def test_variants_refuse_an_accepted_path_outside(accepted: Paths, tmp_path: Path) -> None:
    params = load_params(PARAMS, ["variants.train_per_class=2", "variants.test_per_class=1"])
    inp = load_inputs(params, accepted)
    secret = tmp_path / "secret.png"
    secret.write_bytes((accepted.root / inp.accepted["image"]["path"][0]).read_bytes())
    inp.accepted["image"] = _hostile(accepted, "image", str(secret))
    with pytest.raises(InputError, match="leaves the project"):
        inp.image(3)
    assert inp.image(2).shape == (32, 32, 3)


def test_train_refuses_a_variant_outside_the_project(tmp_path: Path) -> None:
    """`train -v ../../../../elsewhere/x` read a variant and wrote models outside results/."""
    root = tmp_path / "proj"
    rf.make_project(root)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "x").parent.mkdir(parents=True)
    (root / "data/mini/variants/clean").rename(elsewhere / "x")
    with pytest.raises(InputError, match="leaves the project"):
        train.run(rf.params(), Paths(root, "mini"), "../../../../elsewhere/x", rf.METHOD, rf.SEED)
    assert sorted(p.name for p in elsewhere.rglob("*")) == ["ood.parquet", "test.parquet", "train.parquet", "x"]
    assert not (root / "results").exists() and not (tmp_path / "models").exists()


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--params", str(PARAMS), *args])
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("train", "-v", "clen", "-m", "mcd_image"), "did you mean 'clean'"),
        (("train", "-v", "../../../../elsewhere/x", "-m", "mcd_image"), "unknown variant '../../../../elsewhere/x'"),
        (("train", "-v", "severity", "-m", "mcd_image"), "e.g. severity-1"),
        (("variants", "-v", "severity"), "e.g. severity-1"),
        (("variants", "-v", "severity-7"), "fix: use one of: severity-1, "),
    ],
)
def test_variant_names_are_checked_before_any_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], expect: str
) -> None:
    """A typo said "missing input …; run `lumabench variants` first"; a sweep name suggested `clean`."""
    monkeypatch.chdir(tmp_path)  # an empty project: every input is missing
    code, err = _cli(*args)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert expect in lines[0] and "missing input" not in lines[0]
