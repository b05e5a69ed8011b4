"""Write dvc.yaml's top-level `plots` from the grid in params.yaml (`make dvc-plots`).

DVC cannot derive a plot's y columns from a list of methods, so the section names each variant's
curve file and the methods the grid runs on it. Generated here from `run` (through
report.plotdata.dvc_plot_definitions), it never names a method or variant the run does not write:
`dvc plots show` then draws every curve without warnings. Rerun it after changing `run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from lumabench.io import write_text
from lumabench.params import Params, load_params

TABLES = "results/${profile}/tables"
HEADER = """plots:
  # every figure of the report (PNG)
  - results/${profile}/figures
  # curves generated from params.yaml `run` by `make dvc-plots` (lumabench.dvcplots): OOD ROC per
  # variant, accuracy and uncertainty against each sweep's level, one line per method of the grid
"""


def plot_entries(params: Params) -> list[dict[str, Any]]:
    """The generated entries of the `plots` section (the figures folder comes first, in HEADER)."""
    from lumabench.report.plotdata import dvc_plot_definitions

    return dvc_plot_definitions(params, TABLES)


def render(text: str, params: Params) -> str:
    """`text` (a dvc.yaml) with its top-level `plots` section, which must come last, regenerated."""
    start = text.find("\nplots:\n")
    if start < 0:
        raise ValueError("dvc.yaml has no top-level `plots:` section")
    body = yaml.safe_dump(plot_entries(params), sort_keys=False, width=120, allow_unicode=True)
    return text[: start + 1] + HEADER + "".join(f"  {line}\n" if line else "\n" for line in body.splitlines())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--dvc-yaml", default="dvc.yaml")
    ap.add_argument("--check", action="store_true", help="exit 1 if the section is out of date, write nothing")
    args = ap.parse_args(argv)
    path = Path(args.dvc_yaml)
    old = path.read_text("utf-8")
    new = render(old, load_params(args.params))
    if args.check:
        return int(new != old)
    if new != old:
        write_text(path, new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
