"""Registry of the real corpora of the `full` profile: where each file comes from and how to check it.

One `Corpus` per entry of `corpora.full.sources`. A corpus is a list of `FileSource`s (archives
fetched over HTTP, or accepted from a folder a person filled by hand) and/or one `HubSource` (a
dataset repository on the Hugging Face hub, fetched at a pinned commit).

Checksums: where the publisher gives one (CIFAR's md5, OpenSLR's md5sum.txt, Zenodo's md5) it is
written here, with the sha256 where it is widely recorded. Every other file (GitHub archives, the
Spoken Wikipedia tarball, a Common Voice release, the hub snapshot) gets its sha256 and size
recorded in the lock file (`corpora.full.lock_file`, committable) at first download, and every
later run is held to that record.

Only publisher URLs appear here. `corpora.full.mirrors` rewrites URL prefixes (an institutional
mirror, or the local server of the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

# The ESC-50 commit whose tree has the v2.0.0 layout (audio/*.wav, meta/esc50.csv).
ESC50_COMMIT = "5983fb0c35e751b452e7c562d9207f27b76ddf0d"
# The LUMA dataset repository. Its card's latest commit when this registry was written had the
# short id 8fac10c; a ref here is resolved to its full commit id at first download and that id is
# recorded in the lock file, so every later run fetches exactly the same snapshot.
LUMA_REPO = "bezirganyan/LUMA"
LUMA_REVISION = "main"
# The CTC character model the full profile's audio stage aligns with (torchaudio's
# WAV2VEC2_ASR_BASE_960H bundle reads this file from raw/aligner/).
ALIGNER_WEIGHTS = "wav2vec2_fairseq_base_ls960_asr_ls960.pth"

CIFAR_LICENCE = (
    "unspecified by the publisher (cite Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images)"
)

# OpenSLR SLR12 md5sum.txt, with the sha256 of the same archives and sizes where recorded.
_LIBRISPEECH: dict[str, tuple[str, str, int | None]] = {
    "dev-clean": (
        "42e2234ba48799c1f50f24a7926300a1",
        "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
        337926286,
    ),
    "dev-other": (
        "c8d0bcc9cca99d4f8b62fcc847357931",
        "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
        None,
    ),
    "test-clean": (
        "32fa31d27d2e1cad72775fee3f4849a9",
        "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
        346663984,
    ),
    "test-other": (
        "fb5a50374b501bb3bac4815ee91d3135",
        "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
        None,
    ),
    "train-clean-100": (
        "2a93770f6d5c6c964bc36631d331a522",
        "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
        None,
    ),
    "train-clean-360": (
        "c0e676e450a7ff2f54aeade5171606fa",
        "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf",
        None,
    ),
    "train-other-500": (
        "d1a0fd59409feb2c614ce4d30c387708",
        "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2",
        None,
    ),
}


@dataclass(frozen=True)
class FileSource:
    """One archive or file: where it comes from, how to check it, where it unpacks.

    `url` None means a manual import only (the publisher's terms need a person): `manual` then says
    what to do and `pattern` is the glob that finds the file in the `--from` folder.
    `extract_to` is the folder under raw/<corpus>/ the archive's members land in ("" = that folder);
    `creates` is a path the extraction must produce (relative to raw/<corpus>/), or None when the
    archive's layout is not fixed (a Common Voice release).
    """

    corpus: str
    filename: str
    url: str | None
    licence: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    extract: bool = True
    extract_to: str = ""
    creates: str | None = None
    manual: str | None = None
    pattern: str | None = None

    @property
    def key(self) -> str:
        """The name of this file in the lock file and in error messages."""
        return f"{self.corpus}/{self.filename}"


@dataclass(frozen=True)
class HubSource:
    """A dataset repository on the Hugging Face hub, fetched at one commit into raw/<corpus>/<into>/."""

    corpus: str
    repo_id: str
    revision: str
    allow_patterns: tuple[str, ...]
    licence: str
    into: str = "release"
    repo_type: str = "dataset"
    # Per-file licences where they differ from the repository's (path glob -> licence).
    licences: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.corpus}/{self.repo_id}"

    @property
    def web_url(self) -> str:
        return f"https://huggingface.co/datasets/{self.repo_id}"


@dataclass(frozen=True)
class Corpus:
    """One entry of `corpora.full.sources`: its files and/or its hub repository."""

    name: str
    homepage: str
    files: tuple[FileSource, ...] = ()
    hub: HubSource | None = None


def _cifar() -> dict[str, Corpus]:
    base = "https://www.cs.toronto.edu/~kriz/"
    home = "https://www.cs.toronto.edu/~kriz/cifar.html"
    return {
        "cifar10": Corpus(
            "cifar10",
            home,
            (
                FileSource(
                    "cifar10",
                    "cifar-10-python.tar.gz",
                    base + "cifar-10-python.tar.gz",
                    CIFAR_LICENCE,
                    size=170498071,
                    md5="c58f30108f718f92721af3b95e74349a",
                    creates="cifar-10-batches-py",
                ),
            ),
        ),
        "cifar100": Corpus(
            "cifar100",
            home,
            (
                FileSource(
                    "cifar100",
                    "cifar-100-python.tar.gz",
                    base + "cifar-100-python.tar.gz",
                    CIFAR_LICENCE,
                    size=169001437,
                    md5="eb9058c3a382ffc7106e4002c42a8d85",
                    creates="cifar-100-python",
                ),
            ),
        ),
    }


def _librispeech(subsets: list[str] | tuple[str, ...]) -> Corpus:
    files = []
    for subset in subsets:
        md5, sha256, size = _LIBRISPEECH[subset]
        files.append(
            FileSource(
                "librispeech",
                f"{subset}.tar.gz",
                f"https://www.openslr.org/resources/12/{subset}.tar.gz",
                "CC-BY-4.0",
                size=size,
                md5=md5,
                sha256=sha256,
                creates=f"LibriSpeech/{subset}",
            )
        )
    # Montreal Forced Aligner word and phone alignments of every LibriSpeech utterance (TextGrid).
    files.append(
        FileSource(
            "librispeech",
            "librispeech_alignments.zip",
            "https://zenodo.org/records/2619474/files/librispeech_alignments.zip?download=1",
            "CC-BY-4.0",
            size=623023332,
            md5="2bab567d0ace651a4ba254e813629f46",
            extract_to="alignments",
            creates="alignments",
        )
    )
    return Corpus("librispeech", "https://www.openslr.org/12", tuple(files))


def registry(
    librispeech_subsets: list[str] | tuple[str, ...] = ("dev-clean", "test-clean", "train-clean-100"),
) -> dict[str, Corpus]:
    """Every corpus the full profile knows, keyed by its name in `corpora.full.sources`."""
    corpora = _cifar()
    corpora["luma"] = Corpus(
        "luma",
        "https://huggingface.co/datasets/bezirganyan/LUMA",
        hub=HubSource(
            "luma",
            LUMA_REPO,
            LUMA_REVISION,
            # audio clips + their datalist.csv, the Gemma texts, the EDM-generated CIFAR-100 images
            allow_patterns=("audio/*", "text_data.tsv", "edm_images.pickle", "README.md"),
            licence="CC-BY-SA-4.0",
            licences=(("edm_images.pickle", "Apache-2.0"),),
        ),
    )
    corpora["esc50"] = Corpus(
        "esc50",
        "https://github.com/karolpiczak/ESC-50",
        (
            FileSource(
                "esc50",
                f"ESC-50-{ESC50_COMMIT}.zip",
                f"https://github.com/karolpiczak/ESC-50/archive/{ESC50_COMMIT}.zip",
                "CC-BY-NC-3.0 (ESC-10 subset CC-BY)",
                creates=f"ESC-50-{ESC50_COMMIT}",
            ),
        ),
    )
    corpora["librispeech"] = _librispeech(librispeech_subsets)
    corpora["spoken_wikipedia"] = Corpus(
        "spoken_wikipedia",
        "https://nats.gitlab.io/swc/",
        (
            # English articles: audio, text and the word alignments (aligned.swc) in one tarball.
            FileSource(
                "spoken_wikipedia",
                "SWC_English.tar",
                "https://www2.informatik.uni-hamburg.de/nats/pub/SWC/SWC_English.tar",
                "CC-BY-SA-4.0",
                creates=None,  # its folder layout is not pinned: whatever it unpacks is replaced on re-extraction
            ),
        ),
    )
    corpora["aligner"] = Corpus(
        "aligner",
        "https://pytorch.org/audio/stable/generated/torchaudio.pipelines.WAV2VEC2_ASR_BASE_960H.html",
        (
            FileSource(
                "aligner",
                ALIGNER_WEIGHTS,
                f"https://download.pytorch.org/torchaudio/models/{ALIGNER_WEIGHTS}",
                "MIT (fairseq wav2vec 2.0 weights, fine-tuned on LibriSpeech 960 h)",
                extract=False,
            ),
        ),
    )
    corpora["common_voice"] = Corpus(
        "common_voice",
        "https://commonvoice.mozilla.org/en/datasets",
        (
            FileSource(
                "common_voice",
                "cv-corpus-en.tar.gz",
                None,
                "CC0-1.0",
                manual=(
                    "Common Voice asks each downloader to accept its terms: open "
                    "https://commonvoice.mozilla.org/en/datasets, choose English, accept, download the "
                    "cv-corpus-<version>-en.tar.gz archive into a folder"
                ),
                pattern="cv-corpus-*-en.tar*",
            ),
        ),
    )
    return corpora
