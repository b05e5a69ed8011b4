"""Published LUMA results to show beside this run's numbers, labelled "paper".

Only values copied from a cited source belong in `PUBLISHED`; the project's reference notes
(LUMA-SPEC) give none, so the table is empty and the report says so instead of guessing. Adding a
value = one `PaperValue` with its source; the tables then show it next to the matching run cell.
"""

from __future__ import annotations

from dataclasses import dataclass

# metrics a paper value may give, named as the report's table columns
PAPER_METRICS = ("acc", "aleatoric", "epistemic", "ood_auroc")


@dataclass(frozen=True)
class PaperValue:
    """One published number: the variant and method it was measured on, and where it is printed."""

    variant: str
    method: str
    metric: str
    value: float
    source: str
    profile: str = "full"


PUBLISHED: tuple[PaperValue, ...] = ()


def paper_values(
    variant: str, method: str, profile: str, published: tuple[PaperValue, ...] = PUBLISHED
) -> dict[str, float]:
    """The published metrics for exactly this setting (same variant, method and profile)."""
    return {
        p.metric: p.value
        for p in published
        if p.variant == variant and p.method == method and p.profile == profile and p.metric in PAPER_METRICS
    }


def sources(published: tuple[PaperValue, ...] = PUBLISHED) -> list[str]:
    return sorted({p.source for p in published})
