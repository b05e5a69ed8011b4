"""Every path of the DESIGN contract, per profile, so mini and full never mix."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lumabench.errors import InputError

SEED_PREFIX = "seed-"


def seed_name(seed: int | str, suffix: str = "") -> str:
    """File name of one training seed's output (`seed-42.json`); a str seed passes through (`<seed>`)."""
    return f"{SEED_PREFIX}{seed}{suffix}"


@dataclass(frozen=True)
class Paths:
    """Paths under `root` for one profile (root is the project directory)."""

    root: Path
    profile: str

    @property
    def data(self) -> Path:
        return self.root / "data" / self.profile

    @property
    def results(self) -> Path:
        return self.root / "results" / self.profile

    # stage 1
    @property
    def raw(self) -> Path:
        return self.data / "raw"

    @property
    def manifest(self) -> Path:
        return self.raw / "manifest.parquet"

    # stage 2
    @property
    def audio(self) -> Path:
        return self.data / "interim" / "audio"

    @property
    def clips(self) -> Path:
        return self.audio / "clips.parquet"

    # stage 3
    @property
    def text(self) -> Path:
        return self.data / "interim" / "text"

    @property
    def generated(self) -> Path:
        return self.text / "generated.parquet"

    # stage 4
    @property
    def accepted(self) -> Path:
        return self.data / "interim" / "accepted"

    # stage 5
    @property
    def features(self) -> Path:
        return self.data / "interim" / "features"

    # stage 6
    @property
    def variants(self) -> Path:
        return self.data / "variants"

    def variant(self, name: str) -> Path:
        return self.variants / name

    # stage 7: one file per (variant, method, training seed)
    def model(self, variant: str, method: str, seed: int | str) -> Path:
        return self.results / "models" / variant / method / seed_name(seed, ".pt")

    def predictions(self, variant: str, method: str, seed: int | str) -> Path:
        return self.results / "predictions" / variant / method / seed_name(seed, ".parquet")

    def metrics(self, variant: str, method: str, seed: int | str) -> Path:
        return self.results / "metrics" / variant / method / seed_name(seed, ".json")

    def trained(self, variant: str) -> list[Path]:
        """A variant's models, predictions and metrics folders (the outputs of a per-variant train job)."""
        return [self.results / kind / variant for kind in ("models", "predictions", "metrics")]

    # between 7 and 8: train/deploy modality mismatch
    @property
    def robustness(self) -> Path:
        return self.results / "robustness"

    # stage 8
    @property
    def tables(self) -> Path:
        return self.results / "tables"

    @property
    def figures(self) -> Path:
        return self.results / "figures"

    @property
    def metrics_summary(self) -> Path:
        return self.results / "metrics.json"

    @property
    def report_html(self) -> Path:
        return self.results / "report.html"

    @property
    def mlflow_uri(self) -> str:
        return f"sqlite:///{(self.results / 'mlflow.db').as_posix()}"

    @property
    def cache(self) -> Path:
        return self.data / "cache"

    # confinement
    def confine(
        self, path: str | Path, what: str, source: str | Path | None = None, roots: Iterable[Path] | None = None
    ) -> Path:
        """`path` (relative to the project root, or absolute) if it lies under the profile's data or
        results folder (or under `roots`); otherwise an InputError naming it, `what` it is and the
        `source` (a Parquet file, the command line) it came from.

        Paths read from data files and given on the command line go through here before anything
        opens them, so a cell holding `../../../../etc/passwd` or `/home/x/secret`, or a variant
        named `../../elsewhere/x`, can neither read nor write outside the project's outputs. The
        test is on the normalised path as written (symbolic links the user placed inside data/ are
        followed as usual); a path whose real location is inside is accepted too.
        """
        text = os.fspath(path)
        if "\x00" in text:
            raise InputError(f"{what} {text!r} holds a NUL byte", source, "re-run the stage that wrote it")
        full = Path(text) if Path(text).is_absolute() else self.root / text
        allowed = list(roots) if roots is not None else [self.data, self.results]
        lexical = Path(os.path.normpath(os.path.abspath(full)))
        if any(lexical.is_relative_to(os.path.normpath(os.path.abspath(base))) for base in allowed):
            return lexical
        # only now resolve links (a system call per path component: the variants stage confines
        # every media file it reads, and resolving each took a third of its file-reading time)
        real = Path(os.path.realpath(full))
        if any(real.is_relative_to(os.path.realpath(base)) for base in allowed):
            return lexical
        where = " or ".join(str(b) for b in allowed)
        raise InputError(
            f"{what} {text!r} leaves the project's folders (allowed: under {where})",
            source,
            "paths in data files and on the command line must stay inside data/<profile>/ and results/<profile>/; "
            "re-run the stage that wrote the file, or fix the argument",
        )
