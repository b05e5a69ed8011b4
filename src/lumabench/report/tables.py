"""Result tables as CSV (full precision), Markdown and LaTeX (booktabs), in the LUMA paper's layout.

The main table has one row per (variant, method) with accuracy, mean aleatoric and epistemic
uncertainty on the test split and the OOD AUROC of epistemic uncertainty; a published value for
the same setting appears as its own row with source "paper", never mixed into "this run".
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lumabench.io import write_text
from lumabench.params import Params
from lumabench.report import paper
from lumabench.report.collect import RunResult, flat_metrics

THIS_RUN = "this run"
PAPER = "paper"
MAIN_METRICS = {
    "acc": ("test", "acc"),
    "aleatoric": ("test", "aleatoric"),
    "epistemic": ("test", "epistemic"),
    "ood_auroc": ("ood", "auroc_epistemic"),
}
HEADERS = {
    "variant": "Variant",
    "method": "Method",
    "source": "Source",
    "acc": "Acc. ↑",
    "aleatoric": "Aleatoric",
    "epistemic": "Epistemic",
    "ood_auroc": "OOD AUROC ↑",
}
LATEX_HEADERS = {
    "acc": r"Acc.~$\uparrow$",
    "ood_auroc": r"OOD AUROC~$\uparrow$",
}


@dataclass
class Table:
    """A DataFrame plus what to emphasise (best values) and how to caption it."""

    name: str
    frame: pd.DataFrame
    caption: str
    emphasis: set[tuple[int, str]] = field(default_factory=set)


# ---------------------------------------------------------------- building
def main_table(params: Params, results: list[RunResult], published: tuple[paper.PaperValue, ...]) -> Table:
    """The paper-layout table: variant x method rows, "this run" and any matching "paper" row."""
    rows: list[dict[str, object]] = []
    emphasis: set[tuple[int, str]] = set()
    for variant in params.run.variants:
        first = len(rows)
        for r in (r for r in results if r.variant.name == variant):
            row: dict[str, object] = {"variant": variant, "method": r.method, "source": THIS_RUN}
            row.update({col: r.value(sec, name) for col, (sec, name) in MAIN_METRICS.items()})
            rows.append(row)
            found = paper.paper_values(variant, r.method, params.profile, published)
            if found:
                rows.append(
                    {"variant": variant, "method": r.method, "source": PAPER}
                    | {col: found.get(col, math.nan) for col in MAIN_METRICS}
                )
        for col in ("acc", "ood_auroc"):
            own = [(i, rows[i][col]) for i in range(first, len(rows)) if rows[i]["source"] == THIS_RUN]
            vals = [v for _, v in own if isinstance(v, float) and not math.isnan(v)]
            if len(vals) > 1:
                emphasis |= {(i, col) for i, v in own if v == max(vals)}
    frame = pd.DataFrame(rows, columns=["variant", "method", "source", *MAIN_METRICS])
    note = (
        "published values are shown as rows labelled 'paper'"
        if paper.sources(published)
        else "no published value is recorded for these settings, so every row is this run"
    )
    caption = (
        f"Test accuracy, mean aleatoric and epistemic uncertainty (test split) and AUROC of epistemic "
        f"uncertainty for OOD detection (test = 0, OOD = 1); profile {params.profile}; best per variant "
        f"in bold; {note}."
    )
    return Table("main", frame, caption, emphasis)


def wide_table(
    name: str, params: Params, results: list[RunResult], section: str, metric: str, what: str, bold_max: bool
) -> Table:
    """Method rows x variant columns of one metric; the best per variant in bold where higher is better."""
    data = {(r.method, r.variant.name): r.value(section, metric) for r in results}
    frame = pd.DataFrame(
        [[m, *(data.get((m, v), math.nan) for v in params.run.variants)] for m in params.run.methods],
        columns=["method", *params.run.variants],
    )
    emphasis: set[tuple[int, str]] = set()
    for v in params.run.variants if bold_max else ():
        col = frame[v].dropna()
        if len(col) > 1:
            emphasis |= {(int(i), v) for i in col.index[col == col.max()]}
    best = "; best per variant in bold" if bold_max else ""
    caption = f"{what} per method (rows) and variant (columns); profile {params.profile}; this run{best}."
    return Table(name, frame, caption, emphasis)


def long_frame(results: list[RunResult]) -> pd.DataFrame:
    """Every metric of every run, one row per (variant, method), for analysis in any tool."""
    rows = []
    for r in results:
        row: dict[str, object] = {
            "variant": r.variant.name,
            "base": r.variant.base,
            "family": r.variant.family,
            "sweep": r.variant.sweep or "",
            "level": r.variant.level if r.variant.level is not None else math.nan,
            "method": r.method,
            "kind": str(r.metrics.get("kind", "")),
            "modalities": "+".join(r.metrics.get("modalities") or []),
        }
        row.update({k.replace("/", "_"): v for k, v in flat_metrics(r).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def dvc_metrics(results: list[RunResult]) -> dict[str, dict[str, float]]:
    """`{"variant/method": {"test_acc": ...}}` for DVC: finite test, OOD and per-modality metrics only.

    Training time is left out so that `dvc metrics diff` shows changes in results, not in wall time.
    """
    out: dict[str, dict[str, float]] = {}
    for r in results:
        flat = {
            k.replace("/", "_"): v
            for k, v in flat_metrics(r).items()
            if k.split("/")[0] in ("test", "ood", "per_modality") and math.isfinite(v)
        }
        out[r.key] = dict(sorted(flat.items()))
    return out


def build(params: Params, results: list[RunResult], published: tuple[paper.PaperValue, ...]) -> list[Table]:
    return [
        main_table(params, results, published),
        wide_table("accuracy", params, results, "test", "acc", "Test accuracy", True),
        wide_table("ood_auroc", params, results, "ood", "auroc_epistemic", "OOD AUROC of epistemic uncertainty", True),
        wide_table("epistemic", params, results, "test", "epistemic", "Mean epistemic uncertainty (test)", False),
        wide_table("aleatoric", params, results, "test", "aleatoric", "Mean aleatoric uncertainty (test)", False),
    ]


# ---------------------------------------------------------------- rendering
def fmt(value: object) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _header(col: str, latex: bool = False) -> str:
    if latex and col in LATEX_HEADERS:
        return LATEX_HEADERS[col]
    return HEADERS.get(col, col)


def to_markdown(table: Table) -> str:
    cols = list(table.frame.columns)
    numeric = [pd.api.types.is_float_dtype(table.frame[c]) for c in cols]
    lines = [
        "| " + " | ".join(_header(c) for c in cols) + " |",
        "|" + "|".join("---:" if n else ":---" for n in numeric) + "|",
    ]
    for i, row in enumerate(table.frame.itertuples(index=False)):
        cells = []
        for c, v in zip(cols, row, strict=True):
            text = fmt(v).replace("|", r"\|")
            cells.append(f"**{text}**" if (i, c) in table.emphasis else text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "–": "--",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    """A booktabs table (needs \\usepackage{booktabs}); a rule separates variants in the main table."""
    cols = list(table.frame.columns)
    numeric = [pd.api.types.is_float_dtype(table.frame[c]) for c in cols]
    spec = "".join("r" if n else "l" for n in numeric)
    out = [
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{latex_escape(table.caption)}}}",
        f"\\label{{tab:lumabench-{table.name.replace('_', '-')}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(_header(c, latex=True) if c in LATEX_HEADERS else latex_escape(_header(c)) for c in cols) + " \\\\",
        "\\midrule",
    ]
    previous = None
    for i, row in enumerate(table.frame.itertuples(index=False)):
        values = dict(zip(cols, row, strict=True))
        if "variant" in values and previous is not None and values["variant"] != previous:
            out.append("\\midrule")
        cells = []
        for c in cols:
            text = latex_escape(fmt(values[c]))
            if c == "variant" and values[c] == previous:
                text = ""
            cells.append(f"\\textbf{{{text}}}" if (i, c) in table.emphasis else text)
        previous = values.get("variant")
        out.append(" & ".join(cells) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(out) + "\n"


def to_html(table: Table) -> str:
    cols = list(table.frame.columns)
    numeric = {c for c in cols if pd.api.types.is_float_dtype(table.frame[c])}
    head = "".join(f"<th>{html.escape(_header(c))}</th>" for c in cols)
    body = []
    for i, row in enumerate(table.frame.itertuples(index=False)):
        values = dict(zip(cols, row, strict=True))
        css = ' class="paper"' if values.get("source") == PAPER else ""
        cells = []
        for c in cols:
            text = html.escape(fmt(values[c]))
            if (i, c) in table.emphasis:
                text = f"<strong>{text}</strong>"
            cells.append(f'<td class="num">{text}</td>' if c in numeric else f"<td>{text}</td>")
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return (
        f'<table id="table-{html.escape(table.name)}"><caption>{html.escape(table.caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def write(tables: list[Table], long: pd.DataFrame, out_dir: Path) -> None:
    """CSV (full precision) + Markdown + LaTeX for each table; the long table as CSV only."""
    for t in tables:
        write_text(out_dir / f"{t.name}.csv", t.frame.to_csv(index=False, lineterminator="\n"))
        write_text(out_dir / f"{t.name}.md", f"{t.caption}\n\n{to_markdown(t)}")
        write_text(out_dir / f"{t.name}.tex", to_latex(t))
    write_text(out_dir / "results.csv", long.to_csv(index=False, lineterminator="\n"))
