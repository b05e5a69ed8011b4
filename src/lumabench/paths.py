"""Every path of the DESIGN contract, per profile, so mini and full never mix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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

    # stage 7
    def model(self, variant: str, method: str) -> Path:
        return self.results / "models" / variant / f"{method}.pt"

    def predictions(self, variant: str, method: str) -> Path:
        return self.results / "predictions" / variant / f"{method}.parquet"

    def metrics(self, variant: str, method: str) -> Path:
        return self.results / "metrics" / variant / f"{method}.json"

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
