"""Row schemas of every table a stage writes (DESIGN §2); writers cast to these, readers check them."""

from __future__ import annotations

import pyarrow as pa

from lumabench.native import MEDIA, with_native_metadata

WORD_TIMING = pa.struct([("word", pa.string()), ("start_s", pa.float64()), ("end_s", pa.float64())])

# stage 1: one row per file under raw/
MANIFEST = pa.schema([
    ("corpus", pa.string()),        # e.g. mini-images, mini-speech, mini-noise, cifar10, esc50
    ("kind", pa.string()),          # image | speech | noise | archive | model | text | preview (contact sheet)
    ("path", pa.string()),          # relative to the project root
    ("bytes", pa.int64()),
    ("sha256", pa.string()),
    ("licence", pa.string()),
    ("label", pa.string()),         # class name where the file belongs to one class, else null
    ("pool", pa.string()),          # train | test | ood | null: the source split (CIFAR train/test)
    ("transcript", pa.string()),    # speech only
    ("speaker", pa.string()),       # speech only: engine/voice or corpus speaker id
    ("engine", pa.string()),        # speech synthesis engine (mini) or null
    ("word_timings", pa.list_(WORD_TIMING)),  # the engine's own timings (reference only), or null
])  # fmt: skip

# stage 2
CLIPS = pa.schema([
    ("clip_id", pa.string()),
    ("label", pa.string()),
    ("corpus", pa.string()),
    ("speaker", pa.string()),
    ("source_path", pa.string()),
    ("start_s", pa.float64()),
    ("end_s", pa.float64()),
    ("duration_s", pa.float64()),
    ("sample_rate", pa.int32()),
    ("path", pa.string()),
    ("align_score", pa.float64()),
])  # fmt: skip

# stage 3
GENERATED = pa.schema([
    ("text_id", pa.string()),
    ("label", pa.string()),
    ("prompt_id", pa.int32()),
    ("prompt", pa.string()),
    ("text", pa.string()),
    ("backend", pa.string()),
    ("model", pa.string()),
    ("seed", pa.int64()),
])  # fmt: skip

# stage 4: accepted/image.parquet (audio and text keep CLIPS and GENERATED)
IMAGES = pa.schema([
    ("image_id", pa.string()),
    ("label", pa.string()),
    ("pool", pa.string()),          # train | test | ood: CIFAR's own split, so test never leaks
    ("source", pa.string()),        # cifar10 | cifar100 | edm | mini
    ("path", pa.string()),          # PNG file, relative to the project root
])  # fmt: skip

REJECTED = pa.schema([
    ("modality", pa.string()),
    ("item_id", pa.string()),
    ("label", pa.string()),
    ("filter", pa.string()),
    ("reason", pa.string()),
    ("decided_by", pa.string()),    # auto | annotator name
])  # fmt: skip

# stage 4: accepted/verdicts.parquet, one row per item of every modality (what `lumabench label` shows)
VERDICTS = pa.schema([
    ("modality", pa.string()),
    ("item_id", pa.string()),
    ("label", pa.string()),
    ("corpus", pa.string()),        # image: source/pool; audio: corpus; text: backend
    ("voice", pa.string()),         # audio: speaker (engine/voice); null otherwise
    ("auto_filter", pa.string()),   # the automatic filter that rejected it (before human decisions); null: passed
    ("auto_reason", pa.string()),
    ("heard", pa.string()),         # audio: the class word the recogniser heard; null: not checked
    ("decision", pa.string()),      # accept | reject (final, after human decisions)
    ("decided_by", pa.string()),    # auto | annotator name
    ("final_filter", pa.string()),  # the filter of the final rejection (human for a human reject); null: accepted
])  # fmt: skip

# stage 5: features/<modality>.npy (float32 [N, D]) rows match features/<modality>.parquet
FEATURE_IDS = pa.schema([("id", pa.string()), ("label", pa.string())])

# stage 6: media in `datasets`' Image/Audio layout, with the metadata that makes every column load
# natively (datasets decodes image and audio, pandas keeps image_severity an integer; native.py)
VARIANT_ROWS = with_native_metadata(pa.schema([
    ("sample_id", pa.string()),
    ("split", pa.string()),         # train | test | ood
    ("label", pa.string()),
    ("class_id", pa.int32()),
    ("image", MEDIA),               # {bytes: PNG, path: null}, null when missing
    ("audio", MEDIA),               # {bytes: WAV (16 kHz mono), path: null}, null when missing
    ("text", pa.string()),          # null when missing
    ("image_id", pa.string()),
    ("clip_id", pa.string()),
    ("text_id", pa.string()),
    ("image_noise", pa.string()),   # corruption name or null
    ("image_severity", pa.int8()),
    ("audio_noise", pa.string()),   # noise-bank file or null
    ("audio_snr_db", pa.float32()),
    ("text_noise", pa.string()),    # perturbation name or null
    ("label_original", pa.string()),    # = label when no modality was switched, else null (no vote)
    ("image_label_original", pa.string()),  # true class of the image item (≠ label: switched or conflict)
    ("audio_label_original", pa.string()),
    ("text_label_original", pa.string()),
    ("switched_modalities", pa.list_(pa.string())),  # modalities relabelled by label noise ([] if none)
    ("label_switched", pa.bool_()),     # any modality switched (conflict rows are not switched)
    ("conflict_modality", pa.string()),  # modality replaced by the next class's item, or null
    ("missing_modalities", pa.list_(pa.string())),  # dropped modalities ([] if none)
]), media={"image": {"_type": "Image"}, "audio": {"_type": "Audio", "sampling_rate": 16000}},
    nullable_ints=("image_severity",))  # fmt: skip

# stage 7
PREDICTIONS = pa.schema([
    ("sample_id", pa.string()),
    ("split", pa.string()),
    ("label", pa.string()),
    ("pred", pa.string()),
    ("probs", pa.list_(pa.float32())),
    ("confidence", pa.float32()),
    ("aleatoric", pa.float32()),
    ("epistemic", pa.float32()),
    ("total", pa.float32()),
    ("vacuity", pa.float32()),          # K/S of evidential methods; null for the others
    ("sigma2_image", pa.float32()),     # per-modality aleatoric (mean σ² of the modality's embedding), EAU
    ("sigma2_audio", pa.float32()),
    ("sigma2_text", pa.float32()),
    ("weight_image", pa.float32()),     # per-sample fusion weight of each modality (MLA's dynamic fusion)
    ("weight_audio", pa.float32()),
    ("weight_text", pa.float32()),
])  # fmt: skip
# Prediction columns filled from `Prediction.extras` when a method has them (null otherwise).
PREDICTION_EXTRAS = PREDICTIONS.names[PREDICTIONS.names.index("vacuity") :]
