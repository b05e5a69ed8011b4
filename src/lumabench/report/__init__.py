"""Stage 8 `lumabench report`: tables, figures, DVC metrics/plots, HTML report and MLflow runs."""

from __future__ import annotations

from lumabench.report.build import Outcome, run

__all__ = ["Outcome", "run"]
