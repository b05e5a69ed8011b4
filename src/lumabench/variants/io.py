"""Read a built variant back (plain pandas; the files need no project code to load)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lumabench.io import read_parquet
from lumabench.schemas import VARIANT_ROWS

SPLITS = ("train", "test", "ood")


def load_variant(path: str | Path) -> dict[str, pd.DataFrame]:
    """{split: DataFrame} of a variant directory, each checked against VARIANT_ROWS."""
    path = Path(path)
    fix = f"run `lumabench variants -v {path.name}`"
    return {s: read_parquet(path / f"{s}.parquet", VARIANT_ROWS, fix).to_pandas() for s in SPLITS}
