"""The stage contract (DESIGN §2): command, module, inputs, outputs, params sections.

The CLI builds its commands and help from this table, and the tests hold both front-ends to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lumabench.paths import Paths

#: a command's options: variant, method (str) and training seed (int; `--help` shows it as "<seed>"),
#: or for `train` the lists `methods` and `seeds` (one job trains each pair)
Opts = dict[str, str | int | tuple]


@dataclass(frozen=True)
class Stage:
    name: str
    module: str
    summary: str
    sections: tuple[str, ...]
    inputs: Callable[[Paths, Opts], list[Path]]
    outputs: Callable[[Paths, Opts], list[Path]]
    gpu: bool = False
    entry: str = "run"  # the module's function the CLI calls with (params, paths, **opts)


def _v(o: Opts) -> str:
    return str(o["variant"])


def _trained(p: Paths, o: Opts) -> list[Path]:
    """A train call's outputs: the files of each (method, seed) it names (`methods` x `seeds`, or one
    `method` and `seed`), or with the variant alone the variant's three result folders."""
    if "method" not in o and "methods" not in o:
        return p.trained(_v(o))
    methods = o["methods"] if "methods" in o else (o["method"],)
    seeds = o["seeds"] if "seeds" in o else (o["seed"],)
    return [
        f
        for m in methods  # type: ignore[union-attr]
        for s in seeds  # type: ignore[union-attr]
        for f in (p.model(_v(o), str(m), s), p.predictions(_v(o), str(m), s), p.metrics(_v(o), str(m), s))
    ]


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
        "Train methods on one variant, once per training seed; write checkpoints, predictions and metrics.",
        ("profile", "seed", "run", "train", "methods", "profiles"),
        lambda p, o: [p.variant(_v(o))],
        _trained,
        gpu=True,
        entry="run_many",
    ),
    Stage(
        "robustness", "lumabench.robustness",
        "Train on modality set A, deploy on set B: the A→B matrices of the fused methods, "
        "self-distillation and WiSE-FT (params.yaml `robustness`, on its variant).",
        ("profile", "seed", "run", "train", "methods", "robustness", "profiles"),
        lambda p, o: [p.variants],
        lambda p, o: [p.robustness],
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
