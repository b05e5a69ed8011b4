"""The params.yaml model: every parameter of every stage, validated before any work starts.

`profiles.<name>` holds dotted-key overrides applied when that profile is selected, so one file
describes both the embedded `mini` corpus and the `full` reproduction.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lumabench.errors import ParamsError

Prob = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]
Severity = Annotated[int, Field(ge=1, le=5)]
Modality = Literal["image", "audio", "text"]
MODALITIES: tuple[str, ...] = ("image", "audio", "text")
# how the Deep Ensemble runs its convolutions (models.ensemble): "auto" = members on CPU, grouped on CUDA
EnsembleConvLayout = Literal["auto", "grouped", "members"]
SAMPLE_RATE = 16000  # every clip of the project: 16 kHz mono (LUMA-SPEC)
# A sweep level is named `<definition>-<level>` (e.g. severity-3). Not '@': DVC uses '@' to name
# matrix stages, so `variants@severity@3` could not be addressed.
LEVEL_SEP = "-"

IMAGE_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "frosted_glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic",
    "pixelate", "jpeg_compression",
)  # fmt: skip
TEXT_PERTURBATIONS: tuple[str, ...] = (
    "keyboard", "ocr", "char_edit", "word_swap", "word_delete", "spelling", "synonym", "antonym",
    "back_translation",
)  # fmt: skip
# opt-in text perturbations outside LUMA's list: never in a default mix nor in joint noise
# (word_mask: EAU's word masking, Gao et al. CVPR 2024; rate `text.mask_rate`)
EXTRA_TEXT_PERTURBATIONS: tuple[str, ...] = ("word_mask",)
ImageCorruption = Literal[IMAGE_CORRUPTIONS]  # type: ignore[valid-type]
TextPerturbation = Literal[TEXT_PERTURBATIONS + EXTRA_TEXT_PERTURBATIONS]  # type: ignore[valid-type]


class Strict(BaseModel):
    """Base: unknown keys are errors, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ---------------------------------------------------------------- stage 1: corpora
class MiniCorpus(Strict):
    """The embedded offline corpus (lumabench/corpora/mini.py)."""

    images_per_class: PosInt = 220
    ood_images_per_class: PosInt = 60
    image_test_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    image_size: Literal[32] = 32
    sentences_per_word: PosInt = 8
    ood_sentences_per_word: PosInt = 4
    voices_min: PosInt = 12
    engines: list[Literal["espeak-ng", "flite", "festival"]] = ["espeak-ng", "flite", "festival"]
    espeak_voices: list[str] = [
        "en-us", "en-us+f2", "en+m3", "en-gb-scotland+f3", "en-gb-x-rp+m7", "en-029+m2", "en+f4",
        "en-gb-x-gbclan+f1", "en-us-nyc+m5",
    ]  # fmt: skip
    flite_voices: list[str] = ["kal", "kal16", "awb", "rms", "slt"]
    festival_voices: list[str] = ["kal_diphone", "ked_diphone"]
    noise_seconds: PosInt = 5
    noise_per_colour: PosInt = 3
    packaged_sounds: bool = True
    workers: Count = 0

    @field_validator("engines")
    @classmethod
    def _engines(cls, v: list[str]) -> list[str]:
        if not v or len(set(v)) != len(v):
            raise ValueError("engines must be a non-empty list without repeats")
        return v


class FullCorpus(Strict):
    """Downloads of the full profile (registry: lumabench/corpora/sources.py)."""

    sources: list[
        Literal["cifar10", "cifar100", "luma", "esc50", "librispeech", "spoken_wikipedia", "common_voice", "aligner"]
    ] = ["cifar10", "cifar100", "luma", "esc50", "aligner"]
    librispeech_subsets: list[
        Literal["dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360",
                "train-other-500"]
    ] = ["dev-clean", "test-clean", "train-clean-100"]  # fmt: skip
    import_from: str | None = None
    lock_file: str = "config/corpora.lock.json"
    mirrors: dict[str, str] = {}
    retries: Count = 5
    timeout_s: PosInt = 60
    backoff_s: Annotated[float, Field(ge=0.0)] = 2.0
    rehash: bool = False


class Corpora(Strict):
    mini: MiniCorpus = MiniCorpus()
    full: FullCorpus = FullCorpus()


# ---------------------------------------------------------------- stage 2: audio
class Audio(Strict):
    source: Literal["extract", "luma_release"] = "extract"
    aligner: Literal["pocketsphinx", "ctc"] = "pocketsphinx"
    aligner_model: str = "WAV2VEC2_ASR_BASE_960H"
    sample_rate: Literal[16000] = 16000
    margin_s: Annotated[float, Field(ge=0.0, le=0.5)] = 0.04
    min_duration_s: Annotated[float, Field(gt=0.0)] = 0.15
    max_duration_s: Annotated[float, Field(gt=0.0)] = 1.2
    loudness_dbfs: Annotated[float, Field(le=0.0)] = -20.0
    trim_db: Annotated[float, Field(gt=0.0)] = 40.0
    word_timings_from: list[str] = []
    #: longest file the aligner is given (seconds); longer files need shipped word timings
    max_align_s: Annotated[float, Field(gt=0.0)] = 120.0
    workers: Count = 0

    @model_validator(mode="after")
    def _bounds(self) -> Audio:
        if self.min_duration_s >= self.max_duration_s:
            raise ValueError("min_duration_s must be below max_duration_s")
        return self


# ---------------------------------------------------------------- stage 3: text
class Text(Strict):
    backend: Literal["template", "transformers"] = "template"
    model: str = "google/gemma-7b-it"
    revision: str = "main"
    texts_per_class: PosInt = 120
    batch_size: PosInt = 32
    max_new_tokens: PosInt = 256
    temperature: Annotated[float, Field(gt=0.0)] = 1.0
    top_p: Prob = 0.95
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    prompts: list[str] = [
        "Write a short paragraph describing a {label}.",
        "Describe what a {label} looks like in a photograph.",
        "Tell a short story in which a {label} plays a role.",
        "Write a factual text about a {label}.",
    ]

    @field_validator("prompts")
    @classmethod
    def _has_label(cls, v: list[str]) -> list[str]:
        for p in v:
            if "{label}" not in p:
                raise ValueError(f"prompt {p!r} must contain the placeholder {{label}}")
        return v


# ---------------------------------------------------------------- stage 4: annotate
class TextFilter(Strict):
    min_words: PosInt = 12
    max_words: PosInt = 400
    max_other_class_mentions: Count = 3
    near_duplicate_jaccard: Prob = 0.85
    minhash_permutations: PosInt = 64
    shingle_words: PosInt = 3
    min_letter_fraction: Prob = 0.75
    min_distinct_word_ratio: Prob = 0.25

    @model_validator(mode="after")
    def _bounds(self) -> TextFilter:
        if self.min_words > self.max_words:
            raise ValueError("min_words must not exceed max_words")
        return self


class AudioFilter(Strict):
    min_duration_s: Annotated[float, Field(gt=0.0)] = 0.15
    max_duration_s: Annotated[float, Field(gt=0.0)] = 1.2
    min_rms_dbfs: float = -45.0
    max_clipped_fraction: Prob = 0.01
    min_align_score: float = -1e9
    recognition_check: bool = True
    # a clip heard as another class word is rejected only if that word's acoustic likelihood beats
    # the expected word's by more than 10^x in a two-word decode (annotate/recognize.py); 0: head to head
    recognition_log10_ratio: Annotated[float, Field(ge=0.0, le=35.0)] = 0.0

    @model_validator(mode="after")
    def _bounds(self) -> AudioFilter:
        if self.min_duration_s >= self.max_duration_s:
            raise ValueError("min_duration_s must be below max_duration_s")
        return self


class ImageFilter(Strict):
    near_duplicate_hamming: Count = 2


class Annotate(Strict):
    text: TextFilter = TextFilter()
    audio: AudioFilter = AudioFilter()
    image: ImageFilter = ImageFilter()
    overrides: str | None = None
    workers: Count = 0


# ---------------------------------------------------------------- stage 5: features
class Features(Strict):
    """Extractors per modality; the finetune_* fields shape the `imagenet_cnn` image features.

    The ImageNet ResNet-18 is fine-tuned as a 42-way classifier on the in-distribution train-pool
    images only (features/finetune.py), then embeds every image at `finetune_size`.
    """

    image: Literal["handcrafted", "imagenet_cnn"] = "handcrafted"
    audio: Literal["logmel", "wav2vec2"] = "logmel"
    text: Literal["minilm", "bert"] = "minilm"
    text_max_tokens: Annotated[int, Field(ge=8, le=512)] = 128
    batch_size: PosInt = 256
    device: Literal["auto", "cpu", "cuda"] = "auto"
    finetune_epochs: Annotated[
        int, Field(ge=0, le=100, description="epochs fine-tuning the ImageNet CNN; 0 = frozen ImageNet features")
    ] = 3
    finetune_lr: Annotated[
        float, Field(gt=0.0, le=1.0, description="SGD learning rate (Nesterov momentum 0.9, cosine decay)")
    ] = 0.01
    finetune_size: Annotated[
        int, Field(ge=32, le=512, description="side the images are resized to for fine-tuning and embedding")
    ] = 224


# ---------------------------------------------------------------- stage 6: variants
class SplitFlags(Strict):
    train: bool = False
    test: bool = False


class SplitRates(Strict):
    train: Prob = 0.0
    test: Prob = 0.0


class ImageNoise(SplitFlags):
    ratio: Prob = 0.0
    corruptions: list[ImageCorruption] = list(IMAGE_CORRUPTIONS)  # type: ignore[valid-type]
    severity: Severity = 3


class AudioNoise(SplitFlags):
    ratio: Prob = 0.0
    min_snr_db: float = 3.0
    max_snr_db: float = 10.0

    @model_validator(mode="after")
    def _range(self) -> AudioNoise:
        if self.min_snr_db > self.max_snr_db:
            raise ValueError("min_snr_db must not exceed max_snr_db")
        return self


class TextNoise(SplitFlags):
    """Text sample noise: one perturbation drawn uniformly per noisy text (LUMA's list by default).

    `mask_rate` is the per-word masking probability of `word_mask` (EAU's protocol, Gao et al.,
    CVPR 2024: p = 0.1·ε); it is used only when `perturbations` lists `word_mask`.
    """

    ratio: Prob = 0.0
    perturbations: list[TextPerturbation] = [p for p in TEXT_PERTURBATIONS if p != "back_translation"]  # type: ignore[valid-type]
    heavy: bool = False
    mask_rate: Prob = 0.1


class PerModality(Strict):
    image: Annotated[float, Field(ge=0.0)] = 0.0
    audio: Annotated[float, Field(ge=0.0)] = 0.0
    text: Annotated[float, Field(ge=0.0)] = 0.0


class PerModalityRates(Strict):
    image: SplitRates = SplitRates()
    audio: SplitRates = SplitRates()
    text: SplitRates = SplitRates()


class _Variant(Strict):
    sweep: str | list[str] | None = None
    sweep_label: str | None = None
    levels: list[float | int] | None = None
    # A variant that changes only test (and OOD) data can evaluate the models trained on another
    # variant with the same train split instead of training them again (the train stage checks
    # that the two train files are byte-identical): same data, seed and method give the same model.
    model_from: str | None = None

    @model_validator(mode="after")
    def _sweep(self) -> _Variant:
        if (self.sweep is None) != (self.levels is None):
            raise ValueError("'sweep' (dotted keys inside this variant) and 'levels' go together")
        if isinstance(self.sweep, list) and not self.sweep:
            raise ValueError("'sweep' needs at least one dotted key")
        return self

    def sweep_keys(self) -> list[str]:
        """The dotted keys a sweep level sets (all to the same value)."""
        if self.sweep is None:
            return []
        return [self.sweep] if isinstance(self.sweep, str) else list(self.sweep)

    def sweep_title(self) -> str | None:
        """What the sweep varies, for axis labels: `sweep_label`, else the keys."""
        if self.sweep is None:
            return None
        return self.sweep_label or ", ".join(self.sweep_keys())


class CleanVariant(_Variant):
    family: Literal["clean"]


class DiversityVariant(_Variant):
    family: Literal["diversity"]
    compactness: PerModality = PerModality(image=20, audio=10, text=20)


class SampleNoiseVariant(_Variant):
    family: Literal["sample_noise"]
    image: ImageNoise = ImageNoise()
    audio: AudioNoise = AudioNoise()
    text: TextNoise = TextNoise()


class LabelNoiseVariant(_Variant):
    family: Literal["label_noise"]
    rate: PerModalityRates = PerModalityRates()
    neighbours: PosInt = 5


class ConflictVariant(_Variant):
    family: Literal["conflict"]
    test_rate: Prob = 0.4


class MissingVariant(_Variant):
    family: Literal["missing"]
    rate: PerModalityRates = PerModalityRates()


class JointVariant(_Variant):
    family: Literal["joint"]
    train: bool = False
    test: bool = True
    ratio: Prob = 0.5
    severity: Severity = 3
    min_snr_db: float = 3.0
    max_snr_db: float = 10.0


VariantDef = Annotated[
    CleanVariant
    | DiversityVariant
    | SampleNoiseVariant
    | LabelNoiseVariant
    | ConflictVariant
    | MissingVariant
    | JointVariant,
    Field(discriminator="family"),
]


class Variants(Strict):
    train_per_class: PosInt = 150
    test_per_class: PosInt = 40
    num_sampling: PosInt = 10
    definitions: dict[str, VariantDef] = {}

    @field_validator("definitions")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            if not name or not name.replace("_", "").isalnum():
                raise ValueError(f"variant name {name!r} uses letters, digits and '_' only")
        for name, d in v.items():
            src = d.model_from
            if src is None:
                continue
            if src == name or src not in v or v[src].levels is not None or v[src].model_from is not None:
                raise ValueError(
                    f"{name}.model_from: {src!r} must name another plain variant (not a sweep) "
                    "that trains its own models"
                )
        return v

    def names(self) -> list[str]:
        """Every buildable variant name: plain names, and `name-level` for each sweep level."""
        out: list[str] = []
        for name, d in self.definitions.items():
            if d.levels is None:
                out.append(name)
            else:
                out.extend(f"{name}{LEVEL_SEP}{level_str(lv)}" for lv in d.levels)
        return out

    def levels_of(self, base: str) -> list[str]:
        """The buildable names of sweep `base` (`severity-1`, `severity-3`, ...); [] if not a sweep."""
        d = self.definitions.get(base)
        if d is None or d.levels is None:
            return []
        return [f"{base}{LEVEL_SEP}{level_str(lv)}" for lv in d.levels]

    def draws_key(self, name: str) -> str:
        """What the random draws of variant `name` are keyed by: for a sweep level, its sweep
        (`label_sweep-0.2` -> `label_sweep`), so every level of a sweep makes the same draws and the
        levels differ only in the swept setting (common random numbers: the rows switched, masked or
        corrupted at a lower level are among those of a higher one); any other variant, its name."""
        base, _, level = name.partition(LEVEL_SEP)
        d = self.definitions.get(base)
        return base if level and d is not None and d.levels is not None else name

    def resolve(self, name: str) -> Any:
        """The definition for `name` with its sweep level applied.

        An unknown name is a ParamsError that suggests the nearest names; a sweep named without a
        level (`severity`) suggests that sweep's own levels (`severity-1`, ...).
        """
        base, _, level = name.partition(LEVEL_SEP)
        if base not in self.definitions:
            raise ParamsError(
                f"unknown variant {name!r}{_did_you_mean(name, self.names())}",
                fix=f"use a name from params.yaml `variants.definitions`: {', '.join(self.names())}",
            )
        d = self.definitions[base]
        if not level:
            if d.levels is not None:
                levels = self.levels_of(base)
                raise ParamsError(
                    f"variant {base!r} is a sweep; name one of its levels, e.g. {levels[0]}",
                    fix=f"use one of: {', '.join(levels)}",
                )
            return d
        if d.levels is None or level not in [level_str(lv) for lv in d.levels]:
            known = self.levels_of(base) or self.names()
            raise ParamsError(
                f"unknown variant {name!r}{_did_you_mean(name, known)}", fix=f"use one of: {', '.join(known)}"
            )
        raw = d.model_dump()
        for key in d.sweep_keys():
            _set_dotted(raw, key, _parse_scalar(level))
        raw["sweep"], raw["levels"], raw["sweep_label"] = None, None, None
        return type(d).model_validate(raw)


def level_str(level: float | int) -> str:
    return str(int(level)) if float(level).is_integer() else repr(float(level))


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


# ---------------------------------------------------------------- stage 7: train
class Train(Strict):
    batch_size: PosInt = 128
    lr: Annotated[float, Field(gt=0.0)] = 1e-2
    weight_decay: Annotated[float, Field(ge=0.0)] = 0.0
    plateau_factor: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.33
    plateau_patience: Count = 5
    early_stopping_patience: Count = 10
    max_epochs: PosInt = 300
    val_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True  # bfloat16 autocast on CUDA
    # bfloat16 autocast on CPU too: faster on CPUs with bf16 instructions, not equal to float32 results
    amp_cpu: bool = False
    # ensemble convolutions: "members" (one per member; faster on CPU), "grouped" (one grouped
    # convolution), "auto" = members on CPU, grouped on CUDA
    ensemble_conv: EnsembleConvLayout = "auto"
    # CUDA only: capture the training step once as a CUDA graph and replay it (less launch overhead)
    cuda_graphs: bool = False
    n_mels: PosInt = 128
    n_fft: PosInt = 400
    hop_length: PosInt = 200
    frames: PosInt = 128
    # channels of the image and audio CNNs relative to the paper's (32, 64[, 64]); the mini profile
    # narrows them so the whole grid trains in minutes on a laptop CPU (docs/default-run.md)
    conv_width: Annotated[float, Field(gt=0.0, le=4.0)] = 1.0
    image_mean: tuple[float, float, float] = (0.51, 0.49, 0.44)
    image_std: tuple[float, float, float] = (0.27, 0.26, 0.28)
    record_seconds: bool = True  # false: metrics JSON without wall-clock time, byte-identical on rerun


# ---- EAU settings (docs/eau.md): defined here, used by methods/eau.py
class EAUSpec(Strict):
    """EAU (Gao et al., CVPR 2024) settings; see docs/eau.md for which values are the paper's.

    Defaults are the authors' released values (latent 128, weights 1e-3/1e-5, τ 0.5); `fusion: paper`
    is the paper's softmax of 1/σ, `code` the authors' code's softmax of −σ².
    """

    latent: Annotated[int, Field(ge=1, description="Gaussian embedding size d per modality and of the VIB")] = 128
    fusion: Annotated[
        Literal["paper", "code"],
        Field(description="fusion weights: softmax over present modalities of 1/σ (paper) or of −σ² (code)"),
    ] = "paper"
    tau: Annotated[float, Field(gt=0.0, description="NT-Xent temperature")] = 0.5
    align_weight: Annotated[
        float, Field(ge=0.0, description="weight of Σ over ordered modality pairs of KL(N_a ‖ N_b)")
    ] = 1e-5
    prior_weight: Annotated[float, Field(ge=0.0, description="weight of Σ_m KL(N_m ‖ N(0, I))")] = 1e-3
    contrastive_weight: Annotated[float, Field(ge=0.0, description="weight of the per-modality NT-Xent")] = 1e-3
    vib_weight: Annotated[float, Field(ge=0.0, description="β: weight of the VIB's KL(N(μ_f, σ_f²) ‖ N(0, I))")] = 1e-3
    ib_weight: Annotated[float, Field(ge=0.0, description="λ_ib: weight of CE(head_ib(z), y), z ~ N(μ_f, σ_f²)")] = 1e-3
    samples: Annotated[int, Field(ge=1, description="VIB samples z averaged at prediction")] = 100


# ---- MLA settings (docs/mla.md): defined here, used by methods/mla.py
class MLASpec(Strict):
    """MLA (Zhang et al., CVPR 2024) settings; see docs/mla.md for which values are the paper's."""

    width: Annotated[int, Field(ge=1, description="common feature width d every encoder projects to")] = 256
    hgm: Annotated[
        bool,
        Field(
            description="head gradient modification: the shared head's update is projected (OWM) away from "
            "the other modalities' latest mean features"
        ),
    ] = True
    hgm_alpha_start: Annotated[float, Field(gt=0.0, description="OWM regulariser alpha at the start of an epoch")] = 0.1
    hgm_alpha_end: Annotated[float, Field(gt=0.0, description="alpha at the end of an epoch (geometric decay)")] = 0.01
    hgm_target: Annotated[
        Literal["update", "gradient"],
        Field(
            description="what P multiplies: the head's optimiser update (exact with any optimiser) or its "
            "gradient (the paper's form; exact only for plain SGD)"
        ),
    ] = "update"
    fusion: Annotated[
        Literal["dynamic", "fixed"],
        Field(description="test-time fusion: per-sample softmax of minus each modality's entropy, or equal weights"),
    ] = "dynamic"
    samples: Annotated[int, Field(ge=1, description="MC-dropout passes at prediction (epistemic uncertainty)")] = 100
    optimizer: Annotated[
        Literal["adam", "sgd"], Field(description="adam: train.lr and train.weight_decay; sgd: the sgd_* values")
    ] = "adam"
    sgd_lr: Annotated[float, Field(gt=0.0, description="the paper's SGD learning rate")] = 1e-3
    sgd_momentum: Annotated[float, Field(ge=0.0, lt=1.0, description="the paper's SGD momentum")] = 0.9
    sgd_weight_decay: Annotated[float, Field(ge=0.0, description="the paper's SGD weight decay")] = 1e-4

    @model_validator(mode="after")
    def _alpha_decays(self) -> MLASpec:
        if self.hgm_alpha_end > self.hgm_alpha_start:
            raise ValueError("hgm_alpha_end must not exceed hgm_alpha_start (alpha decays within an epoch)")
        return self


# ---- self-distillation over modality subsets (McKinzie et al., ICML 2023; docs/robustness.md)
class Distill(Strict):
    """Modality-augmented self-distillation: loss + λ·KL(stop-grad softmax(f(x_A)/T) ‖ softmax(f(x_S)/T)).

    S is a random non-empty subset of each training row's modalities A, drawn per row and step.
    """

    weight: Annotated[float, Field(ge=0.0, description="λ: weight of the KL term")] = 1.0
    temperature: Annotated[float, Field(gt=0.0, description="T: softmax temperature of both predictions")] = 1.0


#: Method settings that act only at prediction, so two entries that differ only in them (and in
#: `weights_from`) train the same model: MC samples, MLA's fusion rule, EAU's VIB samples.
TEST_TIME_SETTINGS = ("samples", "mla.fusion", "mla.samples", "eau.samples")


class Method(Strict):
    """One trained model: its kind, modalities and method settings (docs/uncertainty.md)."""

    kind: Literal["mc_dropout", "deep_ensemble", "rcml", "eau", "mla"]
    modalities: list[Modality]
    dropout: Prob = 0.3
    samples: PosInt = 100
    members: PosInt = 10
    sigma_samples: PosInt = 100
    # sampling methods with several modalities: weight of the mean per-head heteroscedastic loss added
    # to the fused loss; 0 trains only the fused output, and then no per-modality predictions are made
    head_loss_weight: Annotated[float, Field(ge=0.0)] = 1.0
    # RCML: the KL term is annealed over this fraction of train.max_epochs (1/6 of 300 = the paper's 50)
    kl_anneal_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0 / 6.0
    conflict_weight: Annotated[float, Field(ge=0.0)] = 1.0
    # RCML evidence fusion: "sequential" (the paper and its code: views added one at a time,
    # e = (e + e_v)/2) or "mean" (equal weight for every present view, order-free)
    fusion: Literal["sequential", "mean"] = "sequential"
    eau: EAUSpec = EAUSpec()
    mla: MLASpec = MLASpec()
    # training option of any fused method: modality-augmented self-distillation (docs/robustness.md);
    # null = off
    distill: Distill | None = None
    # evaluate this other method's trained model (same variant and seed) with this entry's test-time
    # settings instead of training one: e.g. MLA without dynamic fusion is MLA's model fused with
    # fixed weights. Every training setting must equal the source's (checked, `training_settings`).
    weights_from: str | None = None

    def training_settings(self) -> dict[str, Any]:
        """The spec without the settings that act only at prediction (`TEST_TIME_SETTINGS`)."""
        d = self.model_dump(mode="json")
        d.pop("weights_from")
        for dotted in TEST_TIME_SETTINGS:
            node = d
            *parents, leaf = dotted.split(".")
            for k in parents:
                node = node[k]
            node.pop(leaf)
        return d

    def kl_anneal_epochs(self, max_epochs: int) -> int:
        """Epochs over which RCML's KL weight rises to 1: max(1, round(fraction x max_epochs))."""
        return max(1, round(self.kl_anneal_fraction * max_epochs))

    @field_validator("modalities")
    @classmethod
    def _mods(cls, v: list[str]) -> list[str]:
        if not v or len(set(v)) != len(v):
            raise ValueError("modalities must be a non-empty list without repeats")
        return v

    @model_validator(mode="after")
    def _distill_needs_fusion(self) -> Method:
        if self.distill is not None and len(self.modalities) < 2:
            raise ValueError("distill needs two modalities or more (it compares the fused prediction with a subset's)")
        return self


# ---------------------------------------------------------------- stage 8: report
class Report(Strict):
    """Stage 8 settings; the last four name the robustness pieces of the report (docs/report.md).

    Each names variants (`variants.definitions` sweeps) or methods; a piece whose variants or methods
    are not in the run is skipped with a note, so the defaults suit any grid.
    """

    tracking_uri: str | None = None
    experiment: str = "lumabench-{profile}"
    dpi: PosInt = 150
    sample_sheet_rows: PosInt = 8
    # processes drawing the figures (the run-wide ones as one job, each variant's figures and sample
    # sheet as another); 0 = all cores
    workers: Count = 0
    # test-noise sweeps (EAU's protocol, Gao et al. CVPR 2024): accuracy of the fused methods and
    # per-modality σ² against the level, clean as the no-noise point
    robustness_sweeps: list[str] = ["image_gauss", "image_sp", "text_mask", "audio_snr"]
    # missing-modality sweep (MLA's Q2, Zhang et al. CVPR 2024): accuracy against η, clean as η = 0
    missing_sweep: str | None = "missing_rate"
    # method -> row label of the ablation table (clean and every missing-sweep level in the run)
    ablation: dict[str, str] = {
        "mla_fused": "MLA",
        "mla_nohgm": "w/o HGM",
        "mla_fixed": "w/o dynamic fusion",
        "mla_plain": "w/o both",
    }
    # fused method -> unimodal family: modality m's head inside the fused model vs `<family>_<m>` alone
    laziness_pairs: dict[str, str] = {
        "mcd_fused": "mcd",
        "de_fused": "de",
        "rcml_fused": "mcd",
        "mla_fused": "mcd",
        "eau_fused": "mcd",
    }

    @field_validator("robustness_sweeps")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("robustness_sweeps lists a sweep twice")
        return v


# ---------------------------------------------------------------- robustness: train/deploy modality mismatch
ModalitySet = Annotated[list[Modality], Field(min_length=1)]


def modality_sets() -> list[tuple[str, ...]]:
    """The 7 non-empty subsets of the three modalities, largest first, each in MODALITIES order."""
    subsets = [tuple(m for i, m in enumerate(MODALITIES) if code >> i & 1) for code in range(1, 2 ** len(MODALITIES))]
    return sorted(subsets, key=lambda s: (-len(s), [MODALITIES.index(m) for m in s]))


def canonical_set(modalities: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """A modality set in MODALITIES order (the one spelling every output uses)."""
    return tuple(m for m in MODALITIES if m in modalities)


def _distinct_sets(v: list[list[str]] | str, what: str) -> list[list[str]] | str:
    if isinstance(v, str):
        return v
    keys = [canonical_set(s) for s in v]
    if any(len(set(s)) != len(s) for s in v):
        raise ValueError(f"a set of {what} lists a modality twice")
    if len(set(keys)) != len(keys):
        raise ValueError(f"{what} lists a set twice")
    return v


class WiseFT(Strict):
    """Intervention 2, WiSE-FT (Wortsman et al., CVPR 2022): θ_α = (1 − α)·θ₀ + α·θ₁ between θ₀, trained on
    `old`, and θ₁, θ₀ fine-tuned with the modalities of `new` (docs/robustness.md)."""

    old: ModalitySet = ["image", "text"]
    new: ModalitySet = ["image", "audio", "text"]
    alphas: list[Prob] = [round(0.1 * i, 1) for i in range(11)]
    # the α whose model enters the robustness table (the curve shows every α); 0.5: Wortsman et al.'s
    # usual mixing coefficient, chosen before seeing any result (ours: the paper names none)
    report_alpha: Prob = 0.5
    max_epochs: PosInt | None = None  # fine-tuning epochs (null: train.max_epochs, the same early stopping)
    lr: Annotated[float, Field(gt=0.0)] | None = None  # fine-tuning learning rate (null: train.lr)

    @model_validator(mode="after")
    def _sets_and_alphas(self) -> WiseFT:
        if len(set(self.old)) != len(self.old) or len(set(self.new)) != len(self.new):
            raise ValueError("old and new must not list a modality twice")
        if not set(self.old) < set(self.new):
            raise ValueError("new must hold every modality of old and at least one more (the modality added)")
        if sorted(set(self.alphas)) != self.alphas or self.alphas[:1] != [0.0] or self.alphas[-1:] != [1.0]:
            raise ValueError("alphas must increase strictly from 0 to 1 (both endpoints are the two models)")
        if self.report_alpha not in self.alphas:
            raise ValueError("report_alpha must be one of alphas")
        return self


class Robustness(Strict):
    """Train/deploy modality mismatch (McKinzie et al., ICML 2023): the A→B accuracy matrix of each
    fused method and the two interventions (docs/robustness.md)."""

    variant: str = "clean"  # the models are trained, and deployed, on this variant
    methods: list[str] = []  # fused methods with all three modalities: every training set, both interventions
    # fused methods evaluated only as the train stage trains them (all three modalities, deployed on
    # every B): a row of the matrix and the losing-one-modality comparison, at the cost of predictions
    compare: list[str] = []
    seeds: list[Count] | None = None  # training seeds (null: run.seeds)
    # training sets A and deployment sets B: lists of modality lists, or "all" (the 7 non-empty sets)
    train_sets: list[ModalitySet] | Literal["all"] = "all"
    test_sets: list[ModalitySet] | Literal["all"] = "all"
    # intervention 1 (trained on all three modalities); null = skip
    distill: Distill | None = Distill()
    # intervention 2; null = skip
    wise_ft: WiseFT | None = WiseFT()

    @field_validator("train_sets", "test_sets")
    @classmethod
    def _sets(cls, v: list[list[str]] | str) -> list[list[str]] | str:
        return _distinct_sets(v, "the sets")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError("seeds must be null or a non-empty list without repeats")
        return v

    def sets(self, which: Literal["train", "test"]) -> list[tuple[str, ...]]:
        """`train_sets` or `test_sets` as canonical tuples ("all": the 7 sets, largest first)."""
        v = self.train_sets if which == "train" else self.test_sets
        return modality_sets() if v == "all" else [canonical_set(s) for s in v]

    def training_seeds(self, run: Run) -> list[int]:
        return list(self.seeds) if self.seeds is not None else list(run.seeds)

    def all_methods(self) -> list[str]:
        """`methods`, then `compare`."""
        return [*self.methods, *self.compare]


class Run(Strict):
    """What the front-ends build and train: variants x methods x training seeds.

    `seeds` are training seeds only (initialisation, data order, dropout and noise draws); the data
    stages and the validation split keep using the top-level `seed`, so every seed of a grid cell
    sees the same data and the spread over seeds measures training variability alone.
    """

    variants: list[str]
    methods: list[str]
    seeds: list[Count]
    # Snakemake's training jobs: `variant` = one process trains every method x seed of a variant
    # (least start-up and data-loading cost: the mini default), `model` = one job per variant x
    # method x seed (most parallel: a cluster or a GPU that runs several jobs at once)
    train_jobs: Literal["variant", "model"] = "model"
    train_threads: PosInt = 2  # torch threads of each training job (OMP_NUM_THREADS)
    # methods trained or evaluated on a variant instead of `methods`, by variant name or sweep name
    # (e.g. the test-noise sweeps need only the fused methods); every other variant gets `methods`
    variant_methods: dict[str, list[str]] = {}

    def methods_for(self, variant: str) -> list[str]:
        """The methods the grid trains (or evaluates) on `variant`."""
        base = variant.partition(LEVEL_SEP)[0]
        return list(self.variant_methods.get(variant, self.variant_methods.get(base, self.methods)))

    def all_methods(self) -> list[str]:
        """Every method the grid trains or evaluates anywhere: `methods`, then the others of
        `variant_methods` in order of appearance."""
        extra = [m for ms in self.variant_methods.values() for m in ms]
        return list(dict.fromkeys([*self.methods, *extra]))

    def cells(self) -> list[tuple[str, str, int]]:
        """Every (variant, method, seed) the grid trains or evaluates, in grid order."""
        return [(v, m, s) for v in self.variants for m in self.methods_for(v) for s in self.seeds]

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v or len(set(v)) != len(v):
            raise ValueError("seeds must be a non-empty list without repeats")
        return v


class Params(Strict):
    profile: Literal["mini", "full"] = "mini"
    seed: Count = 42
    run: Run
    corpora: Corpora = Corpora()
    audio: Audio = Audio()
    text: Text = Text()
    annotate: Annotate = Annotate()
    features: Features = Features()
    variants: Variants = Variants()
    train: Train = Train()
    methods: dict[str, Method] = {}
    report: Report = Report()
    robustness: Robustness = Robustness()
    profiles: dict[Literal["mini", "full"], dict[str, Any]] = {}

    def model_from(self, variant: str) -> str | None:
        """The `model_from` of the variant's definition: the variant whose models it evaluates (None
        when it trains its own, or for a folder with no definition, as tests make)."""
        d = self.variants.definitions.get(variant.partition(LEVEL_SEP)[0])
        return getattr(d, "model_from", None) if d is not None else None

    @model_validator(mode="after")
    def _cross(self) -> Params:
        known_v = self.variants.names()
        for i, v in enumerate(self.run.variants):
            if v not in known_v:
                raise ValueError(f"run.variants.{i}: unknown variant {v!r}; allowed: {', '.join(known_v)}")
        for i, m in enumerate(self.run.methods):
            if m not in self.methods:
                raise ValueError(f"run.methods.{i}: unknown method {m!r}; allowed: {', '.join(self.methods)}")
        bases = set(self.variants.definitions) | set(known_v)
        for name, methods in self.run.variant_methods.items():
            if name not in bases:
                raise ValueError(f"run.variant_methods.{name}: unknown variant {name!r}; allowed: {', '.join(known_v)}")
            for i, m in enumerate(methods):
                if m not in self.methods:
                    raise ValueError(
                        f"run.variant_methods.{name}.{i}: unknown method {m!r}; allowed: {', '.join(self.methods)}"
                    )
        for name, spec in self.methods.items():
            if not name.replace("_", "").isalnum():
                raise ValueError(f"methods.{name}: a method name uses letters, digits and '_' only")
            src = spec.weights_from
            if src is None:
                continue
            if src not in self.methods or src == name or self.methods[src].weights_from is not None:
                raise ValueError(
                    f"methods.{name}.weights_from: {src!r} must name another method that trains its own model"
                )
            if spec.training_settings() != self.methods[src].training_settings():
                raise ValueError(
                    f"methods.{name}.weights_from: {src!r} trains with other settings; only "
                    f"{', '.join(TEST_TIME_SETTINGS)} may differ"
                )
        self._check_robustness(known_v)
        return self

    def _check_robustness(self, known_v: list[str]) -> None:
        r = self.robustness
        if r.all_methods() and r.variant not in known_v:  # without methods the stage reads no variant
            raise ValueError(f"robustness.variant: unknown variant {r.variant!r}; allowed: {', '.join(known_v)}")
        for key, names in (("methods", r.methods), ("compare", r.compare)):
            for i, m in enumerate(names):
                if m not in self.methods:
                    raise ValueError(f"robustness.{key}.{i}: unknown method {m!r}; allowed: {', '.join(self.methods)}")
                if set(self.methods[m].modalities) != set(MODALITIES):
                    raise ValueError(f"robustness.{key}.{i}: {m!r} must be a fused method of all three modalities")
        twice = [m for m in dict.fromkeys(r.all_methods()) if r.all_methods().count(m) > 1]
        if twice:
            raise ValueError(f"robustness: {twice[0]!r} is listed twice (methods and compare hold distinct methods)")
        train, test = r.sets("train"), r.sets("test")
        if MODALITIES not in train:
            raise ValueError("robustness.train_sets must hold the full set [image, audio, text] (the ordinary model)")
        if not set(train) <= set(test):
            raise ValueError("robustness.test_sets must hold every training set (the diagonal A→A)")


# ---------------------------------------------------------------- loading
def _parse_scalar(text: str) -> Any:
    """Parse an override value the way YAML would (numbers, booleans, lists, null)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node: Any = tree
    for k in keys[:-1]:
        if not isinstance(node, dict):
            raise ParamsError(f"cannot set {dotted!r}: {k!r} is not a section")
        node = node.setdefault(k, {})
    if not isinstance(node, dict):
        raise ParamsError(f"cannot set {dotted!r}: parent is not a section")
    node[keys[-1]] = value


def parse_overrides(items: tuple[str, ...] | list[str]) -> list[tuple[str, Any]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParamsError(f"override {item!r} is not key.path=value", fix="e.g. --set train.lr=0.001")
        out.append((key.strip(), _parse_scalar(value)))
    return out


#: the top-level keys a profile overlay may not set (it overrides values inside the sections)
_NOT_OVERLAID = ("profile", "seed", "profiles")


def overlay_leaves(tree: dict[str, Any], profile: Any) -> list[tuple[str, Any]]:
    """The (dotted key, value) pairs `profiles.<profile>` sets, nested mappings walked to their leaves.

    The overlay mirrors the sections it changes (`train: {lr: 0.001}`, dotted keys also accepted),
    so DVC can track `profiles.<profile>.<section>` per stage; mappings merge into the base and any
    other value (a number, a list) replaces the base value. An empty mapping sets nothing.
    """
    overlay = (tree.get("profiles") or {}).get(profile) or {}
    where = f"profiles.{profile}"
    if not isinstance(overlay, dict):
        raise ParamsError(f"{where} must be a mapping of sections to the values they override")
    out: list[tuple[str, Any]] = []

    def walk(node: dict[Any, Any], prefix: str) -> None:
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(v, key)
            else:
                out.append((key, v))

    walk(overlay, "")
    seen: set[str] = set()
    for key, _ in out:
        first = key.split(".")[0]
        if first in _NOT_OVERLAID or first not in Params.model_fields:
            raise ParamsError(
                f"{where}.{key}: a profile overrides values inside the sections "
                f"({', '.join(f for f in Params.model_fields if f not in _NOT_OVERLAID)}), not {first!r}",
                fix=f"move `{where}.{key}` into a section, or set `{first}` in the base or with --set",
            )
        if key in seen:
            raise ParamsError(f"{where}.{key} is set twice (nested and dotted)", fix=f"keep one `{where}.{key}`")
        seen.add(key)
    return out


def resolve_raw(raw: dict[str, Any], overrides: list[tuple[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """Apply command-line overrides, then the selected profile's overlay, then overrides again.

    Overrides are applied twice so `--set profile=full` selects the overlay and `--set x=...` still
    wins over anything the overlay sets.
    """
    tree = copy.deepcopy(raw)
    for k, v in overrides:
        _set_dotted(tree, k, v)
    profile = tree.get("profile", "mini")
    for k, v in overlay_leaves(tree, profile):
        try:
            _set_dotted(tree, str(k), v)
        except ParamsError as exc:
            raise ParamsError(f"profiles.{profile}.{k}: {exc.what}", fix=f"edit `profiles.{profile}.{k}`") from None
    for k, v in overrides:
        _set_dotted(tree, k, v)
    return tree


_FAMILIES = {
    "clean": CleanVariant, "diversity": DiversityVariant, "sample_noise": SampleNoiseVariant,
    "label_noise": LabelNoiseVariant, "conflict": ConflictVariant, "missing": MissingVariant,
    "joint": JointVariant,
}  # fmt: skip


def _clean_loc(loc: tuple[Any, ...]) -> list[str]:
    """Drop the discriminator tag pydantic inserts after a variant's name."""
    out = [str(x) for x in loc]
    if len(out) > 3 and out[:2] == ["variants", "definitions"] and out[3] in _FAMILIES:
        del out[3]
    return out


def _bounds_of(loc: list[str], raw: dict[str, Any]) -> str | None:
    """The allowed range of the field at `loc`, read from the model's own constraints."""
    model: Any = Params
    node: Any = raw
    field = None
    i = 0
    while i < len(loc):
        key = loc[i]
        fields = getattr(model, "model_fields", None)
        if fields is None or key not in fields:
            return None
        field = fields[key]
        ann = field.annotation
        node = node.get(key, {}) if isinstance(node, dict) else {}
        if key == "definitions" and i + 1 < len(loc):
            i += 1
            node = node.get(loc[i], {}) if isinstance(node, dict) else {}
            model = _FAMILIES.get(node.get("family") if isinstance(node, dict) else None)
        elif key == "methods" and model is Params and i + 1 < len(loc):
            i += 1
            model = Method
        else:
            model = ann
        i += 1
    if field is None:
        return None
    ctx: dict[str, Any] = {}
    for m in field.metadata:
        for name in ("ge", "gt", "le", "lt"):
            if getattr(m, name, None) is not None:
                ctx[name] = getattr(m, name)
    return _range(ctx) if ctx else None


def _origin(parts: list[str], raw: dict[str, Any], overrides: list[tuple[str, Any]], profile: Any) -> str | None:
    """What set the value at `parts`: `--set KEY` (last one wins), `profiles.<p>.KEY`, or None (the base).

    A key covers `parts` when one is a prefix of the other (an overlay key inside a section whose
    cross-field check failed counts, and so does a section an overlay key created).
    """

    def covers(key: str) -> bool:
        k = key.split(".")
        n = min(len(k), len(parts))
        return n > 0 and k[:n] == parts[:n]

    for key, _ in reversed(overrides):
        if covers(key):
            return f"--set {key}"
    if not isinstance(raw.get("profiles"), dict):
        return None
    try:
        leaves = overlay_leaves(raw, profile)
    except ParamsError:
        return None
    for key, _ in leaves:
        if covers(key):
            return f"profiles.{profile}.{key}"
    return None


def _format_error(
    exc: ValidationError,
    path: Path,
    tree: dict[str, Any],
    raw: dict[str, Any] | None = None,
    overrides: list[tuple[str, Any]] = (),  # type: ignore[assignment]
    base: bool = False,
) -> ParamsError:
    """One line: the key, the problem, the file, and where to fix it (base key, overlay key or --set)."""
    err = exc.errors()[0]
    parts = _clean_loc(err["loc"])
    loc = ".".join(parts)
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        allowed = _bounds_of(parts, tree) or _range(err.get("ctx", {}))
        msg = f"{msg} (got {err.get('input')!r}; allowed range: {allowed})"
    elif err["type"] == "literal_error":
        msg = f"{msg} (got {err.get('input')!r})"
    where = f"{loc}: " if loc else ""
    profile = tree.get("profile", "mini")
    origin = None if raw is None or base or not parts else _origin(parts, raw, list(overrides), profile)
    if origin is not None and origin.startswith("--set "):
        return ParamsError(f"invalid parameter {where}{msg}", path, f"correct the override `{origin}=...`")
    if origin is not None:
        return ParamsError(
            f"invalid parameter {where}{msg} (set by the profile overlay {origin})",
            path,
            f"edit `{path.name}: {origin}` (or remove it to use the base value)",
        )
    if base:
        hidden = _origin(parts, raw or {}, [], profile) if parts else None
        note = f"; hidden under profile {profile!r} by {hidden}, but used by every other profile" if hidden else ""
        return ParamsError(
            f"invalid parameter {where}{msg} (in the base section{note})",
            path,
            f"edit `{path.name}: {loc or 'the top level'}` (or the --set override)",
        )
    return ParamsError(
        f"invalid parameter {where}{msg}", path, f"edit `{path.name}: {loc or 'the top level'}` or the --set override"
    )


def _range(ctx: dict[str, Any]) -> str:
    lo = ctx.get("ge", ctx.get("gt", "-inf"))
    hi = ctx.get("le", ctx.get("lt", "inf"))
    lb = "[" if "ge" in ctx else "("
    rb = "]" if "le" in ctx else ")"
    return f"{lb}{lo}, {hi}{rb}"


def load_params(path: str | Path = "params.yaml", overrides: list[str] | tuple[str, ...] = ()) -> Params:
    """Read, override, overlay and validate params; every failure is one ParamsError line."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError("parameters file not found", path, "run from the project root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"not valid YAML ({str(exc).splitlines()[0]})", path, "fix the YAML syntax") from exc
    if not isinstance(raw, dict):
        raise ParamsError("top level must be a mapping", path, "see config/README.md")
    sets = parse_overrides(list(overrides))
    try:
        tree = resolve_raw(raw, sets)
    except ParamsError as exc:
        raise ParamsError(exc.what, path, exc.fix or f"edit `{path.name}: profiles` or the --set override") from None
    # the file with the --set overrides but no profile overlay: the base sections every profile starts from
    base = resolve_raw({k: v for k, v in raw.items() if k != "profiles"}, sets)
    if "profiles" in tree:
        base["profiles"] = tree["profiles"]
    try:
        params = Params.model_validate(tree)
    except ValidationError as exc:
        raise _format_error(exc, path, tree, base, sets) from None
    # The base sections too: a value an overlay replaces (train.lr under `mini`) is still what every
    # other profile runs with, so an invalid one must not wait for that profile to be selected.
    try:
        Params.model_validate(base)
    except ValidationError as exc:
        raise _format_error(exc, path, base, base, sets, base=True) from None
    return params


def params_hash(params: Params) -> str:
    """A short stable hash of the resolved parameters (tags runs and reports)."""
    blob = json.dumps(params.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def json_schema() -> dict[str, Any]:
    """The JSON schema of params.yaml, as used by Snakemake's validate()."""
    schema = Params.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lumabench params.yaml"
    return schema
