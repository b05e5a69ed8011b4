"""params.yaml and its model: defaults, overrides, profiles, every kind of bad value, the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lumabench.errors import ParamsError
from lumabench.params import Params, json_schema, load_params, params_hash

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


def test_defaults_are_the_paper_settings() -> None:
    assert load_params(PARAMS).profile == "mini"
    p = load_params(PARAMS, ["profile=full"])  # the full profile trains with the paper's settings
    assert p.seed == 42
    assert (p.train.batch_size, p.train.lr, p.train.max_epochs) == (128, 1e-2, 300)
    assert (p.train.plateau_factor, p.train.plateau_patience, p.train.early_stopping_patience) == (0.33, 5, 10)
    assert (p.train.n_fft, p.train.hop_length, p.train.n_mels, p.train.frames) == (400, 200, 128, 128)
    assert p.methods["mcd_image"].samples == 100 and p.methods["de_fused"].members == 10
    assert p.methods["mcd_fused"].dropout == 0.3
    assert p.variants.num_sampling == 10
    div = p.variants.definitions["diversity"]
    assert (div.compactness.image, div.compactness.audio, div.compactness.text) == (20, 10, 20)
    assert p.variants.definitions["conflict"].test_rate == 0.4
    assert p.variants.definitions["label_noise"].rate.image.train == 0.3
    # the nine LUMA baselines, then the robust-fusion methods
    baselines = {f"{k}_{m}" for k in ("mcd", "de") for m in ("image", "audio", "text", "fused")} | {"rcml_fused"}
    assert set(p.run.methods[:9]) == baselines
    assert p.run.methods[9:] == ["eau_fused", "mla_fused"]


def test_mini_overlay_shrinks_training_only_where_it_says() -> None:
    mini = load_params(PARAMS)
    assert (mini.train.n_mels, mini.train.frames, mini.train.lr) == (32, 32, 0.005)
    assert mini.methods["mcd_audio"].samples == 10 and mini.methods["de_fused"].members == 3
    assert mini.train.batch_size == 128 and mini.train.conv_width == 0.5 and mini.train.max_epochs == 12
    assert mini.methods["rcml_fused"].kl_anneal_epochs(12) == 12
    full = load_params(PARAMS, ["profile=full"])
    assert (full.train.conv_width, full.train.lr, full.methods["de_fused"].members) == (1.0, 1e-2, 10)


def test_overrides_and_profile_overlay() -> None:
    p = load_params(PARAMS, ["train.lr=0.001", "seed=7"])
    assert p.train.lr == 0.001 and p.seed == 7
    full = load_params(PARAMS, ["profile=full"])
    assert full.text.backend == "transformers" and full.variants.train_per_class == 500
    assert full.variants.test_per_class == 100 and full.audio.aligner == "ctc"
    # an explicit override wins over the overlay
    assert load_params(PARAMS, ["profile=full", "variants.train_per_class=7"]).variants.train_per_class == 7
    assert params_hash(p) == params_hash(load_params(PARAMS, ["train.lr=0.001", "seed=7"]))
    assert params_hash(p) != params_hash(load_params(PARAMS))


def test_sweeps_expand_to_named_levels() -> None:
    p = load_params(PARAMS)
    names = p.variants.names()
    assert {"severity-1", "severity-5", "label_sweep-0.1", "label_sweep-0.3", "clean"} <= set(names)
    assert p.variants.resolve("severity-4").image.severity == 4
    swept = p.variants.resolve("label_sweep-0.2").rate
    for m in ("image", "audio", "text"):
        assert getattr(swept, m).train == pytest.approx(0.2) and getattr(swept, m).test == pytest.approx(0.2)
    assert p.variants.definitions["label_sweep"].sweep_title() == "label-switch rate"
    with pytest.raises(ParamsError, match="unknown variant 'severity-9'"):
        p.variants.resolve("severity-9")
    with pytest.raises(ParamsError, match="is a sweep"):
        p.variants.resolve("severity")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.bogus=1", r"train\.bogus: unknown key"),
        ("train.batch_size=abc", r"train\.batch_size: .*integer"),
        ("variants.definitions.conflict.test_rate=1.5", r"conflict\.test_rate: .*allowed range: \[0\.0, 1\.0\]"),
        ("variants.definitions.sample_noise.image.severity=6", r"image\.severity: .*allowed range: \[1, 5\]"),
        ("variants.train_per_class=-3", r"variants\.train_per_class: .*allowed range: \[1, inf\)"),
        ("corpora.mini.workers=-1", r"corpora\.mini\.workers: .*allowed range: \[0, inf\)"),
        ("profile=huge", r"profile: .*'mini' or 'full'"),
        ("run.variants=[clean, nope]", r"run\.variants\.1: unknown variant 'nope'; allowed: clean"),
        ("run.methods=[mcd_image, magic]", r"run\.methods\.1: unknown method 'magic'; allowed: mcd_image"),
        ("methods.mcd_image.kind=voodoo", r"methods\.mcd_image\.kind"),
        ("variants.definitions.x={family: nope}", r"variants\.definitions\.x"),
        ("audio.min_duration_s=5", r"min_duration_s must be below max_duration_s"),
    ],
)
def test_bad_values_name_the_key_and_range(override: str, message: str) -> None:
    with pytest.raises(ParamsError, match=message) as info:
        load_params(PARAMS, [override])
    line = info.value.one_line()
    assert "\n" not in line and "params.yaml" in line


def test_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="parameters file not found"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)
    with pytest.raises(ParamsError, match=r"not key\.path=value"):
        load_params(PARAMS, ["novalue"])


def test_schema_file_matches_model() -> None:
    committed = json.loads((ROOT / "workflow/schemas/params.schema.json").read_text())
    assert committed == json_schema(), "run `make schema` to regenerate workflow/schemas/params.schema.json"


def test_params_yaml_validates_against_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    raw = yaml.safe_load(PARAMS.read_text())
    jsonschema.validate(raw, json_schema())
    raw["train"]["lr"] = "fast"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, json_schema())


def test_every_section_of_the_model_is_in_params_yaml() -> None:
    raw = yaml.safe_load(PARAMS.read_text())
    assert set(Params.model_fields) == set(raw)
