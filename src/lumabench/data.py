"""Variant Parquet → tensors: decode every split once, cache it, and batch it on the device.

A split becomes one `SplitTensors`: uint8 images [N, 3, 32, 32], log-mel spectrograms
[N, 1, n_mels, frames] (float16), sentence embeddings [N, D] and a presence mask [N, 3] (False =
the modality is missing in that row; its input is zero). The decoded split is cached at
data/<profile>/cache/tensors/<variant>/<split>.pt under a key made of the sha256 of every file the
tensors are built from (the Parquet file and the features stage's text.npy, text.parquet and
meta.json it reuses) and every parameter that shapes them, so a changed file or parameter rebuilds it.

Every decoded tensor is checked: a cell that does not decode names its row, sample and column, and
a NaN or infinity anywhere (a float WAV holding NaN, a damaged text.npy) stops the stage with one
line instead of training on it and reporting undefined metrics. A split whose key equals another
variant's cached split (a test-only variant's train split is byte-identical to its source's) loads
that variant's tensors instead of decoding the same bytes again (a `.key` file beside each cache
file holds its key's sha256, so finding it reads no tensors).

Audio (LUMA-SPEC §7): 16 kHz mono → mel spectrogram (n_fft 400, hop 200, 128 mels, power 2) →
log(mel + 1e-6) → `frames` frames. The waveform is zero-padded (or cut) at its end to
hop·(frames − 1) samples first, so one batched transform gives exactly `frames` frames; the reference
feeds linear power, the log keeps the dynamic range usable. Clips at another sample rate are
resampled to 16 kHz (the reference silently mixes 22.05 kHz audio into a 16 kHz pipeline, §8).

Text: every class word (all 50 classes, every inflected form in `lumabench.classes`) is replaced,
whole-word and case-insensitively, by the encoder's mask token before embedding with the features
stage's text extractor (the offline all-MiniLM-L6-v2, 384-d, in mini; BERT in full), so a text never
gives its label away by name. A text that is still the accepted one reuses its row of the features
stage's `text.npy`; only perturbed texts are encoded again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from lumabench import classes as luma_classes
from lumabench import io as lio
from lumabench.devices import resolve_device
from lumabench.errors import InputError
from lumabench.logs import progress
from lumabench.native import media_bytes
from lumabench.params import MODALITIES, SAMPLE_RATE, Features, Train
from lumabench.paths import Paths
from lumabench.schemas import VARIANT_ROWS

log = logging.getLogger(__name__)

CACHE_FORMAT = 2
# the features stage's files `embed_texts` reads (so the tensor cache is keyed on their bytes)
REUSED_FEATURE_FILES = ("text.npy", "text.parquet", "meta.json")
TEXT_ENCODER = "all-MiniLM-L6-v2"
LOG_FLOOR = 1e-6
SPLITS = ("train", "test", "ood")
# The variant columns training decodes: a slice of the one variant schema, never a second copy.
_COLUMNS = pa.schema(
    [VARIANT_ROWS.field(n) for n in ("sample_id", "split", "label", "class_id", "image", "audio", "text")]
)
# Read when present: rows whose text is the accepted text reuse the features stage's embedding.
_TEXT_PROVENANCE = ("text_id", "text_noise")
_FIX = "rebuild the variant with `lumabench variants -v <variant>`"


@dataclass
class SplitTensors:
    """One split of one variant as tensors; rows align across every field."""

    sample_id: list[str]
    label: list[str]
    class_id: torch.Tensor  # int64 [N]
    image: torch.Tensor  # uint8 [N, 3, 32, 32]
    audio: torch.Tensor  # float16 [N, 1, n_mels, frames]
    text: torch.Tensor  # float32 [N, D]
    present: torch.Tensor  # bool [N, 3], columns in MODALITIES order

    def __len__(self) -> int:
        return len(self.sample_id)

    def to(self, device: torch.device | str) -> SplitTensors:
        return SplitTensors(
            self.sample_id,
            self.label,
            *(getattr(self, f.name).to(device) for f in fields(self)[2:]),
        )

    def subset(self, idx: np.ndarray) -> SplitTensors:
        """Rows `idx` (a numpy index array), in that order."""
        t = torch.as_tensor(idx, dtype=torch.long, device=self.class_id.device)
        return SplitTensors(
            [self.sample_id[i] for i in idx],
            [self.label[i] for i in idx],
            *(getattr(self, f.name)[t] for f in fields(self)[2:]),
        )

    def present_any(self, modalities: list[str]) -> np.ndarray:
        """Rows where at least one of `modalities` is present."""
        cols = [MODALITIES.index(m) for m in modalities]
        return self.present[:, cols].any(1).cpu().numpy()


@dataclass
class Batch:
    """Normalised inputs for one step; leading dims follow the index shape ([B] or [M, B])."""

    inputs: dict[str, torch.Tensor]
    mask: torch.Tensor  # bool [..., V] for the method's modalities
    labels: torch.Tensor  # int64 [...]


@dataclass
class Normaliser:
    """Input scaling: images by the LUMA mean/std, log-mel by the train split's mean/std."""

    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    audio_mean: float
    audio_std: float

    @classmethod
    def fit(cls, train: SplitTensors, cfg: Train) -> Normaliser:
        """Audio statistics from the training rows whose audio is present (float64, so exact)."""
        rows = torch.nonzero(train.present[:, MODALITIES.index("audio")]).flatten()
        total = total_sq = 0.0
        count = 0
        for s in range(0, len(rows), 1024):  # chunked: the full split in float64 would need gigabytes
            # numpy's pairwise sums: the same digits whatever torch's thread count (a threaded torch
            # reduction splits the sum differently with 1 and 2 threads)
            a = train.audio[rows[s : s + 1024]].double().numpy()
            total += float(a.sum())
            total_sq += float(np.square(a).sum())
            count += a.size
        mean = total / count if count else 0.0
        var = (total_sq - count * mean * mean) / (count - 1) if count > 1 else 1.0
        std = math.sqrt(max(var, 0.0))
        return cls(tuple(cfg.image_mean), tuple(cfg.image_std), mean, max(std, 1e-6))  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _image_scale(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Image mean/std [1, 3, 1, 1] on `device`, made once per device: building them every step
        copied host memory to the GPU, which blocks the host until the queued kernels are done."""
        cache: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = self.__dict__.setdefault("_scale", {})
        if device not in cache:
            cache[device] = (
                torch.tensor(self.image_mean, device=device).view(1, 3, 1, 1),
                torch.tensor(self.image_std, device=device).view(1, 3, 1, 1),
            )
        return cache[device]

    def batch(self, split: SplitTensors, idx: torch.Tensor, modalities: list[str]) -> Batch:
        """Gather rows `idx` (any shape, on the split's device) and scale them; missing inputs are zero."""
        shape = tuple(idx.shape)
        flat = idx.reshape(-1)
        present = split.present[flat]
        inputs: dict[str, torch.Tensor] = {}
        dev = split.class_id.device
        for m in modalities:
            have = present[:, MODALITIES.index(m)]
            if m == "image":
                mean, std = self._image_scale(dev)
                x = (split.image[flat].float() / 255.0 - mean) / std
            elif m == "audio":
                x = (split.audio[flat].float() - self.audio_mean) / self.audio_std
            else:
                x = split.text[flat].float()
            x = x * have.view(-1, *([1] * (x.dim() - 1))).to(x.dtype)
            inputs[m] = x.reshape(*shape, *x.shape[1:])
        cols = [MODALITIES.index(m) for m in modalities]
        mask = present[:, cols].reshape(*shape, len(cols))
        return Batch(inputs, mask, split.class_id[flat].reshape(shape))


# ---------------------------------------------------------------- decoding
class MediaError(ValueError):
    """A media cell of a variant file that does not decode: which column, which row, and why."""

    def __init__(self, column: str, row: int, reason: str) -> None:
        self.column, self.row, self.reason = column, row, reason
        super().__init__(f"{column} of row {row}: {reason}")


def decode_images(blobs: list[bytes | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """PNG bytes → uint8 [N, 3, 32, 32] and presence; a null is a missing image.

    The size is read from the header before any pixel is decoded, so a header claiming 60000×60000
    (a decompression bomb) is refused without allocating it.
    """
    from PIL import Image

    out = np.zeros((len(blobs), 3, 32, 32), dtype=np.uint8)
    have = np.zeros(len(blobs), dtype=bool)
    for i, b in enumerate(progress(blobs, "decode images", unit="img")):
        if b is None:
            continue
        try:
            with Image.open(io.BytesIO(b)) as im:
                if im.size != (32, 32):
                    raise MediaError("image", i, f"{im.size[0]}x{im.size[1]} image, expected 32x32")
                arr = np.asarray(im.convert("RGB"))
        except MediaError:
            raise
        except Exception as exc:  # any decoder failure of an untrusted blob (PIL raises many kinds)
            raise MediaError("image", i, _reason(exc)) from exc
        out[i] = arr.transpose(2, 0, 1)
        have[i] = True
    return torch.from_numpy(out), torch.from_numpy(have)


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def decode_audio(blobs: list[bytes | None], cfg: Train, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """WAV/FLAC bytes → log-mel float16 [N, 1, n_mels, frames] and presence; a null is missing audio."""
    import soundfile as sf
    import torchaudio

    n = len(blobs)
    length = cfg.hop_length * (cfg.frames - 1)
    with warnings.catch_warnings():
        # 128 mels over 201 FFT bins leaves a few empty low filters (LUMA's setting); they log to a constant.
        warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero values")
        mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels, power=2.0
        )
    out = torch.zeros((n, 1, cfg.n_mels, cfg.frames), dtype=torch.float16)
    have = torch.zeros(n, dtype=torch.bool)
    wave = torch.zeros((chunk, length), dtype=torch.float32)
    rows: list[int] = []

    def flush() -> None:
        if rows:
            spec = torch.log(mel(wave[: len(rows)]) + LOG_FLOOR)[:, :, : cfg.frames].to(torch.float16)
            finite = torch.isfinite(spec).flatten(1).all(1)
            if not bool(finite.all()):
                row = rows[int(torch.nonzero(~finite)[0])]
                raise MediaError("audio", row, "its log-mel spectrogram is not finite (overflow)")
            out[rows, 0] = spec
            rows.clear()
            wave.zero_()

    for i, b in enumerate(progress(blobs, "decode audio", unit="clip")):
        if b is None:
            continue
        try:
            data, sr = sf.read(io.BytesIO(b), dtype="float32", always_2d=True)
        except Exception as exc:  # libsndfile's errors, and whatever a damaged header provokes
            raise MediaError("audio", i, _reason(exc)) from exc
        if data.shape[0] == 0 or sr <= 0:
            raise MediaError("audio", i, f"no samples (sample rate {sr})")
        if not np.isfinite(data).all():
            raise MediaError("audio", i, "the waveform holds NaN or infinite samples")
        x = torch.from_numpy(data.mean(1))
        if sr != SAMPLE_RATE:
            x = torchaudio.functional.resample(x, sr, SAMPLE_RATE)
        x = x[:length]
        wave[len(rows), : len(x)] = x
        rows.append(i)
        have[i] = True
        if len(rows) == chunk:
            flush()
    flush()
    return out, have


def _encode(texts: list[str], features: Features | None) -> np.ndarray:
    """Sentence embeddings with the features stage's text extractor (MiniLM unless `bert`)."""
    from lumabench.features import pretrained

    if features is not None and features.text == "bert":
        device = resolve_device(features.device, "features.device")
        return pretrained.bert_embed(texts, device, features.batch_size, features.text_max_tokens)
    if features is None:
        return pretrained.minilm_embed(texts, "cpu", 256)
    device = resolve_device(features.device, "features.device")
    return pretrained.minilm_embed(texts, device, features.batch_size, features.text_max_tokens)


def _stage_vectors(paths: Paths | None) -> tuple[dict[str, int], np.ndarray] | None:
    """The features stage's text embeddings by text_id, if that stage has run (checked: finite, one
    row per id), so a damaged text.npy stops here instead of feeding NaN to training."""
    if paths is None:
        return None
    ids_file, npy = paths.features / "text.parquet", paths.features / "text.npy"
    if not (ids_file.is_file() and npy.is_file()):
        return None
    fix = "re-run `lumabench features`"
    ids = lio.read_parquet(ids_file, fix=fix).column("id").to_pylist()
    vectors = lio.load_npy(npy, fix, ndim=2, mmap=True)
    if vectors.shape[0] != len(ids):
        raise InputError(f"text.npy has {vectors.shape[0]} rows for {len(ids)} ids in text.parquet", npy, fix)
    return {str(i): k for k, i in enumerate(ids)}, vectors


def embed_texts(
    texts: list[str | None],
    text_ids: list[str | None] | None = None,
    text_noise: list[str | None] | None = None,
    paths: Paths | None = None,
    features: Features | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked texts → float32 sentence embeddings [N, D] and presence; a null is a missing text.

    A text that is still the accepted one (no perturbation) takes its row of the features stage's
    `text.npy` (same extractor, same masking), so only perturbed texts are encoded here.
    """
    have = torch.tensor([t is not None for t in texts], dtype=torch.bool)
    stage = _stage_vectors(paths)
    out: np.ndarray | None = None
    todo: list[int] = []
    reused = 0
    for i, t in enumerate(texts):
        if t is None:
            continue
        tid = text_ids[i] if text_ids is not None else None
        clean = text_noise is None or text_noise[i] is None
        if stage is not None and clean and tid is not None and tid in stage[0]:
            if out is None:
                out = np.zeros((len(texts), stage[1].shape[1]), np.float32)
            out[i] = stage[1][stage[0][tid]]
            reused += 1
        else:
            todo.append(i)
    if todo:
        emb = _encode([texts[i] for i in todo], features)  # type: ignore[misc]
        lio.check_finite(np.asarray(emb), f"text embeddings of the {len(todo)} re-encoded texts", None, _FIX)
        if out is None:
            out = np.zeros((len(texts), emb.shape[1]), np.float32)
        out[todo] = emb
    if out is None:
        out = np.zeros((len(texts), stage[1].shape[1] if stage else 384), np.float32)
    log.info("text embeddings: %d reused from the features stage, %d encoded", reused, len(todo))
    return torch.from_numpy(out), have


# ---------------------------------------------------------------- truth
def original_truth(paths: Paths, variant: str, split: str, sample_ids: list[str]) -> np.ndarray:
    """The original class of each modality's item in rows `sample_ids`, [N, 3] in MODALITIES order.

    Label noise relabels items: the row's `label` is then the switched class, and the truth of
    modality m is `<m>_label_original`. Conflict also puts another class's item in a row but keeps
    the label on purpose (the row's truth stays its label), so only switched modalities take their
    original class; every other cell holds the row's class id. Read from the variant file, in the
    order of `sample_ids` (the rows a model was scored on).
    """
    parquet = paths.variant(variant) / f"{split}.parquet"
    names = ["sample_id", "class_id", "conflict_modality", *(f"{m}_label_original" for m in MODALITIES)]
    table = lio.read_parquet(parquet, fix=_FIX, columns=[*names, "switched_modalities"])
    lacking = [n for n in names if n not in table.column_names]
    if lacking:
        raise InputError(f"the {split} split has no column {lacking[0]!r}", parquet, _FIX)
    cols = {n: table.column(n).to_pylist() for n in names}
    switched = table.column("switched_modalities").to_pylist() if "switched_modalities" in table.column_names else None
    index = {str(sid): i for i, sid in enumerate(cols["sample_id"])}
    ids = {c.name: c.id for c in luma_classes.CLASSES}
    out = np.empty((len(sample_ids), len(MODALITIES)), dtype=np.int64)
    for r, sid in enumerate(sample_ids):
        i = index.get(sid)
        if i is None:
            raise InputError(f"sample {sid!r} is not in the {split} split", parquet, _FIX)
        label = int(cols["class_id"][i])
        for j, m in enumerate(MODALITIES):
            orig = cols[f"{m}_label_original"][i]
            if switched is not None:
                moved = m in (switched[i] or [])
            else:  # files written before `switched_modalities`: infer it
                moved = orig is not None and ids.get(orig, label) != label and cols["conflict_modality"][i] != m
            out[r, j] = ids[orig] if moved and orig in ids else label
    return out


# ---------------------------------------------------------------- cache
def cache_key(parquet: Path, cfg: Train, paths: Paths | None = None, features: Features | None = None) -> str:
    """What the cached tensors depend on: the bytes of every file they are built from (the Parquet
    file; with `paths`, the features stage's text.npy, text.parquet and meta.json that unperturbed
    texts reuse), the decoding params and the text features.

    Content, not the features stage's own fingerprint of its inputs: a text.npy rewritten by a GPU
    rerun, restored from a partial checkout or damaged on disk changes the key.
    """
    reused = {
        name: (lio.sha256_file(f) if f.is_file() else None)
        for name in REUSED_FEATURE_FILES
        for f in ([paths.features / name] if paths is not None else [])
    }
    blob = json.dumps(
        {
            "features_files": reused or None,
            "features": features.model_dump(mode="json") if features is not None else None,
            "format": CACHE_FORMAT,
            "parquet": lio.sha256_file(parquet),
            "sample_rate": SAMPLE_RATE,
            "n_fft": cfg.n_fft,
            "hop_length": cfg.hop_length,
            "n_mels": cfg.n_mels,
            "frames": cfg.frames,
            "log_floor": LOG_FLOOR,
            "text_encoder": TEXT_ENCODER,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def cache_path(paths: Paths, variant: str, split: str) -> Path:
    return paths.cache / "tensors" / variant / f"{split}.pt"


def _decode(
    parquet: Path, split: str, cfg: Train, paths: Paths | None = None, features: Features | None = None
) -> SplitTensors:
    table = lio.read_parquet(parquet, _COLUMNS, fix=_FIX)
    cols = {name: table.column(name).to_pylist() for name in _COLUMNS.names if name not in ("image", "audio")}
    cols |= {name: media_bytes(table.column(name)) for name in ("image", "audio")}
    for name in _TEXT_PROVENANCE:
        cols[name] = table.column(name).to_pylist() if name in table.column_names else None
    n = table.num_rows
    if n == 0:
        raise InputError(f"the {split} split has no rows", parquet, _FIX)
    bad = [s for s in set(cols["split"]) if s != split]
    if bad:
        raise InputError(f"rows with split {bad[0]!r} in the {split} file", parquet, _FIX)
    cid = np.asarray(cols["class_id"], dtype=np.int64)
    lo, hi = (luma_classes.N_ID, luma_classes.N_CLASSES) if split == "ood" else (0, luma_classes.N_ID)
    if cid.min() < lo or cid.max() >= hi:
        raise InputError(f"class_id outside {lo}..{hi - 1} in the {split} split", parquet, _FIX)
    try:
        image, have_i = decode_images(cols["image"])
        audio, have_a = decode_audio(cols["audio"], cfg)
    except MediaError as exc:
        sid = cols["sample_id"][exc.row]
        raise InputError(
            f"undecodable {exc.column!r} cell in row {exc.row} (sample_id {sid!r}): {exc.reason}", parquet, _FIX
        ) from exc
    text, have_t = embed_texts(cols["text"], cols["text_id"], cols["text_noise"], paths, features)
    return SplitTensors(
        sample_id=[str(s) for s in cols["sample_id"]],
        label=[str(s) for s in cols["label"]],
        class_id=torch.from_numpy(cid),
        image=image,
        audio=audio,
        text=text,
        present=torch.stack([have_i, have_a, have_t], 1),
    )


def load_split(paths: Paths, variant: str, split: str, cfg: Train, features: Features | None = None) -> SplitTensors:
    """The split as tensors (CPU), from the cache when its key still matches, else decoded and cached.

    With `features` (params.features), texts are embedded by that extractor and unperturbed texts
    reuse the features stage's output; without it, every text is encoded with MiniLM.
    """
    parquet = paths.variant(variant) / f"{split}.parquet"
    if not parquet.is_file():
        raise InputError("missing input", parquet, f"run `lumabench variants -v {variant}` first")
    key = cache_key(parquet, cfg, paths if features is not None else None, features)
    cached = cache_path(paths, variant, split)
    st = _cached(cached, key)
    if st is not None:
        return st
    # a split byte-identical to another variant's (a test-only variant's train split is its source's)
    # takes that variant's decoded tensors: the key, checked in full on load, names the content
    digest = _digest(key)
    for other in sorted(cached.parent.parent.glob(f"*/{split}.key")):
        if other.with_suffix(".pt") != cached and other.read_text("utf-8").strip() == digest:
            st = _cached(other.with_suffix(".pt"), key)
            if st is not None:
                return st
    log.info("decoding %s (%s split) into tensors", parquet, split)
    st = _decode(parquet, split, cfg, paths if features is not None else None, features)
    bad = _nonfinite(st)
    if bad is not None:
        column, row = bad
        raise InputError(
            f"the {column} input of row {row} (sample_id {st.sample_id[row]!r}) is NaN or infinite", parquet, _FIX
        )
    buf = io.BytesIO()  # saved from memory: torch names the archive after the file, a random temp name
    torch.save({"key": key, **{f.name: getattr(st, f.name) for f in fields(SplitTensors)}}, buf)
    lio.write_bytes(cached, buf.getvalue())
    lio.write_text(cached.with_suffix(".key"), digest + "\n")  # after the tensors: a key names a whole file
    return st


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _cached(path: Path, key: str) -> SplitTensors | None:
    """The tensors cached at `path` when they were decoded under `key` and are finite, else None."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError):
        return None
    if not (isinstance(blob, dict) and blob.get("key") == key):
        return None
    st = SplitTensors(**{f.name: blob[f.name] for f in fields(SplitTensors)})
    if _nonfinite(st) is not None:
        log.warning("tensor cache %s holds non-finite values; decoding again", path)
        return None
    log.debug("tensor cache hit %s", path)
    return st


def _nonfinite(st: SplitTensors) -> tuple[str, int] | None:
    """(column, row) of the first non-finite model input of the split, or None."""
    for column in ("audio", "text"):
        t = getattr(st, column)
        finite = torch.isfinite(t.reshape(len(t), -1)).all(1) if len(t) else torch.ones(0, dtype=torch.bool)
        if not bool(finite.all()):
            return column, int(torch.nonzero(~finite)[0])
    return None
