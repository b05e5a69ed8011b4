"""Stage 6 on a synthetic accepted corpus: rates, provenance, splits, loaders, determinism."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from lumabench import classes
from lumabench.errors import ParamsError
from lumabench.params import Params, load_params
from lumabench.paths import Paths
from lumabench.variants import run as run_variant
from lumabench.variants.build import build, load_inputs
from lumabench.variants.io import load_variant
from synth_accepted import make, write_cheap_features
from synth_layouts import binomial_tolerance, hub_layout, pairs_layout

TRAIN, TEST = 10, 4  # test pools hold 5 items per class: selection matters in test too
HUB = classes.class_id("palm")
VARIANTS = ("clean", "label_noise", "conflict", "missing", "sample_noise", "joint", "diversity")


def _params(root: Path) -> Params:
    return load_params(
        root / "params.yaml",
        [f"variants.train_per_class={TRAIN}", f"variants.test_per_class={TEST}", "variants.num_sampling=3"],
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Params, Paths, dict[str, dict[str, pd.DataFrame]]]:
    root = tmp_path_factory.mktemp("variants")
    shutil.copy(Path(__file__).resolve().parents[1] / "params.yaml", root / "params.yaml")
    paths = make(root)
    write_cheap_features(paths)
    params = _params(root)
    inp = load_inputs(params, paths)
    out = {v: load_variant(build(params, paths, v, inp)) for v in VARIANTS}
    return params, paths, out


def test_split_sizes_and_no_item_in_two_splits(built) -> None:
    _, _, out = built
    for v, splits in out.items():
        assert len(splits["train"]) == classes.N_ID * TRAIN, v
        assert len(splits["test"]) == classes.N_ID * TEST, v
        assert (splits["train"].groupby("class_id").size() == TRAIN).all()
        assert set(splits["ood"]["label"]) == {c.name for c in classes.OOD_CLASSES}
        for col in ("image_id", "clip_id", "text_id"):
            sets = {s: set(df[col].dropna()) for s, df in splits.items()}
            assert not sets["train"] & sets["test"], (v, col)
            assert not sets["train"] & sets["ood"], (v, col)
            assert not sets["test"] & sets["ood"], (v, col)


def test_clean_rows_are_consistent(built) -> None:
    _, _, out = built
    for df in out["clean"].values():
        for m in ("image", "audio", "text"):
            assert (df[f"{m}_label_original"] == df["label"]).all()
            assert df[m].notna().all()
        assert (df["label_original"] == df["label"]).all()
        assert df["image_noise"].isna().all() and df["conflict_modality"].isna().all()
        assert (df["missing_modalities"].map(len) == 0).all()
        assert (df["class_id"] == df["label"].map(classes.class_id)).all()


def test_label_switch_counts_exact_per_class(built) -> None:
    params, _, out = built
    d = params.variants.resolve("label_noise")
    for split, n_pc in (("train", TRAIN), ("test", TEST)):
        df = out["label_noise"][split]
        for m in ("image", "audio", "text"):
            rate = getattr(getattr(d.rate, m), split)
            foreign = (df[f"{m}_label_original"] != df["label"]).groupby(df["class_id"]).sum()
            assert (foreign == round(rate * n_pc)).all(), (split, m)
    ood = out["label_noise"]["ood"]
    assert (ood["image_label_original"] == ood["label"]).all() and not ood["label_switched"].any()


def test_switch_provenance_columns(built) -> None:
    params, paths, out = built
    d = params.variants.resolve("label_noise")
    for split in ("train", "test"):
        df = out["label_noise"][split]
        foreign = {m: (df[f"{m}_label_original"] != df["label"]).to_numpy() for m in ("image", "audio", "text")}
        listed = {m: df["switched_modalities"].map(lambda x, m=m: m in list(x)).to_numpy() for m in foreign}
        for m in foreign:
            assert (listed[m] == foreign[m]).all(), (split, m)  # no conflict here: foreign ⇔ switched
        any_foreign = foreign["image"] | foreign["audio"] | foreign["text"]
        assert (df["label_switched"].to_numpy() == any_foreign).all()
        assert df["label_switched"].mean() == pytest.approx(any_foreign.mean(), abs=1e-12)
        assert df.loc[df["label_switched"], "label_original"].isna().all()
        assert (df.loc[~df["label_switched"], "label_original"] == df.loc[~df["label_switched"], "label"]).all()
        if split == "train":  # 420 rows: 1 − (1 − p)³ within three binomial sd
            p = d.rate.image.train
            expect = 1 - (1 - p) ** 3
            assert abs(df["label_switched"].mean() - expect) <= 3 * np.sqrt(expect * (1 - expect) / len(df))
    for v in ("clean", "conflict"):
        for df in out[v].values():
            assert not df["label_switched"].any() and (df["switched_modalities"].map(len) == 0).all()
            assert (df["label_original"] == df["label"]).all()
    meta = json.loads((paths.variant("label_noise") / "variant.json").read_text())
    for split in ("train", "test"):
        for m in ("image", "audio", "text"):
            st = meta["label_switch"][split][m]
            assert st["switched"] == (out["label_noise"][split]["switched_modalities"].map(lambda x, m=m: m in x)).sum()
            assert st["first_choice_share"] == pytest.approx(st["first_choice"] / st["switched"], abs=1e-6)


def _layout_features(paths: Paths, layout: str) -> None:
    """Replace the feature files with a hub or pairs layout (same ids and row order)."""
    for k, m in enumerate(("image", "audio", "text")):
        labels = pd.read_parquet(paths.features / f"{m}.parquet")["label"].map(classes.class_id).to_numpy()
        g = np.random.default_rng(100 + k)
        f = hub_layout(labels, HUB, g) if layout == "hub" else pairs_layout(labels, g)
        np.save(paths.features / f"{m}.npy", f)


@pytest.fixture(scope="module")
def layouts(built, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, pd.DataFrame], dict]]:
    """The label_noise variant built on a hub layout and on a pairs layout of the same corpus."""
    params, paths, _ = built
    root = tmp_path_factory.mktemp("layouts")
    shutil.copytree(paths.root / "data", root / "data", ignore=shutil.ignore_patterns("variants"))
    paths2 = Paths(root, "mini")
    out = {}
    for layout in ("hub", "pairs"):
        _layout_features(paths2, layout)
        d = build(params, paths2, "label_noise", load_inputs(params, paths2))
        out[layout] = (load_variant(d), json.loads((d / "variant.json").read_text()))
    return out


def test_hub_class_is_not_crowded_out(built, layouts) -> None:
    params, _, _ = built
    d = params.variants.resolve("label_noise")
    splits, meta = layouts["hub"]
    df = splits["train"]
    for m in ("image", "audio", "text"):
        p = getattr(d.rate, m).train
        foreign = (df[f"{m}_label_original"] != df["label"]).groupby(df["class_id"]).mean()
        own = (df[f"{m}_label_original"] == df["label"]).groupby(df["class_id"]).mean()
        assert (foreign - p).abs().max() <= binomial_tolerance(p, TRAIN), (m, foreign[HUB])
        assert (own - (1 - p)).abs().max() <= binomial_tolerance(p, TRAIN), m
        assert (df.groupby("class_id").size() == TRAIN).all()
        # nearly every switched item wanted the hub, which takes only what it sent out
        assert meta["label_switch"]["train"][m]["first_choice_share"] < 0.2


def test_no_hub_every_switch_is_first_choice(layouts) -> None:
    splits, meta = layouts["pairs"]
    for split in ("train", "test"):
        for m in ("image", "audio", "text"):
            assert meta["label_switch"][split][m]["first_choice_share"] == 1.0
            df = splits[split]
            sw = df["switched_modalities"].map(lambda x, m=m: m in x)
            orig = df.loc[sw, f"{m}_label_original"].map(classes.class_id)
            assert (orig ^ 1 == df.loc[sw, "class_id"]).all()  # each went to its partner class


def test_conflict_rate_exact_and_next_class(built) -> None:
    params, _, out = built
    rate = params.variants.resolve("conflict").test_rate
    test = out["conflict"]["test"]
    per_class = test.groupby("class_id")["conflict_modality"].apply(lambda s: s.notna().sum())
    assert (per_class == round(rate * TEST)).all()
    assert test["conflict_modality"].notna().mean() == pytest.approx(round(rate * TEST) / TEST, abs=1e-12)
    assert out["conflict"]["train"]["conflict_modality"].isna().all()
    for _, row in test[test["conflict_modality"].notna()].iterrows():
        m = row["conflict_modality"]
        nxt = classes.NAMES[classes.next_class_id(int(row["class_id"]))]
        assert row[f"{m}_label_original"] == nxt
        assert row["label_original"] == row["label"]
        others = [o for o in ("image", "audio", "text") if o != m]
        assert all(row[f"{o}_label_original"] == row["label"] for o in others)


def test_missing_counts_exact(built) -> None:
    params, _, out = built
    d = params.variants.resolve("missing")
    for split in ("train", "test"):
        df = out["missing"][split]
        for m, idcol in (("image", "image_id"), ("audio", "clip_id"), ("text", "text_id")):
            gone = df["missing_modalities"].map(lambda x, m=m: m in list(x))
            assert gone.sum() == round(getattr(getattr(d.rate, m), split) * len(df))
            assert df.loc[gone, m].isna().all() and df.loc[gone, idcol].isna().all()
            assert df.loc[~gone, m].notna().all()
        assert (df["missing_modalities"].map(len) < 3).all()


def test_sample_noise_rates_recorded_exactly(built) -> None:
    params, _, out = built
    d = params.variants.resolve("sample_noise")
    clean = out["clean"]
    for split in ("train", "test"):
        df = out["sample_noise"][split]
        n = len(df)
        assert df["image_noise"].notna().sum() == round(d.image.ratio * n)
        assert df["audio_noise"].notna().sum() == round(d.audio.ratio * n)
        assert df["text_noise"].notna().sum() == round(d.text.ratio * n)
        noisy = df["image_noise"].notna()
        assert (df.loc[noisy, "image_severity"] == d.image.severity).all()
        assert df.loc[~noisy, "image_severity"].isna().all()
        snr = df["audio_snr_db"].dropna()
        assert snr.between(d.audio.min_snr_db, d.audio.max_snr_db).all()
        # same triplets as clean (shared selection and alignment), so the noise is the only change
        ref = clean[split].set_index("sample_id")
        assert (ref.loc[df["sample_id"], "text_id"].to_numpy() == df["text_id"].to_numpy()).all()
        tn = df[df["text_noise"].notna()]
        changed = (tn["text"].to_numpy() != ref.loc[tn["sample_id"], "text"].to_numpy()).mean()
        assert changed > 0.95
        assert set(tn["text_noise"]) <= set(d.text.perturbations)


def _wav(cell: dict) -> np.ndarray:
    data, sr = sf.read(io.BytesIO(cell["bytes"]), dtype="float64")
    assert sr == 16000
    return data


def test_mixed_audio_snr_within_a_tenth_of_a_db(built) -> None:
    _, _, out = built
    df = out["sample_noise"]["test"]
    ref = out["clean"]["test"].set_index("sample_id")
    errs = []
    for _, row in df[df["audio_noise"].notna()].head(60).iterrows():
        clean = _wav(ref.loc[row["sample_id"], "audio"])
        mix = _wav(row["audio"])
        assert len(clean) == len(mix) and np.abs(mix).max() < 0.99  # no anti-clip gain on these clips
        measured = 10 * np.log10(np.mean(clean**2) / np.mean((mix - clean) ** 2))
        errs.append(abs(measured - row["audio_snr_db"]))
    assert errs and max(errs) < 0.1


def test_joint_noise_hits_all_modalities_of_the_same_rows(built) -> None:
    params, _, out = built
    d = params.variants.resolve("joint")
    test = out["joint"]["test"]
    rows = test["image_noise"].notna()
    assert rows.sum() == round(d.ratio * len(test))
    assert (rows == test["audio_noise"].notna()).all() and (rows == test["text_noise"].notna()).all()
    assert (test.loc[rows, "image_severity"] == d.severity).all()
    assert out["joint"]["train"]["image_noise"].isna().all()


def test_ood_gets_the_test_time_perturbations(built) -> None:
    params, _, out = built
    clean = out["clean"]["ood"]
    assert clean["image_noise"].isna().all() and clean["audio_noise"].isna().all()
    assert clean["text_noise"].isna().all() and (clean["missing_modalities"].map(len) == 0).all()
    n = len(clean)
    d = params.variants.resolve("sample_noise")
    ood = out["sample_noise"]["ood"]
    assert (ood["text_id"].to_numpy() == clean["text_id"].to_numpy()).all()  # same OOD triplets
    for m in ("image", "audio", "text"):
        cfg = getattr(d, m)
        assert ood[f"{m}_noise"].notna().sum() == (round(cfg.ratio * n) if cfg.test else 0), m
    assert (ood.loc[ood["image_noise"].notna(), "image_severity"] == d.image.severity).all()
    assert ood["audio_snr_db"].dropna().between(d.audio.min_snr_db, d.audio.max_snr_db).all()
    noisy = ood["image_noise"].notna().to_numpy()
    assert (ood["image"].to_numpy()[noisy] != clean["image"].to_numpy()[noisy]).mean() > 0.9
    j = params.variants.resolve("joint")
    jood = out["joint"]["ood"]
    rows = jood["image_noise"].notna()
    assert rows.sum() == round(j.ratio * n) and (rows == jood["text_noise"].notna()).all()
    mis = params.variants.resolve("missing")
    mood = out["missing"]["ood"]
    for m in ("image", "audio", "text"):
        gone = mood["missing_modalities"].map(lambda x, m=m: m in list(x))
        assert gone.sum() == round(getattr(mis.rate, m).test * n)
    for v in ("label_noise", "conflict"):
        assert out[v]["ood"]["conflict_modality"].isna().all() and not out[v]["ood"]["label_switched"].any()


def test_diversity_keeps_the_shared_test_set(built) -> None:
    _, _, out = built
    cols = ["sample_id", "image_id", "clip_id", "text_id", "label"]
    pd.testing.assert_frame_equal(out["diversity"]["test"][cols], out["clean"]["test"][cols])
    pd.testing.assert_frame_equal(out["diversity"]["ood"][cols], out["clean"]["ood"][cols])
    for col in ("image_id", "clip_id", "text_id"):
        assert set(out["diversity"]["train"][col]) != set(out["clean"]["train"][col]), col


def test_diversity_is_not_more_spread_than_clean(built) -> None:
    _, paths, out = built
    feats = np.load(paths.features / "image.npy")
    ids = pd.read_parquet(paths.features / "image.parquet")["id"].tolist()
    where = {i: k for k, i in enumerate(ids)}

    def spread(df: pd.DataFrame) -> float:
        vals = []
        for _, g in df.groupby("class_id"):
            f = feats[[where[i] for i in g["image_id"]]].astype(np.float64)
            d = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))
            vals.append(d[np.triu_indices(len(f), 1)].mean())
        return float(np.mean(vals))

    assert spread(out["diversity"]["train"]) < spread(out["clean"]["train"])


def test_loads_without_project_code(built) -> None:
    _, paths, _ = built
    import duckdb
    import pyarrow.parquet as pq
    from datasets import load_dataset

    f = paths.variant("sample_noise") / "test.parquet"
    df = pd.read_parquet(f)
    t = pq.read_table(f)
    n = duckdb.sql(f"select count(*) from read_parquet('{f}') where image_noise is not null").fetchall()[0][0]
    ds = load_dataset("parquet", data_files={"test": str(f)}, cache_dir=str(paths.root / "hf-cache"))["test"]
    assert len(df) == t.num_rows == len(ds)
    assert n == df["image_noise"].notna().sum()
    assert str(df["image_severity"].dtype) == "Int8"
    assert isinstance(ds[0]["text"], str) and ds[0]["image"].size == (32, 32)  # decoded, not raw bytes
    assert ds[0]["audio"].get_all_samples().sample_rate == 16000
    # the card's header names the splits: the folder alone is a dataset
    folder = load_dataset(str(f.parent), cache_dir=str(paths.root / "hf-cache"))
    assert {s: len(folder[s]) for s in folder} == {s: len(pd.read_parquet(f.parent / f"{s}.parquet")) for s in folder}
    assert set(folder) == {"train", "test", "ood"}


def test_dataset_card_states_rows_parameters_and_licences(built) -> None:
    _, paths, out = built
    card = (paths.variant("sample_noise") / "README.md").read_text("utf-8")
    head, body = card.split("\n---\n", 1)
    assert head.startswith("---\n") and "config_name: default" in head and "path: ood.parquet" in head
    for split, df in out["sample_noise"].items():
        noisy = df[["image_noise", "audio_noise", "text_noise"]].notna().any(axis=1).sum()
        assert f"| {split} | {len(df)} | {df['class_id'].nunique()} | {noisy} |" in body
    assert f"| `variants.train_per_class` | {TRAIN} |" in body and "| `image.severity` | 3 |" in body
    # every noise row is counted under its noise file's licence (the synthetic bank is CC0)
    assert f"| noise | CC0 | {sum(int(d['audio_noise'].notna().sum()) for d in out['sample_noise'].values())} |" in body
    assert "load_dataset" in body and "duckdb" in body and "read_parquet" in body
    assert "Family `clean`" in (paths.variant("clean") / "README.md").read_text("utf-8")


def test_byte_identical_and_order_independent(built, tmp_path: Path) -> None:
    params, paths, _ = built
    root2 = tmp_path / "again"
    root2.mkdir()
    shutil.copytree(paths.root / "data", root2 / "data", ignore=shutil.ignore_patterns("variants"))
    paths2 = Paths(root2, "mini")
    # another order, a fresh loader, and through the stage entry point
    for v in ("sample_noise", "label_noise", "conflict"):
        run_variant(params, paths2, v)
    for v in ("sample_noise", "label_noise", "conflict"):
        for s in ("train.parquet", "test.parquet", "ood.parquet", "variant.json", "README.md"):
            a = (paths.variant(v) / s).read_bytes()
            b = (paths2.variant(v) / s).read_bytes()
            assert a == b, (v, s)


def test_sweep_level_and_back_translation_guard(built, tmp_path: Path) -> None:
    params, paths, _ = built
    inp = load_inputs(params, paths)
    level = params.variants.names()[[n.startswith("severity") for n in params.variants.names()].index(True) + 4]
    sev = int(params.variants.resolve(level).image.severity)
    df = load_variant(build(params, paths, level, inp))
    assert (df["test"]["image_severity"] == sev).all()
    assert df["train"]["image_noise"].isna().all()
    bad = load_params(
        paths.root / "params.yaml",
        [f"variants.train_per_class={TRAIN}", f"variants.test_per_class={TEST}",
         "variants.definitions.sample_noise.text.perturbations=[back_translation]"],
    )  # fmt: skip
    with pytest.raises(ParamsError, match="full profile"):
        build(bad, paths, "sample_noise", inp)


def _accepted_bytes(paths: Paths, modality: str, id_column: str) -> dict[str, bytes]:
    acc = pd.read_parquet(paths.accepted / f"{modality}.parquet")
    return {i: (paths.root / p).read_bytes() for i, p in zip(acc[id_column], acc["path"], strict=True)}


def test_unchanged_items_are_their_files_bytes(built) -> None:
    """An item no noise touched is stored as its accepted file, byte for byte (no decode and
    re-encode: a 16-bit WAV read as float and written back moved samples by one step); a noisy
    one is the encoded perturbed signal."""
    _, paths, out = built
    images = _accepted_bytes(paths, "image", "image_id")
    clips = _accepted_bytes(paths, "audio", "clip_id")
    for split, df in out["clean"].items():
        assert all(c["bytes"] == images[i] for c, i in zip(df["image"], df["image_id"], strict=True)), split
        assert all(c["bytes"] == clips[i] for c, i in zip(df["audio"], df["clip_id"], strict=True)), split
    test = out["sample_noise"]["test"]
    noisy = test["image_noise"].notna().to_numpy()
    assert 0 < noisy.sum() < len(test)
    same = np.array([c["bytes"] == images[i] for c, i in zip(test["image"], test["image_id"], strict=True)])
    assert same[~noisy].all() and not same[noisy].any()


def test_files_in_another_format_are_reencoded(tmp_path: Path) -> None:
    """An accepted file that is not what the stage writes (RGBA PNG, a 22.05 kHz float WAV) is decoded
    and written as an 8-bit RGB PNG and a 16 kHz 16-bit PCM WAV, with the same pixels and sound."""
    from PIL import Image

    from lumabench.audio.clips import is_clip_wav, read_mono
    from lumabench.variants.build import is_rgb8_png

    shutil.copy(Path(__file__).resolve().parents[1] / "params.yaml", tmp_path / "params.yaml")
    paths = make(tmp_path, per_class=TRAIN, image_test=TEST, ood=2)
    write_cheap_features(paths)
    name = classes.CLASSES[0].name
    acc_i = pd.read_parquet(paths.accepted / "image.parquet")
    acc_a = pd.read_parquet(paths.accepted / "audio.parquet")
    pixels = {}
    for i, p in zip(acc_i["image_id"], acc_i["path"], strict=True):
        if i.startswith(f"img-{name}-"):
            rgb = np.asarray(Image.open(paths.root / p).convert("RGB"))
            pixels[i] = rgb
            Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGBA").save(paths.root / p)
    for i, p in zip(acc_a["clip_id"], acc_a["path"], strict=True):
        if i.startswith(f"clip-{name}-"):
            wave = read_mono(paths.root / p)
            sf.write(paths.root / p, np.interp(np.arange(0, len(wave), 16000 / 22050), np.arange(len(wave)), wave),
                     22050, subtype="FLOAT")  # fmt: skip
    assert not is_rgb8_png(
        (paths.root / acc_i["path"][acc_i["image_id"].str.startswith(f"img-{name}-")].iloc[0]).read_bytes()
    )
    df = load_variant(build(_params(tmp_path), paths, "clean", load_inputs(_params(tmp_path), paths)))["train"]
    rows = df[df["label"] == name]
    assert len(rows) == TRAIN
    for cell, i in zip(rows["image"], rows["image_id"], strict=True):
        assert is_rgb8_png(cell["bytes"])
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(cell["bytes"]))), pixels[i])
    for cell in rows["audio"]:
        assert is_clip_wav(cell["bytes"])
        assert sf.info(io.BytesIO(cell["bytes"])).samplerate == 16000
    assert not is_clip_wav(b"RIFF" + b"\0" * 40) and not is_rgb8_png(b"\x89PNG")


def test_sweep_levels_share_their_draws(built) -> None:
    """Common random numbers: a sweep's levels draw under the sweep's name, so the items switched at
    a lower label rate are among those switched at a higher one, and every severity level corrupts
    the same rows with the same corruption; variants that are not sweep levels keep their own draws."""
    params, paths, _ = built
    v = params.variants
    assert v.draws_key("label_sweep-0.2") == v.draws_key("label_sweep-0.3") == "label_sweep"
    assert v.draws_key("clean") == "clean" and v.draws_key("label_noise") == "label_noise"
    inp = load_inputs(params, paths)
    low, high = (load_variant(build(params, paths, f"label_sweep-{r}", inp)) for r in ("0.1", "0.3"))
    for split in ("train", "test"):
        for m, col in (("image", "image_id"), ("audio", "clip_id"), ("text", "text_id")):
            picked = []
            for df in (low[split], high[split]):
                hit = df["switched_modalities"].map(lambda s, m=m: m in list(s)).to_numpy()
                picked.append(set(df.loc[hit, col]))
            assert picked[0] <= picked[1] and len(picked[1]) > 0, (split, m)  # test: 4 a class, 0.1 switches none
            if split == "train":
                assert picked[0] and picked[0] < picked[1], m
    s1, s5 = (load_variant(build(params, paths, f"severity-{s}", inp))["test"] for s in (1, 5))
    assert s1["image_noise"].notna().all() and list(s1["image_noise"]) == list(s5["image_noise"])
    assert (s1["image_severity"] == 1).all() and (s5["image_severity"] == 5).all()


def test_lower_rates_draw_subsets_of_higher_rates() -> None:
    from lumabench.variants.align import missing_mask
    from lumabench.variants.label_noise import pick_switched

    labels = np.repeat(np.arange(6), 20)
    sets = [set(pick_switched(labels, np.full(6, k), np.random.default_rng(3))) for k in (2, 5, 9)]
    assert len(sets[0]) == 12 and sets[0] < sets[1] < sets[2]
    masks = [
        missing_mask(200, dict.fromkeys(("image", "audio", "text"), r), np.random.default_rng(4)) for r in (0.1, 0.3)
    ]
    for m in ("image", "audio", "text"):
        assert masks[0][m].sum() == 20 and masks[1][m].sum() == 60
    assert (masks[0]["image"] <= masks[1]["image"]).all()  # the first modality drawn: exactly nested
    kept = [~(d["image"] & d["audio"] & d["text"]) for d in masks]
    assert all(k.all() for k in kept)
