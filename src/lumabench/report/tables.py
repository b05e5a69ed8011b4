"""Result tables as CSV (full precision), Markdown and LaTeX (booktabs), in the LUMA paper's layout.

The main table has one row per (variant, method): accuracy against the variant's labels and against
the items' original labels, mean aleatoric, epistemic and total uncertainty (nats) and vacuity (K/S)
on the test split, the OOD AUROC of epistemic uncertainty and the rows the model could not score.
Every value is the mean over the training seeds, shown "mean ± sd" (`aggregate`); a published value
for the same setting appears as its own row with source "paper", never mixed into "this run".
The report computes no metric: every number comes from the metrics JSON of the train stage.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lumabench.io import write_text
from lumabench.params import Params
from lumabench.paths import seed_name
from lumabench.report import paper
from lumabench.report.aggregate import Cell, Stat, cells, seed_of, seeds_note, seeds_of
from lumabench.report.collect import RunResult, flat_metrics

THIS_RUN = "this run"
PAPER = "paper"
MAIN_METRICS = {
    "acc": ("test", "acc"),
    "acc_original": ("test", "acc_original"),
    "aleatoric": ("test", "aleatoric"),
    "epistemic": ("test", "epistemic"),
    "total": ("test", "total"),
    "vacuity": ("test", "vacuity"),
    "ood_auroc": ("ood", "auroc_epistemic"),
    "excluded_test": ("test", "excluded"),
    "excluded_ood": ("ood", "excluded"),
}
COUNT_COLUMNS = frozenset({"seeds", "excluded_test", "excluded_ood"})
HEADERS = {
    "variant": "Variant",
    "method": "Method",
    "source": "Source",
    "seeds": "Seeds (n)",
    "acc": "Acc (variant labels) ↑",
    "acc_original": "Acc (original labels) ↑",
    "aleatoric": "Aleatoric (nats)",
    "epistemic": "Epistemic (nats)",
    "total": "Total (nats)",
    "vacuity": "Vacuity (K/S)",
    "ood_auroc": "OOD AUROC ↑",
    "excluded_test": "Excluded test rows",
    "excluded_ood": "Excluded OOD rows",
}
LATEX_HEADERS = {
    "acc": r"Acc (variant labels)~$\uparrow$",
    "acc_original": r"Acc (original labels)~$\uparrow$",
    "ood_auroc": r"OOD AUROC~$\uparrow$",
}
LABELS_NOTE = (
    "'variant labels' = the labels the variant gives (after label switching), 'original labels' = the "
    "items' true classes; they are equal where no label was switched, and under label noise the "
    "variant-label accuracy falls by about the switch rate by construction"
)
UNITS_NOTE = (
    "aleatoric (expected entropy), epistemic (total minus aleatoric) and total (entropy of the mean "
    "prediction) uncertainty in nats for every method; vacuity K/S (unitless) for evidential methods "
    "only, empty for the others"
)


@dataclass
class Table:
    """Means in a DataFrame, their sd and seed counts per cell, what to emphasise and the caption.

    `sd` and `n` are keyed by (row position, column); `seeds` is the number of training seeds of the
    run, so a cell that fewer seeds contribute to is marked with its own n.
    """

    name: str
    frame: pd.DataFrame
    caption: str
    emphasis: set[tuple[int, str]] = field(default_factory=set)
    sd: dict[tuple[int, str], float] = field(default_factory=dict)
    n: dict[tuple[int, str], int] = field(default_factory=dict)
    seeds: int = 1
    headers: dict[str, str] = field(default_factory=dict)  # this table's display names, before HEADERS


def _put(table_sd: dict, table_n: dict, i: int, col: str, s: Stat) -> float:
    if math.isfinite(s.sd):
        table_sd[(i, col)] = s.sd
    table_n[(i, col)] = s.n
    return s.mean


# ---------------------------------------------------------------- building
def main_table(params: Params, results: list[RunResult], published: tuple[paper.PaperValue, ...]) -> Table:
    """The paper-layout table: variant x method rows, "this run" and any matching "paper" row."""
    rows: list[dict[str, object]] = []
    sd: dict[tuple[int, str], float] = {}
    n: dict[tuple[int, str], int] = {}
    emphasis: set[tuple[int, str]] = set()
    seeds = seeds_of(results)
    grid = cells(results)
    for variant in params.run.variants:
        first = len(rows)
        for c in (c for c in grid if c.variant.name == variant):
            i = len(rows)
            row: dict[str, object] = {"variant": variant, "method": c.method, "source": THIS_RUN}
            row["seeds"] = float(len(c.runs))
            row.update({col: _put(sd, n, i, col, c.stat(sec, name)) for col, (sec, name) in MAIN_METRICS.items()})
            rows.append(row)
            found = paper.paper_values(variant, c.method, params.profile, published)
            if found:
                rows.append(
                    {"variant": variant, "method": c.method, "source": PAPER, "seeds": math.nan}
                    | {col: found.get(col, math.nan) for col in MAIN_METRICS}
                )
        for col in ("acc", "acc_original", "ood_auroc"):
            own = [(i, rows[i][col]) for i in range(first, len(rows)) if rows[i]["source"] == THIS_RUN]
            vals = [v for _, v in own if isinstance(v, float) and not math.isnan(v)]
            if len(vals) > 1:
                emphasis |= {(i, col) for i, v in own if v == max(vals)}
    frame = pd.DataFrame(rows, columns=["variant", "method", "source", "seeds", *MAIN_METRICS])
    note = (
        "published values are shown as rows labelled 'paper'"
        if paper.sources(published)
        else "no published value is recorded for these settings, so every row is this run"
    )
    caption = (
        f"Test accuracy against two label sets ({LABELS_NOTE}); mean test {UNITS_NOTE}; AUROC of epistemic "
        f"uncertainty for OOD detection (test = 0, OOD = 1); rows excluded from every metric because the "
        f"model had none of its inputs (test and OOD split). Profile {params.profile}; {seeds_note(seeds)}; "
        f"best mean per variant in bold; {note}."
    )
    return Table("main", frame, caption, emphasis, sd, n, len(seeds))


def wide_table(
    name: str,
    params: Params,
    results: list[RunResult],
    section: str,
    metric: str,
    what: str,
    bold_max: bool,
) -> Table:
    """Method rows x variant columns of one metric (mean over seeds); the best per variant in bold
    where higher is better."""
    by_cell = {(c.method, c.variant.name): c for c in cells(results)}
    sd: dict[tuple[int, str], float] = {}
    n: dict[tuple[int, str], int] = {}
    rows = []
    for i, m in enumerate(params.run.all_methods()):
        row: list[object] = [m]
        for v in params.run.variants:
            cell = by_cell.get((m, v))
            row.append(_put(sd, n, i, v, cell.stat(section, metric)) if cell else math.nan)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["method", *params.run.variants])
    emphasis: set[tuple[int, str]] = set()
    for v in params.run.variants if bold_max else ():
        col = frame[v].dropna()
        if len(col) > 1:
            emphasis |= {(int(i), v) for i in col.index[col == col.max()]}
    best = "; best mean per variant in bold" if bold_max else ""
    seeds = seeds_of(results)
    caption = (
        f"{what} per method (rows) and variant (columns); profile {params.profile}; this run, "
        f"{seeds_note(seeds)}{best}."
    )
    return Table(name, frame, caption, emphasis, sd, n, len(seeds))


def _context(r: RunResult | Cell) -> dict[str, object]:
    metrics = (r.runs[0] if isinstance(r, Cell) else r).metrics
    return {
        "variant": r.variant.name,
        "base": r.variant.base,
        "family": r.variant.family,
        "sweep": r.variant.sweep or "",
        "level": r.variant.level if r.variant.level is not None else math.nan,
        "method": r.method,
        "kind": str(metrics.get("kind", "")),
        "modalities": "+".join(metrics.get("modalities") or []),
    }


def long_frame(results: list[RunResult]) -> pd.DataFrame:
    """Every metric of every run, one row per (variant, method, seed), for analysis in any tool."""
    rows = []
    for r in results:
        row = _context(r)
        row["seed"] = seed_of(r)
        data_seed = r.metrics.get("data_seed")
        row["data_seed"] = data_seed if isinstance(data_seed, int) else math.nan
        row.update({k.replace("/", "_"): v for k, v in flat_metrics(r).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def summary_frame(results: list[RunResult]) -> pd.DataFrame:
    """One row per (variant, method): `<metric>_mean`, `<metric>_sd` (ddof = 1) and `<metric>_n` over seeds."""
    rows = []
    for c in cells(results):
        row = _context(c)
        row["n_seeds"] = len(c.runs)
        row["seeds"] = " ".join(str(s) for s in c.seeds)
        for k, s in c.flat().items():
            key = k.replace("/", "_")
            row |= {f"{key}_mean": s.mean, f"{key}_sd": s.sd, f"{key}_n": s.n}
        rows.append(row)
    return pd.DataFrame(rows)


def _dvc_flat(values: dict[str, float]) -> dict[str, float]:
    return {
        k.replace("/", "_"): v
        for k, v in values.items()
        if k.split("/")[0] in ("test", "ood", "per_modality") and math.isfinite(v)
    }


def dvc_metrics(results: list[RunResult]) -> dict[str, dict[str, float | int]]:
    """DVC metrics: `variant/method` holds the mean over seeds (`test_acc`), its sd (`test_acc_sd`,
    two seeds or more) and `n_seeds`; `variant/method/seed-S` holds that seed's own values.

    Finite test, OOD and per-modality metrics only; training time is left out so that `dvc metrics
    diff` shows changes in results, not in wall time. Keys are sorted on writing (deterministic).
    """
    out: dict[str, dict[str, float | int]] = {}
    for c in cells(results):
        flat = c.flat()
        agg: dict[str, float | int] = dict(_dvc_flat({k: s.mean for k, s in flat.items()}))
        agg |= {f"{k}_sd": v for k, v in _dvc_flat({k: s.sd for k, s in flat.items()}).items()}
        agg["n_seeds"] = len(c.runs)
        out[c.key] = dict(sorted(agg.items()))
        for r in c.runs:
            out[f"{c.key}/{seed_name(seed_of(r))}"] = dict(sorted(_dvc_flat(flat_metrics(r)).items()))
    return out


def build(params: Params, results: list[RunResult], published: tuple[paper.PaperValue, ...]) -> list[Table]:
    tables = [
        main_table(params, results, published),
        wide_table(
            "accuracy",
            params,
            results,
            "test",
            "acc",
            "Test accuracy against the variant labels (after switching)",
            True,
        ),
        wide_table(
            "accuracy_original",
            params,
            results,
            "test",
            "acc_original",
            "Test accuracy against the original labels (the items' true classes)",
            True,
        ),
        wide_table("ood_auroc", params, results, "ood", "auroc_epistemic", "OOD AUROC of epistemic uncertainty", True),
        wide_table("epistemic", params, results, "test", "epistemic", "Mean epistemic uncertainty (test, nats)", False),
        wide_table("aleatoric", params, results, "test", "aleatoric", "Mean aleatoric uncertainty (test, nats)", False),
    ]
    if any(math.isfinite(r.value("test", "vacuity")) for r in results):
        tables.append(
            wide_table(
                "vacuity",
                params,
                results,
                "test",
                "vacuity",
                "Mean vacuity K/S (test, unitless; evidential methods only, empty for the others)",
                False,
            )
        )
    return tables


# ---------------------------------------------------------------- rendering
def fmt(value: object, count: bool = False) -> str:
    """A number with 3 decimals (counts as integers); a missing value is an empty string."""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if count:
            return f"{value:.0f}" if value.is_integer() else f"{value:.1f}"
        return f"{value:.3f}"
    return str(value)


def cell_text(table: Table, i: int, col: str, value: object, pm: str = " ± ") -> str:
    """ "mean ± sd" (sd only with two seeds or more), plus "(n=k)" where fewer seeds than the run's gave a value."""
    count = col in COUNT_COLUMNS
    text = fmt(value, count)
    if not text:
        return text
    sd = table.sd.get((i, col))
    if sd is not None and not (count and sd == 0.0):
        text += pm + (fmt(sd, count) if count else f"{sd:.3f}")
    k = table.n.get((i, col))
    if k is not None and 0 < k < table.seeds:
        text += f" (n={k})"
    return text


def _header(col: str, latex: bool = False, own: dict[str, str] | None = None) -> str:
    if own and col in own:
        return latex_escape(own[col]) if latex else own[col]
    if latex and col in LATEX_HEADERS:
        return LATEX_HEADERS[col]
    header = HEADERS.get(col, col)
    return latex_escape(header) if latex else header


def _numeric(table: Table, col: str) -> bool:
    return pd.api.types.is_float_dtype(table.frame[col])


def to_markdown(table: Table) -> str:
    cols = list(table.frame.columns)
    lines = [
        "| " + " | ".join(_header(c, own=table.headers) for c in cols) + " |",
        "|" + "|".join("---:" if _numeric(table, c) else ":---" for c in cols) + "|",
    ]
    for i, row in enumerate(table.frame.itertuples(index=False)):
        cells_ = []
        for c, v in zip(cols, row, strict=True):
            text = cell_text(table, i, c, v).replace("|", r"\|")
            cells_.append(f"**{text}**" if text and (i, c) in table.emphasis else text)
        lines.append("| " + " | ".join(cells_) + " |")
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
    "−": "--",
    "±": r"$\pm$",
    "σ": r"$\sigma$",
    "²": r"$^2$",
    "η": r"$\eta$",
    "∞": r"$\infty$",
    "↑": r"$\uparrow$",
    "→": r"$\rightarrow$",
    "×": r"$\times$",
    "α": r"$\alpha$",
    "θ": r"$\theta$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    """A booktabs table (needs \\usepackage{booktabs}); a rule separates variants in the main table."""
    cols = list(table.frame.columns)
    spec = "".join("r" if _numeric(table, c) else "l" for c in cols)
    out = [
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{latex_escape(table.caption)}}}",
        f"\\label{{tab:lumabench-{table.name.replace('_', '-')}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(_header(c, latex=True, own=table.headers) for c in cols) + " \\\\",
        "\\midrule",
    ]
    previous = None
    for i, row in enumerate(table.frame.itertuples(index=False)):
        values = dict(zip(cols, row, strict=True))
        if "variant" in values and previous is not None and values["variant"] != previous:
            out.append("\\midrule")
        cells_ = []
        for c in cols:
            text = latex_escape(cell_text(table, i, c, values[c]))
            if c == "variant" and values[c] == previous:
                text = ""
            cells_.append(f"\\textbf{{{text}}}" if text and (i, c) in table.emphasis else text)
        previous = values.get("variant")
        out.append(" & ".join(cells_) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(out) + "\n"


def to_html(table: Table) -> str:
    cols = list(table.frame.columns)
    head = "".join(f"<th>{html.escape(_header(c, own=table.headers))}</th>" for c in cols)
    body = []
    for i, row in enumerate(table.frame.itertuples(index=False)):
        values = dict(zip(cols, row, strict=True))
        css = ' class="paper"' if values.get("source") == PAPER else ""
        cells_ = []
        for c in cols:
            text = html.escape(cell_text(table, i, c, values[c]))
            if text and (i, c) in table.emphasis:
                text = f"<strong>{text}</strong>"
            cells_.append(f'<td class="num">{text}</td>' if _numeric(table, c) else f"<td>{text}</td>")
        body.append(f"<tr{css}>{''.join(cells_)}</tr>")
    return (
        f'<table id="table-{html.escape(table.name)}"><caption>{html.escape(table.caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def csv_frame(table: Table) -> pd.DataFrame:
    """The means at full precision, each numeric column followed by its sd column (`<col>_sd`)."""
    out = pd.DataFrame(index=table.frame.index)
    aggregated = {col for _, col in table.n}
    for c in table.frame.columns:
        out[c] = table.frame[c]
        if c in aggregated:
            out[f"{c}_sd"] = [table.sd.get((i, c), math.nan) for i in range(len(table.frame))]
    return out


def write(tables: list[Table], long: pd.DataFrame, summary: pd.DataFrame, out_dir: Path) -> None:
    """CSV (full precision, with sd columns) + Markdown + LaTeX for each table; the per-seed table
    (`results.csv`) and the per-cell aggregate (`results_summary.csv`) as CSV only."""
    for t in tables:
        write_text(out_dir / f"{t.name}.csv", csv_frame(t).to_csv(index=False, lineterminator="\n"))
        write_text(out_dir / f"{t.name}.md", f"{t.caption}\n\n{to_markdown(t)}")
        write_text(out_dir / f"{t.name}.tex", to_latex(t))
    write_text(out_dir / "results.csv", long.to_csv(index=False, lineterminator="\n"))
    write_text(out_dir / "results_summary.csv", summary.to_csv(index=False, lineterminator="\n"))
