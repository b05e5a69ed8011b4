"""The dataset card (`README.md`) of a variant folder: what it is, how it was made, how to load it.

A variant folder is handed around on its own (copied to a cluster, shared with a colleague); the
card travels with it so the reader needs neither the project nor params.yaml. Its YAML header is
the one `datasets` reads, so `load_dataset("<folder>")` finds the three splits by itself.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

SPLITS = ("train", "test", "ood")

FAMILIES = {
    "clean": "no injected uncertainty",
    "diversity": "reduced diversity, the train items of each class drawn compactly in feature space",
    "sample_noise": "image corruptions, background noise at a set SNR and text perturbations",
    "label_noise": "a share of each modality's items relabelled to a neighbouring class",
    "conflict": "in a share of test rows one modality holds an item of the next class",
    "missing": "a share of rows lack the image, the audio or the text",
    "joint": "one noise level applied to every modality of the same rows",
}


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text.replace("|", "\\|")


def _flat(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        return [kv for k, v in value.items() for kv in _flat(f"{prefix}.{k}" if prefix else str(k), v)]
    return [(prefix, value)]


def noisy_rows(table: pa.Table) -> int:
    """Rows carrying any injected uncertainty (noise, switched label, conflict or a missing modality)."""
    df = table.select(
        ["image_noise", "audio_noise", "text_noise", "label_switched", "conflict_modality", "missing_modalities"]
    ).to_pandas()
    hit = df[["image_noise", "audio_noise", "text_noise", "conflict_modality"]].notna().any(axis=1)
    hit |= df["label_switched"].fillna(False).astype(bool)
    hit |= df["missing_modalities"].map(lambda m: m is not None and len(m) > 0).astype(bool)
    return int(hit.sum())


def licence_counts(
    tables: Mapping[str, pa.Table], accepted: Mapping[str, pd.DataFrame], manifest: pd.DataFrame
) -> dict[str, Counter[str]]:
    """Rows per source licence and modality (noise: the background-noise files mixed into audio).

    An item's licence is its source file's in raw/manifest.parquet: the image file, the speech file
    a clip was cut from, the noise file; texts are generated, so their entry names the generator.
    """
    licence = dict(zip(manifest["path"].astype(str), manifest["licence"].astype(str), strict=True))
    unknown = "not recorded in raw/manifest.parquet"
    source = {
        "image": dict(zip(accepted["image"]["image_id"], accepted["image"]["path"], strict=True)),
        "audio": dict(zip(accepted["audio"]["clip_id"], accepted["audio"]["source_path"], strict=True)),
    }
    text = accepted["text"]
    generator = {
        t: f"generated text ({b} backend, {m}): terms of the generator"
        for t, b, m in zip(text["text_id"], text["backend"], text["model"], strict=True)
    }
    out: dict[str, Counter[str]] = {m: Counter() for m in ("image", "audio", "noise", "text")}
    for table in tables.values():
        for mod, col in (("image", "image_id"), ("audio", "clip_id")):
            for i in table.column(col).drop_null().to_pylist():
                out[mod][licence.get(str(source[mod].get(i)), unknown)] += 1
        for path in table.column("audio_noise").drop_null().to_pylist():
            out["noise"][licence.get(str(path), unknown)] += 1
        for i in table.column("text_id").drop_null().to_pylist():
            out["text"][generator.get(i, unknown)] += 1
    return {m: c for m, c in out.items() if c}


def _front_matter(variant: str, profile: str) -> list[str]:
    lines = ["---", f"pretty_name: LUMA variant {variant} ({profile} profile)", "license: other",
             "task_categories:", "- image-classification", "- audio-classification", "- text-classification",
             "configs:", "- config_name: default", "  data_files:"]  # fmt: skip
    for split in SPLITS:
        lines += [f"  - split: {split}", f"    path: {split}.parquet"]
    return [*lines, "---", ""]


def render(meta: Mapping[str, Any], tables: Mapping[str, pa.Table], licences: Mapping[str, Counter[str]]) -> str:
    """The card's Markdown: `meta` is the variant.json content (variant, family, definition, seed, profile)."""
    variant, profile, defn = meta["variant"], meta["profile"], meta["definition"]
    lines = _front_matter(variant, profile)
    lines += [f"# LUMA variant `{variant}` ({profile} profile)", ""]
    lines += [f"Family `{meta['family']}`: {FAMILIES.get(meta['family'], meta['family'])}."]
    if defn.get("sweep"):
        lines += [f"One level of the sweep `{variant.partition('-')[0]}` over {_cell(defn['sweep'])}."]
    if defn.get("model_from"):
        lines += [f"Test-only change: evaluated with the models trained on `{defn['model_from']}`."]
    lines += ["", f"Built by `lumabench variants -v {variant}` with data seed {meta['seed']}. One row is one",
              "aligned image + audio + text triplet; `label` is the row's class and the `*_label_original`,",
              "`*_noise`, `switched_modalities`, `conflict_modality` and `missing_modalities` columns record",
              "what was injected. `variant.json` beside this card holds the same settings as JSON.", ""]  # fmt: skip
    lines += ["## Parameters", "", "| key | value |", "| --- | --- |"]
    lines += [f"| `{k}` | {_cell(v)} |" for k, v in sorted(_flat("", defn)) if v is not None]
    for key in ("train_per_class", "test_per_class"):
        if key in meta:
            lines += [f"| `variants.{key}` | {meta[key]} |"]
    lines += ["", "## Rows", "", "| split | rows | classes | rows with injected uncertainty |"]
    lines += ["| --- | --- | --- | --- |"]
    for split in SPLITS:
        t = tables[split]
        classes = len(set(t.column("class_id").to_pylist()))
        lines += [f"| {split} | {t.num_rows} | {classes} | {noisy_rows(t)} |"]
    lines += ["", "## Licences of the sources", "", "| modality | licence | rows |", "| --- | --- | --- |"]
    for mod, counts in licences.items():
        lines += [f"| {mod} | {_cell(name)} | {n} |" for name, n in sorted(counts.items())]
    lines += ["", "Each item keeps its source's licence; a use of the variant must honour all of them.", ""]
    lines += _loading()
    return "\n".join(lines) + "\n"


def _loading() -> list[str]:
    return [
        "## Loading",
        "",
        "Paths are relative to this folder. `image` and `audio` are structs of encoded file `bytes`",
        "(PNG; 16 kHz mono WAV) and a `path` (null), null where the modality is missing.",
        "",
        "pandas:",
        "",
        "```python",
        "import io, pandas as pd, soundfile as sf",
        "from PIL import Image",
        'train = pd.read_parquet("train.parquet")',
        'row = train.iloc[0]; img = Image.open(io.BytesIO(row["image"]["bytes"]))',
        'wave, rate = sf.read(io.BytesIO(row["audio"]["bytes"]))',
        "```",
        "",
        'DuckDB (or pyarrow: `pyarrow.parquet.read_table("test.parquet")`):',
        "",
        "```python",
        "import duckdb",
        "duckdb.sql(\"SELECT label, count(*) AS n, count(image_noise) AS noisy FROM 'test.parquet' GROUP BY label\")",
        "```",
        "",
        "Hugging Face `datasets` (image columns decode to PIL images, audio to 16 kHz decoders):",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset(".")  # this folder: the card header names the train, test and ood files',
        'ds = load_dataset("parquet", data_files={"train": "train.parquet", "test": "test.parquet"})',
        'ds["train"][0]["image"], ds["train"][0]["audio"].get_all_samples()',
        "```",
    ]
