"""The stage contract (DESIGN §2): command, module, inputs, outputs, params sections.

The CLI builds its commands and help from this table, and the tests hold both front-ends to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lumabench.paths import Paths

#: a command's options: variant, method (str) and training seed (int; `--help` shows it as "<seed>")
Opts = dict[str, str | int]


@dataclass(frozen=True)
class Stage:
    name: str
    module: str
    summary: str
    sections: tuple[str, ...]
    inputs: Callable[[Paths, Opts], list[Path]]
    outputs: Callable[[Paths, Opts], list[Path]]
    gpu: bool = False


def _v(o: Opts) -> str:
    return str(o["variant"])


STAGES: tuple[Stage, ...] = (
    Stage(
        "corpora", "lumabench.corpora",
        "Download the real corpora (full) or build the embedded offline corpus (mini).",
        ("profile", "seed", "corpora", "profiles"),
        lambda p, o: [],
        lambda p, o: [p.raw],
    ),
    Stage(
        "audio", "lumabench.audio",
        "Find the class words in the speech, align, cut and normalise the clips.",
        ("profile", "seed", "audio", "profiles"),
        lambda p, o: [p.raw],
        lambda p, o: [p.audio],
        gpu=True,
    ),
    Stage(
        "text", "lumabench.text",
        "Generate the class texts (template backend in mini, Gemma-7B on GPU in full).",
        ("profile", "seed", "text", "profiles"),
        lambda p, o: [p.raw],
        lambda p, o: [p.generated],
        gpu=True,
    ),
    Stage(
        "annotate", "lumabench.annotate",
        "Filter texts, clips and images; record every rejection with its reason.",
        ("profile", "seed", "annotate", "profiles"),
        lambda p, o: [p.raw, p.audio, p.generated],
        lambda p, o: [p.accepted],
    ),
    Stage(
        "features", "lumabench.features",
        "Embed every accepted item per modality (for sampling and label switching).",
        ("profile", "seed", "features", "profiles"),
        lambda p, o: [p.accepted],
        lambda p, o: [p.features],
        gpu=True,
    ),
    Stage(
        "variants", "lumabench.variants",
        "Build one dataset variant as self-contained Parquet (train, test, ood).",
        ("profile", "seed", "variants", "profiles"),
        lambda p, o: [p.raw, p.accepted, p.features],
        lambda p, o: [p.variant(_v(o))],
    ),
    Stage(
        "train", "lumabench.train",
        "Train one method on one variant with one training seed; write checkpoint, predictions and metrics.",
        ("profile", "seed", "train", "methods", "profiles"),
        lambda p, o: [p.variant(_v(o))],
        lambda p, o: [
            p.model(_v(o), str(o["method"]), o["seed"]),
            p.predictions(_v(o), str(o["method"]), o["seed"]),
            p.metrics(_v(o), str(o["method"]), o["seed"]),
        ],
        gpu=True,
    ),
    Stage(
        "report", "lumabench.report",
        "Aggregate metrics into tables, figures, an HTML report and MLflow runs.",
        ("profile", "seed", "report", "run", "profiles"),
        lambda p, o: [p.results / "metrics"],
        lambda p, o: [p.tables, p.figures, p.metrics_summary, p.report_html],
    ),
)  # fmt: skip

BY_NAME = {s.name: s for s in STAGES}
